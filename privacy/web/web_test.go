package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/privacytest"
	"github.com/consentkit/consentkit/privacy/web"
)

type notes map[string]string

func (n notes) Contract() privacy.Contract {
	return privacy.Contract{Name: "notes", Categories: []privacy.Category{{Name: "notes", Description: "Notes you left"}},
		Sections: []privacy.Section{{Heading: privacy.SectionCollected, Text: "**Notes.** A note keeps your address."}}}
}
func (n notes) Export(_ context.Context, s string) (any, error) {
	if v, ok := n[s]; ok {
		return v, nil
	}
	return nil, nil
}
func (n notes) Erase(_ context.Context, s string) (privacy.Erasure, error) {
	_, ok := n[s]
	delete(n, s)
	if ok {
		return privacy.Erasure{Removed: 1}, nil
	}
	return privacy.Erasure{}, nil
}

type env struct {
	h     http.Handler
	mail  *mailtest.Harness
	store *memstore.Store
	data  notes
	reg   *privacy.Registry
}

func newEnv(t *testing.T, opts ...func(*web.Config)) *env {
	store := memstore.New()
	h := mailtest.NewHarness(t, nil, store)
	reg := &privacy.Registry{Mailer: h.Mailer}
	data := notes{"ann@example.org": "a note"}
	reg.Register(data)
	reg.Register(&privacy.KernelHolder{Store: store})
	rights := &privacy.Rights{Store: store, Registry: reg, Mailer: h.Mailer, BaseURL: "http://127.0.0.1:8080/privacy/confirm"}
	reg.Register(rights)
	cfg := web.Config{Policy: mailtest.Policy(), Rights: rights,
		Disclosures: &privacy.Disclosures{Store: store, Registry: reg, Auditor: &privacy.Auditor{Log: store}}, Store: store,
		Auditor: &privacy.Auditor{Log: store}}
	for _, o := range opts {
		o(&cfg)
	}
	hd, err := web.New(cfg)
	require.NoError(t, err)
	return &env{h: hd, mail: h, store: store, data: data, reg: reg}
}

func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func postForm(path string, v url.Values) *http.Request {
	r := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func as(r *http.Request, roles ...privacy.Role) *http.Request {
	return r.WithContext(privacy.WithActor(r.Context(), privacy.Actor{ID: "1", Email: "boss@example.com", Roles: roles}))
}

var tokenRE = regexp.MustCompile(`\?t=([A-Za-z0-9_-]+)`)

func TestPolicyPages(t *testing.T) {
	e := newEnv(t)
	w := e.do(httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "sets no cookies")
	assert.NoError(t, privacytest.CheckPolicyPage(w.Body.String(), mailtest.Policy(), e.reg))
	w = e.do(httptest.NewRequest("GET", "/policy.md", nil))
	assert.Equal(t, 200, w.Code)
	assert.True(t, strings.HasPrefix(w.Body.String(), "# Privacy policy"))
}

func TestExportFlow(t *testing.T) {
	e := newEnv(t)
	w := e.do(httptest.NewRequest("GET", "/request", nil))
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `<label for="email">`)

	w = e.do(postForm("/request", url.Values{"email": {"ann@example.org"}, "kind": {"export"}}))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	msgs := e.mail.Server.Wait(1, 5*time.Second)
	require.Len(t, msgs, 1)
	tok := tokenRE.FindStringSubmatch(msgs[0].Text)[1]

	for range 2 {
		w = e.do(httptest.NewRequest("GET", "/confirm?t="+tok, nil))
		require.Equal(t, 200, w.Code, "a GET (a link scanner) changes nothing")
		assert.Contains(t, w.Body.String(), "Prepare my copy")
	}
	w = e.do(postForm("/confirm", url.Values{"t": {tok}}))
	require.Equal(t, 200, w.Code, w.Body.String())
	dl := regexp.MustCompile(`href="/privacy/download\?t=([^"]+)"`).FindStringSubmatch(w.Body.String())
	require.NotNil(t, dl, w.Body.String())

	w = e.do(httptest.NewRequest("GET", "/download?t="+dl[1], nil))
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Header().Get("Content-Disposition"), "attachment")
	assert.Contains(t, w.Body.String(), "a note")
	w = e.do(httptest.NewRequest("GET", "/download?t="+dl[1], nil))
	assert.Equal(t, http.StatusGone, w.Code, "the download link works once")
}

func TestEraseFlowJSON(t *testing.T) {
	e := newEnv(t)
	r := httptest.NewRequest("POST", "/request", strings.NewReader(`{"email":"ann@example.org","kind":"erase"}`))
	r.Header.Set("Content-Type", "application/json")
	w := e.do(r)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	tok := tokenRE.FindStringSubmatch(e.mail.Server.Wait(1, 5*time.Second)[0].Text)[1]
	r = httptest.NewRequest("POST", "/confirm", strings.NewReader(`{"t":"`+tok+`"}`))
	r.Header.Set("Content-Type", "application/json")
	w = e.do(r)
	require.Equal(t, 200, w.Code, w.Body.String())
	var out struct {
		Erasures []privacy.Erasure `json:"erasures"`
		Complete bool              `json:"complete"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	assert.True(t, out.Complete)
	assert.Empty(t, e.data)
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t)
	w := e.do(postForm("/request", url.Values{"email": {"nope"}, "kind": {"export"}}))
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `aria-invalid="true"`)
	assert.Contains(t, w.Body.String(), `value="nope"`, "what the visitor typed is kept")

	r := httptest.NewRequest("POST", "/request", strings.NewReader(`{"email":"ann@example.org","kind":"sell"}`))
	r.Header.Set("Content-Type", "application/json")
	w = e.do(r)
	assert.Equal(t, 400, w.Code)
	assert.JSONEq(t, `{"error":{"status":400,"field":"kind","message":"choose export or erase"}}`, w.Body.String())

	w = e.do(postForm("/request", url.Values{"email": {"ann@example.org"}, "kind": {"export"}, "website": {"http://spam"}}))
	assert.Equal(t, http.StatusAccepted, w.Code, "a bot gets the same answer")
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, e.mail.Server.Messages(), "and nothing is sent")

	w = e.do(httptest.NewRequest("GET", "/confirm?t=forged", nil))
	assert.Equal(t, http.StatusGone, w.Code)

	cross := postForm("/request", url.Values{"email": {"ann@example.org"}, "kind": {"export"}})
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, e.do(cross).Code)
}

func TestStaffAPI(t *testing.T) {
	e := newEnv(t)
	assert.Equal(t, 401, e.do(httptest.NewRequest("GET", "/staff/access", nil)).Code)
	assert.Equal(t, 403, e.do(as(httptest.NewRequest("GET", "/staff/access", nil), privacy.RoleSupport)).Code)

	d := url.Values{"subject": {"ann@example.org"}, "reference": {"Order 77"}, "requester": {"County Court"}}
	w := e.do(as(postForm("/staff/disclosures", d), privacy.RoleAdmin))
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `"field":"basis"`)
	d.Set("basis", "legal-process")
	w = e.do(as(postForm("/staff/disclosures", d), privacy.RoleAdmin))
	require.Equal(t, 201, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "a note")

	w = e.do(as(httptest.NewRequest("GET", "/staff/disclosures", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `"reference":"Order 77"`)

	w = e.do(as(httptest.NewRequest("GET", "/staff/consents?subject=ann@example.org", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)

	w = e.do(as(httptest.NewRequest("GET", "/staff/access?format=csv", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	require.Len(t, lines, 4, "header, the disclosure export, the register view, the consent history read")
	assert.Contains(t, w.Body.String(), "consent history")
	assert.Contains(t, w.Body.String(), "export for disclosure")

	w = e.do(as(httptest.NewRequest("GET", "/staff/access?since=yesterday", nil), privacy.RoleAdmin))
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `"field":"since"`)
	w = e.do(as(httptest.NewRequest("GET", "/staff/requests", nil), privacy.RoleSupport))
	assert.Equal(t, 200, w.Code)
}

// TestStaffListsAreAudited: the register and the access log show addresses, so each
// view of them is a staff read on the record for every address shown (P11; audit
// #13 finding 14).
func TestStaffListsAreAudited(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	require.NoError(t, e.store.AppendDisclosure(ctx, &privacy.Disclosure{Subject: "ann@example.org", Basis: privacy.BasisSafety,
		Reference: "Ticket 9", Requester: "Police", ActorID: "1", Actor: "boss@example.com", At: at}))
	require.NoError(t, e.store.RecordAccess(ctx, privacy.Access{ActorID: "2", Actor: "help@example.com", Role: privacy.RoleSupport,
		Subject: "bob@example.org", What: "contact request", Why: "answering", At: at}))

	reads := func(subject, what string) int {
		t.Helper()
		acc, err := e.store.ListAccess(ctx, privacy.AccessFilter{Subject: subject})
		require.NoError(t, err)
		n := 0
		for _, a := range acc {
			if a.What == what {
				assert.Equal(t, "boss@example.com", a.Actor)
				assert.Equal(t, privacy.RoleAdmin, a.Role)
				n++
			}
		}
		return n
	}

	assert.Equal(t, 403, e.do(as(httptest.NewRequest("GET", "/staff/disclosures", nil), privacy.RoleSupport)).Code)
	assert.Zero(t, reads("ann@example.org", "disclosure register"), "a refused read records nothing")
	w := e.do(as(httptest.NewRequest("GET", "/staff/disclosures", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "ann@example.org")
	assert.Equal(t, 1, reads("ann@example.org", "disclosure register"))

	w = e.do(as(httptest.NewRequest("GET", "/staff/access?subject=bob@example.org", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "bob@example.org")
	assert.Equal(t, 1, reads("bob@example.org", "access log"))
	assert.Zero(t, reads("ann@example.org", "access log"), "only the addresses shown")

	w = e.do(as(httptest.NewRequest("GET", "/staff/access?format=csv", nil), privacy.RoleAdmin))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, 1, reads("ann@example.org", "access log"), "each address shown once, whatever its number of rows")
	assert.Equal(t, 2, reads("bob@example.org", "access log"))
}

// TestDataRequestMailBombing: 100 data requests for one address, each from a fresh
// client address, mail it at most 3 times, and each is answered alike (audit #13
// finding 5).
func TestDataRequestMailBombing(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.TrustedHeader = "X-Forwarded-For" })
	var first string
	for i := range 100 {
		kind := []string{"export", "erase"}[i%2]
		r := postForm("/request", url.Values{"email": {"stranger@example.org"}, "kind": {kind}})
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.%d.%d", i/250, i%250+1))
		w := e.do(r)
		require.Equal(t, http.StatusAccepted, w.Code, "request %d: %s", i, w.Body.String())
		if i == 0 {
			first = w.Body.String()
		}
		assert.Equal(t, first, w.Body.String(), "request %d is answered like the first", i)
	}
	require.Eventually(t, func() bool {
		e.mail.Dispatcher.Wake()
		st, err := e.store.OutboxStats(context.Background(), "")
		return err == nil && st.Queued == 0
	}, 10*time.Second, 10*time.Millisecond)
	assert.Len(t, e.mail.Server.To("stranger@example.org"), 3)
}

// TestStaffPages: a browser (Accept: text/html) gets pages, the API JSON: an empty
// state instead of a blank list, every missing field of the disclosure form at
// once beside its field, the consent look-up form (a look-up is a recorded read, the
// empty form is not), local-time <time> columns and "show more" paging.
func TestStaffPages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	page := func(r *http.Request, role privacy.Role) *httptest.ResponseRecorder {
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
		return e.do(as(r, role))
	}

	w := page(httptest.NewRequest("GET", "/staff/requests", nil), privacy.RoleSupport)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "No data request has been completed yet")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	w = e.do(as(httptest.NewRequest("GET", "/staff/requests", nil), privacy.RoleSupport))
	assert.JSONEq(t, `{"requests":[]}`, w.Body.String(), "the API answers an empty list, not null")

	w = page(postForm("/staff/disclosures", url.Values{"note": {"x"}}), privacy.RoleAdmin)
	require.Equal(t, 400, w.Code)
	for _, f := range []string{"subject", "basis", "reference", "requester"} {
		assert.Contains(t, w.Body.String(), `id="staff-`+f+`-error"`, "fault of %s beside its field", f)
		assert.Contains(t, w.Body.String(), `href="#staff-`+f+`"`, "fault of %s in the summary", f)
	}
	assert.Contains(t, w.Body.String(), ">x</textarea>", "what was typed is kept")

	d := url.Values{"subject": {"Ann@Example.org"}, "basis": {"legal-process"}, "reference": {"Order 77"}, "requester": {"County Court"}}
	w = page(postForm("/staff/disclosures", d), privacy.RoleAdmin)
	require.Equal(t, 201, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `href="data:application/json;base64,`)
	w = page(httptest.NewRequest("GET", "/staff/disclosures", nil), privacy.RoleAdmin)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "<td>Ann@example.org</td>")
	assert.Regexp(t, `<time datetime="\d{4}-\d\d-\d\dT[^"]+Z">`, w.Body.String())
	w = page(httptest.NewRequest("GET", "/staff/disclosures?subject=bob@example.org", nil), privacy.RoleAdmin)
	assert.Contains(t, w.Body.String(), "No disclosure of this address is recorded.")

	before := len(newReads(t, e.store, 0))
	w = page(httptest.NewRequest("GET", "/staff/consents", nil), privacy.RoleAdmin)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `<form method="get" action="/privacy/staff/consents"`)
	assert.Len(t, newReads(t, e.store, 0), before, "the empty form reads no one's data")
	w = page(httptest.NewRequest("GET", "/staff/consents?subject=nobody", nil), privacy.RoleAdmin)
	require.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `id="staff-subject-error"`)
	require.NoError(t, e.store.AppendConsent(ctx, &privacy.Consent{Subject: "carol@example.org", Purpose: privacy.Purpose("newsletter"),
		Granted: true, PolicyVersion: "7", Source: "newsletter-form", At: time.Now()}))
	w = page(httptest.NewRequest("GET", "/staff/consents?subject=carol@example.org", nil), privacy.RoleAdmin)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), "<td>Given</td><td>7</td><td>newsletter-form</td>")
	assert.Len(t, newReads(t, e.store, 0), before+1, "a look-up is a recorded read")

	for range 3 {
		require.NoError(t, e.store.RecordAccess(ctx, privacy.Access{ActorID: "2", Actor: "help@example.com", Role: privacy.RoleSupport,
			Subject: "bob@example.org", What: "contact request", Why: "answering", At: time.Now()}))
	}
	w = page(httptest.NewRequest("GET", "/staff/access?limit=2", nil), privacy.RoleAdmin)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `<a href="/privacy/staff/access?limit=52">Show more</a>`)
	assert.Equal(t, 2, strings.Count(w.Body.String(), "<tr><td><time"))
}

// TestRateLimitTellsTheWait: over a limit of 5 an hour the answer says the true
// wait, in the message and in Retry-After, and a request refused for a mistyped
// address does not count.
func TestRateLimitTellsTheWait(t *testing.T) {
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	lim := web.NewLimiter(5, time.Hour, 5)
	lim.Now = func() time.Time { return now }
	e := newEnv(t, func(c *web.Config) { c.Limiter = lim })
	ask := func(email string) *httptest.ResponseRecorder {
		r := postForm("/request", url.Values{"email": {email}, "kind": {"export"}})
		r.Header.Set("Accept", "application/json")
		return e.do(r)
	}
	for i := range 3 {
		require.Equal(t, 400, ask("not an address").Code, "mistyped %d", i)
	}
	for i := range 5 {
		require.Equal(t, 202, ask(fmt.Sprintf("p%d@example.org", i)).Code, "request %d is within the limit despite the 3 mistyped", i)
	}
	w := ask("p6@example.org")
	require.Equal(t, 429, w.Code)
	assert.Equal(t, "720", w.Header().Get("Retry-After"), "one request every 12 minutes")
	assert.Contains(t, w.Body.String(), "try again in 12 minutes")
	now = now.Add(11*time.Minute + 30*time.Second)
	w = ask("p6@example.org")
	assert.Equal(t, "30", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), "try again in 30 seconds")
}
