package newsletter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

const formType = "application/x-www-form-urlencoded"

// stamp returns a form timestamp old enough to be accepted.
func (e *env) stamp() string {
	s := e.signer.Stamp()
	e.clock.Add(5 * time.Second)
	return s
}

func TestSubscribeForm(t *testing.T) {
	e := newEnv(t, "mem")
	for _, path := range []string{"/newsletter/", "/newsletter/subscribe"} {
		res := e.do(t, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, res.Code)
		for _, want := range []string{`<label for="newsletter-email">`, `<label for="newsletter-newsletter">`, `<label for="newsletter-promotions">`,
			`name="ts"`, `<form method="post" action="/newsletter/subscribe">`} {
			assert.Contains(t, res.Body, want)
		}
		assert.NotContains(t, res.Body, "checked", "no list is ticked for the visitor")
		assert.NotContains(t, res.Body, "<script")
		assert.NotContains(t, res.Body, "style=")
	}
	res := e.do(t, http.MethodGet, "/newsletter/subscribe", "", "", "Accept", "application/json")
	var desc struct {
		TS       string   `json:"ts"`
		Honeypot string   `json:"honeypot"`
		Lists    []string `json:"lists"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &desc))
	assert.Equal(t, web.Honeypot, desc.Honeypot)
	assert.Equal(t, []string{"newsletter", "promotions"}, desc.Lists)
	assert.NotEmpty(t, desc.TS)

	res = e.do(t, http.MethodPost, "/newsletter/subscribe", formType, url.Values{"email": {ann}, "promotions": {"on"}, "ts": {e.stamp()}}.Encode())
	require.Equal(t, http.StatusOK, res.Code, res.Body)
	assert.Contains(t, res.Body, "Check your inbox")
	assert.Equal(t, newsletter.StatusPending, e.status(t, ann, newsletter.ListPromotions))
	assert.Equal(t, newsletter.Status(""), e.status(t, ann, newsletter.ListNewsletter), "each list is its own opt-in")

	res = e.do(t, http.MethodPost, "/newsletter/subscribe", "application/json", `{"email":"bob@example.org","newsletter":true,"ts":"`+e.stamp()+`"}`)
	require.Equal(t, http.StatusAccepted, res.Code, res.Body)
	assert.Equal(t, newsletter.StatusPending, e.status(t, "bob@example.org", newsletter.ListNewsletter))
}

func TestSubscribeFormErrors(t *testing.T) {
	e := newEnv(t, "mem")
	for _, tc := range []struct {
		name   string
		body   func() string
		status int
		field  string // the element id of the error beside its field, or the text
		kept   string
	}{
		{"ErrEmailInvalid", func() string {
			return url.Values{"email": {"ann at example"}, "newsletter": {"on"}, "ts": {e.stamp()}}.Encode()
		}, 400, `id="newsletter-email-error"`, `value="ann at example"`},
		{"ErrEmailMissing", func() string { return url.Values{"newsletter": {"on"}, "ts": {e.stamp()}}.Encode() }, 400, `id="newsletter-email-error"`, `checked`},
		{"ErrListsNone", func() string { return url.Values{"email": {ann}, "ts": {e.stamp()}}.Encode() }, 400, `id="newsletter-lists-error"`, `value="ann@example.org"`},
		{"ErrTooFast", func() string {
			return url.Values{"email": {ann}, "newsletter": {"on"}, "ts": {e.signer.Stamp()}}.Encode()
		}, 400, "too quickly", `value="ann@example.org"`},
		{"ErrForgedStamp", func() string { return url.Values{"email": {ann}, "newsletter": {"on"}, "ts": {"forged"}}.Encode() }, 400, "reload the page", ""},
		{"ErrDuplicateField", func() string { return "email=a%40example.org&email=b%40example.org&newsletter=on&ts=" + e.stamp() }, 400, "more than once", ""},
		{"ErrBadEncoding", func() string { return "email=%zz" }, 400, "could not be read", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, http.MethodPost, "/newsletter/subscribe", formType, tc.body())
			assert.Equal(t, tc.status, res.Code, res.Body)
			assert.Contains(t, res.Body, tc.field)
			assert.Contains(t, res.Body, tc.kept, "what the visitor typed is kept")
			assert.Contains(t, res.Body, `role="alert"`)
		})
	}
	res := e.do(t, http.MethodPost, "/newsletter/subscribe", "application/json", `{"email":"nope","newsletter":true,"ts":"`+e.stamp()+`"}`)
	assert.Equal(t, http.StatusBadRequest, res.Code)
	var body web.ErrorBody
	require.NoError(t, json.Unmarshal([]byte(res.Body), &body))
	assert.Equal(t, "email", body.Error.Field)
	res = e.do(t, http.MethodPost, "/newsletter/subscribe", "text/plain", "hi")
	assert.Equal(t, http.StatusBadRequest, res.Code)
	res = e.do(t, http.MethodPost, "/newsletter/subscribe", formType, "email="+strings.Repeat("a", 70<<10))
	assert.Equal(t, http.StatusBadRequest, res.Code, "an oversized body is refused")

	subs, err := e.store.Subscriptions(context.Background(), ann)
	require.NoError(t, err)
	assert.Empty(t, subs, "nothing stored by a refused form")
}

// TestSubscribeFormShowsEveryFault: a form sent with several faults shows them all
// at once, each beside its field and all in the summary, so the visitor fixes them
// in one go.
func TestSubscribeFormShowsEveryFault(t *testing.T) {
	e := newEnv(t, "mem")
	res := e.do(t, http.MethodPost, "/newsletter/subscribe", formType, url.Values{"email": {"ann@"}, "ts": {e.signer.Stamp()}}.Encode())
	require.Equal(t, http.StatusBadRequest, res.Code, res.Body)
	assert.Contains(t, res.Body, `<div role="alert"><p>Please correct this:</p><ul><li>This is not an email address</li><li>Choose at least one list</li>`+
		`<li>The form was sent too quickly; please wait a moment and send it again</li></ul></div>`)
	assert.Contains(t, res.Body, `aria-invalid="true" aria-describedby="newsletter-email-error">`+"\n"+`<br><strong id="newsletter-email-error">This is not an email address</strong>`)
	assert.Contains(t, res.Body, `<fieldset aria-describedby="newsletter-lists-error">`)
	assert.Contains(t, res.Body, `<p><strong id="newsletter-lists-error">Choose at least one list</strong></p>`)
	assert.Contains(t, res.Body, `value="ann@"`, "what the visitor typed is kept")
}

func TestSubscribeBotAndRateLimit(t *testing.T) {
	e := newEnv(t, "mem", func(_ *newsletter.Config, h *newsletter.HandlerConfig) { h.Limiter = web.NewLimiter(2, time.Hour, 2) })
	res := e.do(t, http.MethodPost, "/newsletter/subscribe", formType, url.Values{"email": {ann}, "newsletter": {"on"}, "website": {"http://spam.example.net"}}.Encode())
	assert.Equal(t, http.StatusOK, res.Code, "a bot is told it worked")
	assert.Equal(t, newsletter.Status(""), e.status(t, ann, newsletter.ListNewsletter), "and nothing is stored")
	res = e.do(t, http.MethodPost, "/newsletter/subscribe", formType, url.Values{"email": {"bob@example.org"}, "newsletter": {"on"}, "ts": {e.stamp()}}.Encode())
	assert.Equal(t, http.StatusOK, res.Code)
	res = e.do(t, http.MethodPost, "/newsletter/subscribe", formType, url.Values{"email": {"cy@example.org"}, "newsletter": {"on"}, "ts": {e.stamp()}}.Encode())
	assert.Equal(t, http.StatusTooManyRequests, res.Code)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Equal(t, newsletter.Status(""), e.status(t, "cy@example.org", newsletter.ListNewsletter))
}

func TestCrossOriginPostsRefused(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	e.campaign(t, newsletter.ListNewsletter, "Issue", "Hi.")
	unsub := link(t, e.mails(t, ann, 2)[1].Text, "unsubscribe")
	for _, tc := range []struct{ name, path, body string }{
		{"Subscribe", "/newsletter/subscribe", url.Values{"email": {"bob@example.org"}, "newsletter": {"on"}, "ts": {e.stamp()}}.Encode()},
		{"Unsubscribe", unsub, ""},
		{"Preferences", strings.Replace(unsub, "unsubscribe", "preferences", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, http.MethodPost, tc.path, formType, tc.body, "Sec-Fetch-Site", "cross-site")
			assert.Equal(t, http.StatusForbidden, res.Code)
			res = e.do(t, http.MethodPost, tc.path, formType, tc.body, "Origin", "https://evil.example.net")
			assert.Equal(t, http.StatusForbidden, res.Code)
		})
	}
	assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter))
	assert.Equal(t, newsletter.Status(""), e.status(t, "bob@example.org", newsletter.ListNewsletter))
	res := e.do(t, http.MethodPost, "/newsletter/api/campaigns", "application/json", `{"list":"newsletter","subject":"x","markdown":"y"}`,
		"X-Test-Actor", "editor", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, res.Code, "a staff member's browser cannot be made to post from elsewhere")
}

func TestNoCookiesAndNoCaching(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	e.campaign(t, newsletter.ListNewsletter, "Issue", "Hi.")
	unsub := link(t, e.mails(t, ann, 2)[1].Text, "unsubscribe")
	prefs := strings.Replace(unsub, "unsubscribe", "preferences", 1)
	require.NoError(t, e.svc.Subscribe(context.Background(), "bob@example.org", []newsletter.List{newsletter.ListNewsletter}))
	confirm := link(t, e.mails(t, "bob@example.org", 1)[0].Text, "confirm")
	for _, rq := range []struct{ method, path, ct, body, actor string }{
		{"GET", "/newsletter/", "", "", ""},
		{"GET", "/newsletter/subscribe", "", "", ""},
		{"POST", "/newsletter/subscribe", formType, url.Values{"email": {"cy@example.org"}, "newsletter": {"on"}, "ts": {e.stamp()}}.Encode(), ""},
		{"POST", "/newsletter/subscribe", formType, "email=bad", ""},
		{"GET", confirm, "", "", ""},
		{"POST", confirm, formType, "", ""},
		{"GET", "/newsletter/confirm?t=x", "", "", ""},
		{"GET", prefs, "", "", ""},
		{"POST", prefs, formType, "newsletter=on", ""},
		{"GET", unsub, "", "", ""},
		{"POST", unsub, formType, "List-Unsubscribe=One-Click", ""},
		{"GET", "/newsletter/api/campaigns", "", "", "editor"},
		{"GET", "/newsletter/api/campaigns", "", "", ""},
		{"POST", "/newsletter/api/campaigns", "application/json", `{"list":"newsletter","subject":"S","markdown":"M"}`, "editor"},
		{"GET", "/newsletter/api/campaigns/1/progress", "", "", "editor"},
		{"GET", "/newsletter/nothing-here", "", "", ""},
	} {
		res := e.do(t, rq.method, rq.path, rq.ct, rq.body, "X-Test-Actor", rq.actor)
		assert.Empty(t, res.Header.Values("Set-Cookie"), "%s %s", rq.method, rq.path)
		assert.NotEqual(t, http.StatusInternalServerError, res.Code, "%s %s", rq.method, rq.path)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "%s %s", rq.method, rq.path)
		assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), "%s %s: a link's token never leaks", rq.method, rq.path)
		assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"), "%s %s: no page is framed to trick a click", rq.method, rq.path)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), "%s %s", rq.method, rq.path)
	}
}

func TestStaffAPI(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	api := func(method, path, body, actor string) (int, map[string]any) {
		t.Helper()
		res := e.do(t, method, "/newsletter/api"+path, "application/json", body, "X-Test-Actor", actor)
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.Body), &v), res.Body)
		return res.Code, v
	}
	field := func(v map[string]any) string {
		e, _ := v["error"].(map[string]any)
		f, _ := e["field"].(string)
		return f
	}

	code, _ := api("POST", "/campaigns", `{"list":"newsletter","subject":"S","markdown":"M"}`, "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = api("POST", "/campaigns", `{"list":"newsletter","subject":"S","markdown":"M"}`, "moderator")
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = api("GET", "/campaigns", "", "moderator")
	assert.Equal(t, http.StatusForbidden, code)
	code, v := api("POST", "/campaigns", `{"list":"newsletter","subject":"S","markdown":"M","recipients":"all"}`, "editor")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "recipients", field(v))
	code, v = api("POST", "/campaigns", `{"list":"newsletter","subject":"S","markdown":"![p](https://t.example.net/p.gif)"}`, "editor")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "markdown", field(v))

	code, v = api("POST", "/campaigns", `{"list":"newsletter","subject":"Issue 1","markdown":"Hello **all**."}`, "editor")
	require.Equal(t, http.StatusCreated, code, v)
	id := "/campaigns/" + jsonNumber(v["id"])
	assert.Equal(t, "<p>Hello <strong>all</strong>.</p>\n", v["html"])

	code, v = api("PUT", id, `{"list":"newsletter","subject":"Issue one","markdown":"Hello **all**."}`, "editor")
	require.Equal(t, http.StatusOK, code, v)
	assert.Equal(t, "Issue one", v["subject"])
	code, v = api("POST", id+"/test", `{"to":"ann@example.org"}`, "editor")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "to", field(v))
	code, _ = api("POST", id+"/test", `{"to":"editor@example.com"}`, "editor")
	assert.Equal(t, http.StatusAccepted, code)
	code, v = api("POST", id+"/schedule", `{"at":"tomorrow"}`, "editor")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "at", field(v))
	code, _ = api("GET", "/campaigns/abc", "", "editor")
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = api("GET", "/campaigns/999", "", "editor")
	assert.Equal(t, http.StatusNotFound, code)

	code, v = api("POST", id+"/schedule", `{}`, "editor")
	require.Equal(t, http.StatusOK, code, v)
	assert.Equal(t, "scheduled", v["status"])
	code, _ = api("PUT", id, `{"list":"newsletter","subject":"x","markdown":"y"}`, "editor")
	assert.Equal(t, http.StatusConflict, code)
	_, err := e.svc.SendDue(context.Background())
	require.NoError(t, err)
	e.mails(t, ann, 2)
	e.settle(t)
	code, v = api("GET", id, "", "editor")
	require.Equal(t, http.StatusOK, code)
	prog, _ := v["progress"].(map[string]any)
	assert.Positive(t, prog["rate"], "messages a second since it started")
	delete(prog, "rate")
	assert.Equal(t, map[string]any{"status": "sent", "total": 1.0, "enqueued": 1.0, "skipped": 0.0, "queued": 0.0, "sent": 1.0, "failed": 0.0,
		"done": 1.0, "percent": 100.0, "eta": 0.0}, prog)
	code, v = api("GET", id+"/progress", "", "editor")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1.0, v["sent"])
	code, _ = api("POST", id+"/cancel", "", "editor")
	assert.Equal(t, http.StatusConflict, code)
	code, v = api("GET", "/campaigns", "", "editor")
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, v["campaigns"], 1)
	assert.NotContains(t, jsonString(t, v), ann, "no campaign answer names a recipient")

	code, _ = api("POST", "/complaints", `{"email":"ann@example.org"}`, "moderator")
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = api("POST", "/complaints", `{"email":"ann@example.org"}`, "admin")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, newsletter.ListNewsletter))

	for _, p := range []string{"/subscribers", "/lists/newsletter", "/campaigns/1/recipients", "/export"} {
		res := e.do(t, http.MethodGet, "/newsletter/api"+p, "", "", "X-Test-Actor", "editor")
		assert.Equal(t, http.StatusNotFound, res.Code, "no route exports a list: %s", p)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestComplaintNeedsAdminAndIsAudited: a staff-relayed complaint suppresses every mail
// to an address, so only an admin may relay one, and each is on the record: who,
// what, about whom (audit #13 finding 14).
func TestComplaintNeedsAdminAndIsAudited(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		e.member(t, ann, newsletter.ListNewsletter)
		complain := func(actor string) int {
			t.Helper()
			return e.do(t, http.MethodPost, "/newsletter/api/complaints", "application/json", `{"email":"ann@example.org"}`, "X-Test-Actor", actor).Code
		}
		for _, actor := range []string{"", "editor", "moderator"} {
			assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, complain(actor), "actor %q", actor)
		}
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter), "a refused complaint changes nothing")
		ok, err := e.priv.Suppressed(ctx, ann)
		require.NoError(t, err)
		assert.False(t, ok)
		acc, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Subject: ann})
		require.NoError(t, err)
		assert.Empty(t, acc, "a refused complaint is not recorded as done")

		require.Equal(t, http.StatusOK, complain("admin"))
		assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, newsletter.ListNewsletter))
		acc, err = e.priv.ListAccess(ctx, privacy.AccessFilter{Subject: ann})
		require.NoError(t, err)
		require.Len(t, acc, 1)
		assert.Equal(t, "a1", acc[0].ActorID)
		assert.Equal(t, "boss@example.com", acc[0].Actor)
		assert.Equal(t, privacy.RoleAdmin, acc[0].Role)
		assert.Contains(t, acc[0].What, "complaint")
	})
}
