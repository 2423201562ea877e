package privacy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
)

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{
		"  Ann.Lee@Example.ORG ":  "Ann.Lee@example.org",
		"bob+tag@sub.example.net": "bob+tag@sub.example.net",
		"o'neil@example.ie":       "o'neil@example.ie",
		"ann@Bücher.example":      "ann@bücher.example",
	}
	for in, want := range ok {
		got, err := privacy.NormalizeEmail(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	bad := []string{"", "plain", "@example.org", "ann@", "ann@localhost", "Ann <ann@example.org>",
		"ann@example.org\r\nBcc: x@example.net", "ann @example.org", "ann@exa mple.org", "a\x00@example.org",
		"ann@example..org", "ann@.example.org", "ann@example.org.", "ann(comment)@example.org",
		"ann@example.org,bob@example.org", string([]byte{0xff, '@', 'a', '.', 'b'}),
		"x@" + string(make([]byte, 260)), "ann@exam_ple.org",
		"ann\u200b@example.org", "ann@exa\u202eelpmaxe.org", "ann@example.org\u00ad", "ann@-example-.org", "ann@xn--.org"}
	for _, in := range bad {
		_, err := privacy.NormalizeEmail(in)
		require.ErrorIs(t, err, privacy.ErrInvalid, "%q", in)
		assert.Equal(t, "email", privacy.FieldOf(err))
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.org", " A@B.CO ", "a\r\n@b.c", "\"q\"@x.y", "a@b@c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := privacy.NormalizeEmail(s)
		if err != nil {
			if !errors.Is(err, privacy.ErrInvalid) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		again, err := privacy.NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || r == ' ' {
				t.Fatalf("control or space in %q", got)
			}
		}
	})
}

func TestCheckText(t *testing.T) {
	assert.NoError(t, privacy.CheckText("name", "Zoë", 10, true))
	assert.ErrorIs(t, privacy.CheckText("name", "  ", 10, true), privacy.ErrInvalid)
	assert.NoError(t, privacy.CheckText("name", "", 10, false))
	assert.ErrorIs(t, privacy.CheckText("name", "abcdefghijk", 10, false), privacy.ErrInvalid)
	assert.NoError(t, privacy.CheckText("name", "ëëëëëëëëëë", 10, false), "the limit counts characters, not bytes")
	assert.ErrorIs(t, privacy.CheckText("name", "a\nb", 10, false), privacy.ErrInvalid)
	assert.ErrorIs(t, privacy.CheckText("name", "a\u2028b", 10, false), privacy.ErrInvalid)
	assert.ErrorIs(t, privacy.CheckText("name", "\xff", 10, false), privacy.ErrInvalid)
	assert.ErrorIs(t, privacy.CheckText("name", "evil\u202egnp.exe", 20, false), privacy.ErrInvalid)
	assert.NoError(t, privacy.CheckMultiline("message", "line 1\r\nline 2\ttab", 100, true))
	err := privacy.CheckMultiline("message", "nul\x00", 100, true)
	assert.ErrorIs(t, err, privacy.ErrInvalid)
	assert.Equal(t, "message", privacy.FieldOf(err))
}

func TestActorAndAuditor(t *testing.T) {
	ctx := context.Background()
	log := memstore.New()
	au := &privacy.Auditor{Log: log, Now: func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }}

	err := au.Record(ctx, privacy.RoleSupport, "ann@example.org", "contact request", "answering")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)

	mod := privacy.WithActor(ctx, privacy.Actor{ID: "7", Email: "mod@example.com", Roles: []privacy.Role{privacy.RoleModerator}})
	err = au.Record(mod, privacy.RoleSupport, "ann@example.org", "contact request", "answering")
	assert.ErrorIs(t, err, privacy.ErrForbidden)

	admin := privacy.WithActor(ctx, privacy.Actor{ID: "1", Email: "boss@example.com", Roles: []privacy.Role{privacy.RoleAdmin}})
	require.NoError(t, au.Record(admin, privacy.RoleSupport, "ann@example.org", "contact request K7Q4-M2XH", "answering"))

	recs, err := log.ListAccess(ctx, privacy.AccessFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1, "refused reads leave no record, allowed ones do")
	assert.Equal(t, "boss@example.com", recs[0].Actor)
	assert.Equal(t, privacy.RoleSupport, recs[0].Role)
	assert.Equal(t, "ann@example.org", recs[0].Subject)
	assert.True(t, privacy.ActorFrom(ctx).Anonymous())
}

func TestConsents(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	c := &privacy.Consents{Store: store, Policy: mailtest.Policy()}
	_, err := c.Record(ctx, "Ann@Example.org", privacy.Purpose("newsletter"), true, "newsletter-form")
	require.NoError(t, err)
	on, err := c.Current(ctx, "Ann@example.org", privacy.Purpose("newsletter"))
	require.NoError(t, err)
	assert.True(t, on)
	_, err = c.Record(ctx, "Ann@example.org", privacy.Purpose("newsletter"), false, "unsubscribe-link")
	require.NoError(t, err)
	on, err = c.Current(ctx, "Ann@example.org", privacy.Purpose("newsletter"))
	require.NoError(t, err)
	assert.False(t, on, "a withdrawal is the latest word")
	hist, err := store.ConsentHistory(ctx, "Ann@example.org")
	require.NoError(t, err)
	require.Len(t, hist, 2, "a withdrawal appends; the grant stays in the history")
	assert.Equal(t, "2026-11-01", hist[0].PolicyVersion)

	_, err = c.Record(ctx, "ann@example.org", "Marketing!", true, "form")
	assert.ErrorIs(t, err, privacy.ErrInvalid, "not a purpose name")
}

type holder struct {
	name string
	cats []string
	data map[string]string
}

func (h *holder) Contract() privacy.Contract {
	c := privacy.Contract{Name: h.name}
	for _, n := range h.cats {
		c.Categories = append(c.Categories, privacy.Category{Name: n, Description: n + " you gave us"})
	}
	return c
}
func (h *holder) Export(_ context.Context, s string) (any, error) {
	if v, ok := h.data[s]; ok {
		return v, nil
	}
	return nil, nil
}
func (h *holder) Erase(_ context.Context, s string) (privacy.Erasure, error) {
	if _, ok := h.data[s]; !ok {
		return privacy.Erasure{}, nil
	}
	delete(h.data, s)
	return privacy.Erasure{Removed: 1}, nil
}

// contractHolder is a holder of nothing but its contract.
type contractHolder privacy.Contract

func (c contractHolder) Contract() privacy.Contract { return privacy.Contract(c) }

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	var r privacy.Registry
	r.Register(&holder{name: "guestbook", cats: []string{"guestbook-entries"}, data: map[string]string{"a@example.org": "an entry"}})
	r.Register(&holder{name: "orders", cats: []string{"orders", "invoices"}, data: map[string]string{"a@example.org": "an order"}})
	require.NoError(t, r.Check())
	assert.Equal(t, []string{"guestbook-entries", "orders", "invoices"}, categoryNames(r.Categories()), "in the order registered")

	exp, err := r.Export(ctx, "a@example.org")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"orders": "an order", "guestbook": "an entry"}, exp)
	res, err := r.Erase(ctx, "a@example.org")
	require.NoError(t, err)
	assert.Equal(t, []privacy.Erasure{{Holder: "guestbook", Removed: 1}, {Holder: "orders", Removed: 1}}, res, "sorted by holder")
	exp, err = r.Export(ctx, "a@example.org")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"orders": nil, "guestbook": nil}, exp)
}

func categoryNames(cs []privacy.Category) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestRegistryCheck(t *testing.T) {
	allow := privacy.AllowFunc(anyone)
	for _, tc := range []struct {
		name  string
		setup func(r *privacy.Registry)
		want  string
	}{
		{"ErrCategoryTwice", func(r *privacy.Registry) {
			r.Register(&holder{name: "guestbook", cats: []string{"entries"}})
			r.Register(&holder{name: "orders", cats: []string{"entries"}})
		}, `holder orders keeps category "entries", which holder guestbook keeps too`},
		{"ErrHolderTwice", func(r *privacy.Registry) {
			r.Register(&holder{name: "guestbook"})
			r.Register(&holder{name: "guestbook"})
		}, `holder "guestbook" is unnamed or registered twice`},
		{"ErrNoDescription", func(r *privacy.Registry) {
			r.Register(contractHolder{Name: "guestbook", Categories: []privacy.Category{{Name: "entries"}}})
		}, `does not describe category "entries"`},
		{"ErrRetentionWithoutPurge", func(r *privacy.Registry) {
			r.Register(contractHolder{Name: "guestbook", Categories: []privacy.Category{{Name: "entries", Description: "entries", Retention: 24 * time.Hour}}})
		}, `keeps category "entries" for 1 day, but purges nothing`},
		{"ErrPurposeWithoutAllower", func(r *privacy.Registry) {
			r.Register(contractHolder{Name: "guestbook", Purposes: []privacy.PurposeUse{{Purpose: privacy.Purpose("support"), Description: "to answer"}}})
		}, `declares purpose "support" without an Allower`},
		{"ErrPurposeTwice", func(r *privacy.Registry) {
			r.Register(contractHolder{Name: "guestbook", Purposes: []privacy.PurposeUse{{Purpose: privacy.Purpose("support"), Description: "to answer", Allower: allow}}})
			r.Register(contractHolder{Name: "orders", Purposes: []privacy.PurposeUse{{Purpose: privacy.Purpose("support"), Description: "to answer", Allower: allow}}})
		}, `holder orders declares purpose "support", which holder guestbook declares too`},
		{"ErrMalformedPurpose", func(r *privacy.Registry) {
			r.Register(contractHolder{Name: "guestbook", Purposes: []privacy.PurposeUse{{Purpose: "Gossip Mail", Description: "to gossip", Allower: allow}}})
		}, `declares purpose "Gossip Mail": a purpose is 1 to 64 lower-case letters`},
		{"ErrMailerPurposeUndeclared", func(r *privacy.Registry) {
			r.Mailer = privacy.NewMailer(mailtest.Policy(), memstore.New(), nil)
			r.Mailer.Allow(privacy.Purpose("support"), allow)
		}, `the mailer sends mail for purpose "support", which no registered holder declares`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r privacy.Registry
			tc.setup(&r)
			err := r.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAgeGate(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, in := range []string{"2013-11-29", "29/11/2013", "29.11.2013", "29 November 2013", "November 29, 2013"} {
		d, err := privacy.ParseBirthDate(in, now)
		require.NoError(t, err, in)
		assert.False(t, privacy.IsChild(d, now), "%s: 13 today", in)
	}
	d, err := privacy.ParseBirthDate("2013-11-30", now)
	require.NoError(t, err)
	assert.True(t, privacy.IsChild(d, now), "13 tomorrow")
	for _, in := range []string{"", "yesterday", "2030-01-01", "1800-01-01", "31/02/2000"} {
		_, err := privacy.ParseBirthDate(in, now)
		require.ErrorIs(t, err, privacy.ErrInvalid, in)
		assert.Equal(t, "birth_date", privacy.FieldOf(err))
	}
}

func TestPolicyValidate(t *testing.T) {
	p := mailtest.Policy()
	require.NoError(t, p.Validate())
	p.Contact = "privacy@elsewhere.example.net"
	p.Version = ""
	err := p.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "operator domains")
	assert.Contains(t, err.Error(), "version")
	assert.True(t, mailtest.Policy().IsOperatorAddress("Support@EXAMPLE.com"))
	assert.False(t, mailtest.Policy().IsOperatorAddress("support@example.com.evil.example.net"))
}
