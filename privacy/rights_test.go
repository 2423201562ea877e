package privacy_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
)

var linkToken = regexp.MustCompile(`\?t=([A-Za-z0-9_%-]+)`)

func tokenFrom(t *testing.T, m mailtest.Message) string {
	t.Helper()
	match := linkToken.FindStringSubmatch(m.Text)
	require.NotNil(t, match, "no link in %q", m.Text)
	tok, err := url.QueryUnescape(match[1])
	require.NoError(t, err)
	return tok
}

type rightsEnv struct {
	h      *mailtest.Harness
	store  *memstore.Store
	rights *privacy.Rights
	reg    *privacy.Registry
	data   *holder
	now    time.Time
}

func newRightsEnv(t *testing.T) *rightsEnv {
	store := memstore.New()
	h := mailtest.NewHarness(t, nil, store)
	e := &rightsEnv{h: h, store: store, reg: &privacy.Registry{}, now: time.Now().UTC()}
	e.data = &holder{name: "guestbook", cats: []string{"guestbook-entries"}, data: map[string]string{"ann@example.org": "Nice post"}}
	e.reg.Register(e.data)
	e.reg.Register(&privacy.KernelHolder{Store: store, Key: []byte("k")})
	e.rights = &privacy.Rights{Store: store, Registry: e.reg, Mailer: h.Mailer, BaseURL: "http://127.0.0.1:8080/privacy/confirm",
		Now: func() time.Time { return e.now }}
	h.Mailer.Allow(privacy.PurposeDataRights, e.rights)
	return e
}

func TestRightsExport(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	_, err := (&privacy.Consents{Store: e.store, Policy: mailtest.Policy()}).Record(ctx, "ann@example.org", privacy.Purpose("newsletter"), true, "form")
	require.NoError(t, err)

	require.NoError(t, e.rights.Ask(ctx, " ann@example.org ", privacy.RequestExport))
	msgs := e.h.Server.Wait(1, 5*time.Second)
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"ann@example.org"}, msgs[0].To)
	tok := tokenFrom(t, msgs[0])

	pending, err := e.rights.Pending(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, privacy.RequestExport, pending.Kind)

	out, err := e.rights.Confirm(ctx, tok)
	require.NoError(t, err)
	require.NotEmpty(t, out.DownloadToken)
	_, err = e.rights.Confirm(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrGone, "a confirmation link works once")

	body, err := e.rights.Download(ctx, out.DownloadToken)
	require.NoError(t, err)
	var doc struct {
		Subject string                     `json:"subject"`
		Holders map[string]json.RawMessage `json:"holders"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, "ann@example.org", doc.Subject)
	assert.JSONEq(t, `"Nice post"`, string(doc.Holders["guestbook"]))
	assert.Contains(t, string(doc.Holders["privacy"]), `"purpose": "newsletter"`, "the consent history is in the export")

	_, err = e.rights.Download(ctx, out.DownloadToken)
	assert.ErrorIs(t, err, privacy.ErrGone, "a download link works once")
	ev, err := e.store.RightsEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, ev, 1)
	assert.Equal(t, privacy.RequestExport, ev[0].Kind)
}

func TestRightsDownloadExpires(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestExport))
	tok := tokenFrom(t, e.h.Server.Wait(1, 5*time.Second)[0])
	out, err := e.rights.Confirm(ctx, tok)
	require.NoError(t, err)
	e.now = e.now.Add(2 * time.Hour)
	_, err = e.rights.Download(ctx, out.DownloadToken)
	assert.ErrorIs(t, err, privacy.ErrGone)
}

func TestRightsErase(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	auditor := &privacy.Auditor{Log: e.store}
	staff := privacy.WithActor(ctx, privacy.Actor{ID: "9", Email: "help@example.com", Roles: []privacy.Role{privacy.RoleSupport}})
	require.NoError(t, auditor.Record(staff, privacy.RoleSupport, "ann@example.org", "comment", "moderation"))

	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestErase))
	tok := tokenFrom(t, e.h.Server.Wait(1, 5*time.Second)[0])
	out, err := e.rights.Confirm(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, privacy.RequestErase, out.Kind)
	byHolder := map[string]privacy.Erasure{}
	for _, er := range out.Erasures {
		byHolder[er.Holder] = er
	}
	assert.Equal(t, 1, byHolder["guestbook"].Removed)
	assert.NotEmpty(t, byHolder["privacy"].Retained, "the access record is kept, pseudonymised, and the person is told")

	assert.Empty(t, e.data.data, "the holder erased its data")
	exp, err := e.reg.Export(ctx, "ann@example.org")
	require.NoError(t, err)
	for name, v := range exp {
		assert.Nil(t, v, "%s still holds something", name)
	}
	acc, err := e.store.ListAccess(ctx, privacy.AccessFilter{})
	require.NoError(t, err)
	require.Len(t, acc, 1)
	assert.Regexp(t, `^erased-[0-9a-f]{24}$`, acc[0].Subject)

	// The request itself is gone: the guard no longer lets data-rights mail through.
	_, err = e.h.Mailer.Send(ctx, privacy.Message{Purpose: privacy.PurposeDataRights, DataSubject: "ann@example.org",
		To: privacy.Address{Email: "ann@example.org"}, Subject: "x", Text: "y"})
	assert.ErrorIs(t, err, privacy.ErrRefused)
}

func TestRightsAskValidation(t *testing.T) {
	e := newRightsEnv(t)
	err := e.rights.Ask(context.Background(), "not an address", privacy.RequestExport)
	assert.Equal(t, "email", privacy.FieldOf(err))
	err = e.rights.Ask(context.Background(), "ann@example.org", "sell")
	assert.Equal(t, "kind", privacy.FieldOf(err))
	_, err = e.rights.Confirm(context.Background(), "forged")
	assert.ErrorIs(t, err, privacy.ErrGone)
}

func TestDisclosures(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	reg := &privacy.Registry{}
	reg.Register(&holder{name: "guestbook", cats: []string{"guestbook-entries"}, data: map[string]string{"ann@example.org": "Nice post"}})
	ds := &privacy.Disclosures{Store: store, Registry: reg, Auditor: &privacy.Auditor{Log: store}}
	admin := privacy.WithActor(ctx, privacy.Actor{ID: "1", Email: "boss@example.com", Roles: []privacy.Role{privacy.RoleAdmin}})
	support := privacy.WithActor(ctx, privacy.Actor{ID: "2", Email: "help@example.com", Roles: []privacy.Role{privacy.RoleSupport}})
	good := privacy.Disclosure{Subject: "ann@example.org", Basis: privacy.BasisLegalProcess, Reference: "Order 2026/77", Requester: "County Court"}

	_, err := ds.Disclose(support, good)
	assert.ErrorIs(t, err, privacy.ErrForbidden)
	for field, mutate := range map[string]func(d *privacy.Disclosure){
		"basis":     func(d *privacy.Disclosure) { d.Basis = "" },
		"reference": func(d *privacy.Disclosure) { d.Reference = " " },
		"requester": func(d *privacy.Disclosure) { d.Requester = "" },
		"subject":   func(d *privacy.Disclosure) { d.Subject = "nobody" },
	} {
		d := good
		mutate(&d)
		_, err := ds.Disclose(admin, d)
		require.ErrorIs(t, err, privacy.ErrInvalid, field)
		assert.Equal(t, field, privacy.FieldOf(err))
	}
	list, err := ds.List(admin, "", 10)
	require.NoError(t, err)
	assert.Empty(t, list, "refused disclosures leave no record")

	data, err := ds.Disclose(admin, good)
	require.NoError(t, err)
	assert.Contains(t, string(data), "Nice post")
	list, err = ds.List(admin, "", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, privacy.BasisLegalProcess, list[0].Basis)
	assert.Equal(t, "boss@example.com", list[0].Actor)
	assert.Equal(t, 1, list[0].Holders)
	acc, err := store.ListAccess(ctx, privacy.AccessFilter{Subject: "ann@example.org"})
	require.NoError(t, err)
	require.Len(t, acc, 2, "the export for a disclosure and the view of the register naming her are staff reads on the record")
	assert.Equal(t, "disclosure register", acc[0].What)
	assert.Equal(t, "export for disclosure", acc[1].What)
	_, err = ds.List(support, "", 10)
	assert.ErrorIs(t, err, privacy.ErrForbidden)
}

// TestDisclosuresNeedAuditor: without an Auditor the register neither discloses nor
// lists, and records nothing, so no admin reads anyone's data off the record (P11).
func TestDisclosuresNeedAuditor(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	reg := &privacy.Registry{}
	reg.Register(&holder{name: "comments", cats: []string{"comments"}, data: map[string]string{"ann@example.org": "Nice post"}})
	admin := privacy.WithActor(ctx, privacy.Actor{ID: "1", Email: "boss@example.com", Roles: []privacy.Role{privacy.RoleAdmin}})
	for name, ds := range map[string]*privacy.Disclosures{
		"NoAuditor":    {Store: store, Registry: reg},
		"AuditorNoLog": {Store: store, Registry: reg, Auditor: &privacy.Auditor{}},
	} {
		t.Run(name, func(t *testing.T) {
			err := ds.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Auditor")
			data, err := ds.Disclose(admin, privacy.Disclosure{Subject: "ann@example.org", Basis: privacy.BasisLaw, Reference: "R1", Requester: "Court"})
			require.Error(t, err)
			assert.Nil(t, data)
			_, err = ds.List(admin, "", 10)
			require.Error(t, err)
			list, err := store.ListDisclosures(ctx, "", 10)
			require.NoError(t, err)
			assert.Empty(t, list, "nothing disclosed")
		})
	}
	assert.NoError(t, (&privacy.Disclosures{Store: store, Registry: reg, Auditor: &privacy.Auditor{Log: store}}).Check())
}

type purger struct {
	holder
	runs int
}

func (p *purger) Purge(context.Context, time.Time) (int, error) { p.runs++; return 3, nil }

func TestRetentionOneAtATime(t *testing.T) {
	ctx := context.Background()
	reg := &privacy.Registry{}
	p := &purger{holder: holder{name: "x"}}
	reg.Register(p)
	locker := &privacy.LocalLocker{}
	a := &privacy.Retention{Registry: reg, Locker: locker}
	removed, ran, err := a.RunOnce(ctx)
	require.NoError(t, err)
	assert.True(t, ran)
	assert.Equal(t, map[string]int{"x": 3}, removed)

	unlock, ok, err := locker.TryLock(ctx, "consentkit:retention")
	require.NoError(t, err)
	require.True(t, ok)
	_, ran, err = a.RunOnce(ctx)
	require.NoError(t, err)
	assert.False(t, ran, "another process holds the lock: skip this round")
	unlock()
	assert.Equal(t, 1, p.runs)
}

// TestRightsEraseLeavesNoAddress erases a person who is also a staff member and who
// has another request pending: the access records they wrote stay, naming a
// pseudonym as actor, and no request of theirs is left (audit #13 finding 12).
func TestRightsEraseLeavesNoAddress(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	e.reg.Register(e.rights)
	auditor := &privacy.Auditor{Log: e.store}
	staff := privacy.WithActor(ctx, privacy.Actor{ID: "9", Email: "ann@example.org", Roles: []privacy.Role{privacy.RoleSupport}})
	for range 6 {
		require.NoError(t, auditor.Record(staff, privacy.RoleSupport, "bob@example.org", "contact request", "answering"))
	}
	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestExport))
	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestErase))
	msgs := e.h.Server.Wait(2, 5*time.Second)
	require.Len(t, msgs, 2)
	out, err := e.rights.Confirm(ctx, tokenFrom(t, msgs[1]))
	require.NoError(t, err)
	require.Equal(t, privacy.RequestErase, out.Kind)

	acc, err := e.store.ListAccess(ctx, privacy.AccessFilter{})
	require.NoError(t, err)
	require.Len(t, acc, 6, "the audit rows themselves are kept")
	for _, a := range acc {
		assert.Regexp(t, `^erased-[0-9a-f]{24}$`, a.Actor, "ID=%d", a.ID)
		assert.Equal(t, "bob@example.org", a.Subject, "ID=%d", a.ID)
	}
	pending, err := e.store.HasRequest(ctx, "ann@example.org", time.Time{})
	require.NoError(t, err)
	assert.False(t, pending, "the unconfirmed export request is erased too")
	_, err = e.rights.Pending(ctx, tokenFrom(t, msgs[0]))
	assert.ErrorIs(t, err, privacy.ErrGone)
}

// TestAccountErasureRemovesPendingRequests erases through the registry alone, as
// deleting an account does: Rights is an Eraser of the requests it holds.
func TestAccountErasureRemovesPendingRequests(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	e.reg.Register(e.rights)
	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestExport))
	res, err := e.reg.Erase(ctx, "ann@example.org")
	require.NoError(t, err)
	removed := map[string]int{}
	for _, r := range res {
		removed[r.Holder] = r.Removed
	}
	assert.Equal(t, 1, removed["data-requests"])
	pending, err := e.store.HasRequest(ctx, "ann@example.org", time.Time{})
	require.NoError(t, err)
	assert.False(t, pending)
}
