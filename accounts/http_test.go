package accounts_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"context"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/privacy"
	privmem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// server mounts the handler under /accounts/ as a host would and fails the test if
// any response sets a cookie.
type server struct {
	*httptest.Server
	t  testing.TB
	mu sync.Mutex
	n  int
}

func newServer(t testing.TB, e *env, hc accounts.HandlerConfig) *server {
	t.Helper()
	if hc.Limiter == nil {
		hc.Limiter = web.NewLimiter(1_000_000, time.Second, 1_000_000)
	}
	h, err := accounts.NewHandler(e.svc, hc)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/accounts/", http.StripPrefix("/accounts", h))
	s := &server{t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		s.mu.Lock()
		s.n++
		s.mu.Unlock()
		if c := w.Header().Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("%s %s set a cookie: %v", r.Method, r.URL.Path, c)
		}
	}))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Logf("%d responses checked: none set a cookie", s.n)
	})
	return s
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (s *server) do(method, path, token, contentType string, body io.Reader, hdr ...string) resp {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	require.NoError(s.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	assert.Empty(s.t, res.Header.Values("Set-Cookie"))
	return resp{res.StatusCode, res.Header, string(b)}
}

func (s *server) json(method, path, token string, v any) resp {
	s.t.Helper()
	var body io.Reader
	if v != nil {
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	ct := ""
	if v != nil {
		ct = "application/json"
	}
	return s.do(method, path, token, ct, body, "Accept", "application/json")
}

func (s *server) form(path string, v url.Values, hdr ...string) resp {
	s.t.Helper()
	return s.do(http.MethodPost, path, "", "application/x-www-form-urlencoded", strings.NewReader(v.Encode()), append([]string{"Accept", "text/html"}, hdr...)...)
}

func errorField(t *testing.T, r resp) string {
	t.Helper()
	var b web.ErrorBody
	require.NoError(t, json.Unmarshal([]byte(r.body), &b), r.body)
	return b.Error.Field
}

func TestHTTPRegisterForm(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	page := s.do(http.MethodGet, "/accounts/register", "", "", nil)
	require.Equal(t, http.StatusOK, page.status)
	for _, want := range []string{`action="/accounts/register"`, `<label for="email">`, `<label for="password">`, `<label for="birth_date">`,
		`<label for="newsletter">`, `<label for="promotions">`, `name="newsletter" type="checkbox">`, `name="promotions" type="checkbox">`} {
		assert.Contains(t, page.body, want)
	}
	assert.NotContains(t, page.body, "checked", "opt-ins are unchecked by default")
	assert.NotContains(t, page.body, "<script")
	assert.NotContains(t, page.body, "style=")
	assert.NotContains(t, page.body, "13", "no hint of the age cutoff")
	assert.Equal(t, "no-store", page.header.Get("Cache-Control"))

	bad := s.form("/accounts/register", url.Values{"email": {"ann@example.org"}, "password": {"short"}, "birth_date": {"1990-01-01"}, "newsletter": {"on"}})
	assert.Equal(t, http.StatusBadRequest, bad.status)
	assert.Contains(t, bad.body, `id="password-error"`, "the message sits beside the field")
	assert.Contains(t, bad.body, `value="ann@example.org"`, "what was typed is kept")
	assert.NotContains(t, bad.body, `value="short"`, "a password is never echoed")
	assert.Contains(t, bad.body, `name="newsletter" type="checkbox" checked`, "the opt-in the visitor ticked stays ticked")

	ok := s.form("/accounts/register", url.Values{"email": {"ann@example.org"}, "password": {"correct horse"}, "birth_date": {"30/04/1990"}})
	assert.Equal(t, http.StatusAccepted, ok.status)
	assert.Contains(t, ok.body, "Check your inbox")
	tok := e.linkToken(e.mailTo("ann@example.org", "Confirm"))

	landing := s.do(http.MethodGet, "/accounts/verify?token="+tok, "", "", nil)
	require.Equal(t, http.StatusOK, landing.status)
	assert.Equal(t, "no-referrer", landing.header.Get("Referrer-Policy"), "the token in the URL never leaks")
	a, _ := e.store.AccountByEmail(t.Context(), "ann@example.org")
	assert.False(t, a.Verified, "following the link changes nothing: a mail scanner cannot use it up")
	assert.Contains(t, landing.body, `action="/accounts/verify"`)
	assert.Contains(t, landing.body, `<label for="password">The password you chose when you registered</label>`)
	assert.Contains(t, landing.body, `name="password" type="password" autocomplete="current-password" required`)
	wrong := s.form("/accounts/verify", url.Values{"token": {tok}, "password": {"wrong horse"}})
	assert.Equal(t, http.StatusBadRequest, wrong.status)
	assert.Contains(t, wrong.body, `id="password-error"`, "the message sits beside the field")
	assert.Contains(t, wrong.body, "not the password chosen with this registration")
	assert.Contains(t, wrong.body, `name="token" value="`+tok+`"`, "the form is shown again to retry")
	assert.NotContains(t, wrong.body, "wrong horse", "a password is never echoed")
	a, _ = e.store.AccountByEmail(t.Context(), "ann@example.org")
	assert.False(t, a.Verified)
	done := s.form("/accounts/verify", url.Values{"token": {tok}, "password": {"correct horse"}})
	assert.Equal(t, http.StatusOK, done.status)
	a, _ = e.store.AccountByEmail(t.Context(), "ann@example.org")
	assert.True(t, a.Verified)
	again := s.form("/accounts/verify", url.Values{"token": {tok}, "password": {"correct horse"}})
	assert.Equal(t, http.StatusGone, again.status)

	signin := s.form("/accounts/signin", url.Values{"email": {"ann@example.org"}, "password": {"correct horse"}})
	require.Equal(t, http.StatusOK, signin.status)
	assert.Contains(t, signin.body, `id="session-token" data-token="`)
	assert.NotContains(t, signin.body, "<script")
}

func TestHTTPRegisterInvalidJSON(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	valid := map[string]any{"email": "j@example.org", "password": "correct horse", "birth_date": "1990-01-01"}
	for _, tc := range []struct {
		name, field string
		edit        func(m map[string]any)
	}{
		{"UnknownField", "is_admin", func(m map[string]any) { m["is_admin"] = true }},
		{"NestedValue", "email", func(m map[string]any) { m["email"] = []string{"a@example.org", "b@example.org"} }},
		{"CheckboxGarbage", "newsletter", func(m map[string]any) { m["newsletter"] = "maybe" }},
		{"BadEmail", "email", func(m map[string]any) { m["email"] = "@@" }},
		{"BadDate", "birth_date", func(m map[string]any) { m["birth_date"] = "soon" }},
		{"NameControl", "display_name", func(m map[string]any) { m["display_name"] = "Ann\u0007" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range valid {
				m[k] = v
			}
			tc.edit(m)
			r := s.json(http.MethodPost, "/accounts/register", "", m)
			assert.Equal(t, http.StatusBadRequest, r.status, r.body)
			assert.Equal(t, tc.field, errorField(t, r))
		})
	}
	dup := s.do(http.MethodPost, "/accounts/register", "", "application/x-www-form-urlencoded",
		strings.NewReader("email=a%40example.org&email=b%40example.org&password=correct+horse&birth_date=1990-01-01"), "Accept", "application/json")
	assert.Equal(t, http.StatusBadRequest, dup.status)
	assert.Equal(t, "email", errorField(t, dup))
	utf := s.do(http.MethodPost, "/accounts/register", "", "application/x-www-form-urlencoded",
		strings.NewReader("email=j%40example.org&password=correct+horse&birth_date=1990-01-01&display_name=%FF%FE"), "Accept", "application/json")
	assert.Equal(t, "display_name", errorField(t, utf))
	huge := s.do(http.MethodPost, "/accounts/register", "", "application/json", strings.NewReader(`{"email":"`+strings.Repeat("a", 70_000)+`"}`))
	assert.Equal(t, http.StatusBadRequest, huge.status)
	assert.Equal(t, "body", errorField(t, huge))
	_, err := e.store.AccountByEmail(t.Context(), "j@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
}

func TestHTTPHoneypotAndSigner(t *testing.T) {
	e := newEnv(t)
	signer := &web.Signer{Key: bytes.Repeat([]byte{7}, 32), MinAge: time.Nanosecond}
	s := newServer(t, e, accounts.HandlerConfig{Signer: signer})
	page := s.do(http.MethodGet, "/accounts/register", "", "", nil)
	assert.Contains(t, page.body, `name="ts" value="`)
	v := url.Values{"email": {"bot@example.org"}, "password": {"correct horse"}, "birth_date": {"1990-01-01"}}
	noStamp := s.form("/accounts/register", v)
	assert.Equal(t, http.StatusBadRequest, noStamp.status)
	assert.Contains(t, noStamp.body, "reload the page")
	v.Set("ts", signer.Stamp())
	v.Set("website", "http://spam.example.net")
	bot := s.form("/accounts/register", v)
	assert.Equal(t, http.StatusAccepted, bot.status, "a bot is answered as if it had worked")
	_, err := e.store.AccountByEmail(t.Context(), "bot@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "and nothing is stored")
	v.Del("website")
	assert.Equal(t, http.StatusAccepted, s.form("/accounts/register", v).status)
}

func TestHTTPEnumerationAnswersAlike(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("known@example.org", "correct horse")
	for _, tc := range []struct {
		path string
		body func(addr string) map[string]any
	}{
		{"/accounts/register", func(a string) map[string]any {
			return map[string]any{"email": a, "password": "another horse", "birth_date": "1990-01-01"}
		}},
		{"/accounts/signin", func(a string) map[string]any { return map[string]any{"email": a, "password": "wrong horse"} }},
		{"/accounts/reset", func(a string) map[string]any { return map[string]any{"email": a} }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			known := s.json(http.MethodPost, tc.path, "", tc.body("known@example.org"))
			unknown := s.json(http.MethodPost, tc.path, "", tc.body("unknown@example.org"))
			assert.Equal(t, unknown.status, known.status)
			assert.Equal(t, unknown.body, known.body)
			assert.Less(t, known.status, 500)
		})
	}
}

func TestHTTPCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	r := s.form("/accounts/register", url.Values{"email": {"x@example.org"}, "password": {"correct horse"}, "birth_date": {"1990-01-01"}},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example.net")
	assert.Equal(t, http.StatusForbidden, r.status)
	_, err := e.store.AccountByEmail(t.Context(), "x@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
}

// TestHTTPVerifyJSON: a JSON client confirms with the token and the password; a
// refused password is a 400 naming the field and leaves the link working.
func TestHTTPVerifyJSON(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	_, err := e.svc.Register(t.Context(), accounts.RegisterInput{Email: "jay@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	tok := e.linkToken(e.mailTo("jay@example.org", "Confirm"))

	wrong := s.json(http.MethodPost, "/accounts/verify", "", map[string]any{"token": tok, "password": "wrong horse"})
	assert.Equal(t, http.StatusBadRequest, wrong.status)
	assert.Equal(t, "password", errorField(t, wrong))
	missing := s.json(http.MethodPost, "/accounts/verify", "", map[string]any{"token": tok})
	assert.Equal(t, http.StatusBadRequest, missing.status)
	assert.Equal(t, "password", errorField(t, missing))
	ok := s.json(http.MethodPost, "/accounts/verify", "", map[string]any{"token": tok, "password": "correct horse"})
	require.Equal(t, http.StatusOK, ok.status, ok.body)
	e.signIn("jay@example.org", "correct horse")
}

// TestHTTPVerifyLimited: confirming checks a password, so it counts against the
// per-client limit like a sign-in.
func TestHTTPVerifyLimited(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{Limiter: web.NewLimiter(1, time.Hour, 2)})
	var last resp
	for range 3 {
		last = s.json(http.MethodPost, "/accounts/verify", "", map[string]any{"token": strings.Repeat("A", 43), "password": "guess"})
	}
	assert.Equal(t, http.StatusTooManyRequests, last.status)
	assert.NotEmpty(t, last.header.Get("Retry-After"))
}

func TestHTTPRateLimitPerClient(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{Limiter: web.NewLimiter(1, time.Hour, 2)})
	var last resp
	for range 3 {
		last = s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": "a@example.org", "password": "x"})
	}
	assert.Equal(t, http.StatusTooManyRequests, last.status)
	assert.NotEmpty(t, last.header.Get("Retry-After"))
}

func TestHTTPSessionsAndAccount(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("me@example.org", "correct horse")

	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/me", "", nil).status)
	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/me", strings.Repeat("A", 43), nil).status)
	in := s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": "me@example.org", "password": "correct horse"})
	require.Equal(t, http.StatusOK, in.status, in.body)
	var signed accounts.SignedIn
	require.NoError(t, json.Unmarshal([]byte(in.body), &signed))

	me := s.json(http.MethodGet, "/accounts/me", signed.Token, nil)
	require.Equal(t, http.StatusOK, me.status)
	assert.Contains(t, me.body, `"email":"me@example.org"`)
	assert.NotContains(t, me.body, "argon2", "the hash never leaves")

	exp := s.json(http.MethodGet, "/accounts/me/export", signed.Token, nil)
	require.Equal(t, http.StatusOK, exp.status)
	assert.Contains(t, exp.body, `"accounts"`)
	assert.NotContains(t, exp.body, "argon2")

	cp := s.json(http.MethodPost, "/accounts/me/password", signed.Token, map[string]any{"current_password": "correct horse", "new_password": "fresh horse staple"})
	require.Equal(t, http.StatusOK, cp.status, cp.body)
	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/me", signed.Token, nil).status, "the old token ended")
	require.NoError(t, json.Unmarshal([]byte(cp.body), &signed))
	assert.Equal(t, http.StatusNoContent, s.json(http.MethodPost, "/accounts/signout", signed.Token, nil).status)
	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/me", signed.Token, nil).status)

	in = s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": "me@example.org", "password": "fresh horse staple"})
	require.NoError(t, json.Unmarshal([]byte(in.body), &signed))
	del := s.json(http.MethodPost, "/accounts/me/delete", signed.Token, map[string]any{"password": "wrong"})
	assert.Equal(t, http.StatusBadRequest, del.status)
	assert.Equal(t, "password", errorField(t, del))
	del = s.json(http.MethodPost, "/accounts/me/delete", signed.Token, map[string]any{"password": "fresh horse staple"})
	require.Equal(t, http.StatusOK, del.status, del.body)
	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/me", signed.Token, nil).status)
}

func TestHTTPResetAndEmailChange(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("r@example.org", "correct horse")
	assert.Equal(t, http.StatusAccepted, s.form("/accounts/reset", url.Values{"email": {"r@example.org"}}).status)
	tok := e.linkToken(e.mailTo("r@example.org", "Reset"))
	page := s.do(http.MethodGet, "/accounts/reset/confirm?token="+tok, "", "", nil)
	assert.Contains(t, page.body, `type="password"`)
	short := s.form("/accounts/reset/confirm", url.Values{"token": {tok}, "password": {"x"}})
	assert.Equal(t, http.StatusBadRequest, short.status)
	assert.Contains(t, short.body, `id="password-error"`)
	assert.Equal(t, http.StatusOK, s.form("/accounts/reset/confirm", url.Values{"token": {tok}, "password": {"new horse staple"}}).status)

	token, _ := e.signIn("r@example.org", "new horse staple")
	ch := s.json(http.MethodPost, "/accounts/me/email", token, map[string]any{"email": "r2@example.org", "password": "new horse staple"})
	require.Equal(t, http.StatusAccepted, ch.status, ch.body)
	ctok := e.linkToken(e.mailTo("r2@example.org", "Confirm your new address"))
	done := s.json(http.MethodPost, "/accounts/email/confirm", "", map[string]any{"token": ctok})
	require.Equal(t, http.StatusOK, done.status, done.body)
	assert.Contains(t, done.body, `"token"`)
}

func TestHTTPUnder13(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	r := s.form("/accounts/register", url.Values{"email": {"kid@example.org"}, "password": {"dinosaurs rock"}, "birth_date": {childBirthDate()}})
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `name="parent_email"`)
	assert.NotContains(t, r.body, "kid@example.org", "the child's address is not even carried forward")
	extra := s.form("/accounts/parental/request", url.Values{"parent_email": {"mum@example.org"}, "child_name": {"Tim"}})
	assert.Equal(t, http.StatusBadRequest, extra.status, "only the parent's address is taken")
	code := s.form("/accounts/parental/request", url.Values{"parent_email": {"mum@example.org"}})
	require.Equal(t, http.StatusAccepted, code.status)
	assert.Contains(t, code.body, `id="consent-code"`)
	ptok := e.linkToken(e.mailTo("mum@example.org", "Your child"))
	ask := s.do(http.MethodGet, "/accounts/parental?token="+ptok, "", "", nil)
	assert.Contains(t, ask.body, `value="approve"`)
	assert.Contains(t, ask.body, `value="refuse"`)
	ans := s.form("/accounts/parental/answer", url.Values{"token": {ptok}, "answer": {"maybe"}})
	assert.Equal(t, http.StatusBadRequest, ans.status)
	assert.Equal(t, http.StatusOK, s.form("/accounts/parental/answer", url.Values{"token": {ptok}, "answer": {"approve"}}).status)
}

func upload(t *testing.T, s *server, token string, fields map[string]string, file []byte) resp {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "innocent.txt")
		require.NoError(t, err)
		_, _ = fw.Write(file)
	}
	require.NoError(t, mw.Close())
	return s.do(http.MethodPost, "/accounts/me/resources", token, mw.FormDataContentType(), &b, "Accept", "application/json")
}

func TestHTTPResources(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.PhotoMaxBytes = 8000 })
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("ph@example.org", "correct horse")
	e.member("peer@example.org", "correct horse")
	tok, _ := e.signIn("ph@example.org", "correct horse")
	peer, _ := e.signIn("peer@example.org", "correct horse")

	assert.Equal(t, http.StatusUnauthorized, upload(t, s, "", nil, jpegWithEXIF(t)).status)
	up := upload(t, s, tok, map[string]string{"title": "cat", "visibility": "community"}, jpegWithEXIF(t))
	require.Equal(t, http.StatusCreated, up.status, up.body)
	var r accounts.Resource
	require.NoError(t, json.Unmarshal([]byte(up.body), &r))
	assert.Equal(t, "image/jpeg", r.ContentType, "sniffed, whatever the file name said")

	c := s.do(http.MethodGet, "/accounts/resources/"+r.ID+"/content", peer, "", nil)
	require.Equal(t, http.StatusOK, c.status)
	assert.Equal(t, "image/jpeg", c.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", c.header.Get("X-Content-Type-Options"))
	assert.NotContains(t, c.body, secret)

	big := upload(t, s, tok, nil, bytes.Repeat([]byte{0xFF}, 9000))
	assert.Equal(t, http.StatusBadRequest, big.status)
	assert.Equal(t, "file", errorField(t, big))
	html := upload(t, s, tok, nil, []byte("<html><script>alert(1)</script>"))
	assert.Equal(t, "file", errorField(t, html))
	extra := upload(t, s, tok, map[string]string{"owner": "someone"}, jpegWithEXIF(t))
	assert.Equal(t, "owner", errorField(t, extra))

	note := s.json(http.MethodPost, "/accounts/me/resources", tok, map[string]any{"kind": "note", "body": "secret note"})
	require.Equal(t, http.StatusCreated, note.status, note.body)
	var n accounts.Resource
	require.NoError(t, json.Unmarshal([]byte(note.body), &n))
	assert.Equal(t, http.StatusNotFound, s.json(http.MethodGet, "/accounts/resources/"+n.ID, peer, nil).status)
	assert.Equal(t, http.StatusNotFound, s.do(http.MethodDelete, "/accounts/resources/"+n.ID, peer, "", nil).status)
	list := s.json(http.MethodGet, "/accounts/resources", peer, nil)
	assert.Contains(t, list.body, r.ID)
	assert.NotContains(t, list.body, n.ID)
	assert.NotContains(t, list.body, "ph@example.org", "no address in community listings")
	mine := s.json(http.MethodGet, "/accounts/me/resources", tok, nil)
	assert.Contains(t, mine.body, n.ID)
	assert.Equal(t, http.StatusNoContent, s.do(http.MethodDelete, "/accounts/resources/"+n.ID, tok, "", nil).status)
}

func TestHTTPStaff(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("admin@example.org", "correct horse")
	e.member("m@example.org", "correct horse")
	require.NoError(t, e.svc.GrantRole(t.Context(), "admin@example.org", privacy.RoleAdmin))
	admin, _ := e.signIn("admin@example.org", "correct horse")
	member, _ := e.signIn("m@example.org", "correct horse")

	assert.Equal(t, http.StatusUnauthorized, s.json(http.MethodGet, "/accounts/staff", "", nil).status)
	assert.Equal(t, http.StatusForbidden, s.json(http.MethodGet, "/accounts/staff", member, nil).status)
	assert.Equal(t, http.StatusForbidden, s.json(http.MethodPost, "/accounts/staff/grant", member, map[string]any{"email": "m@example.org", "role": "admin"}).status)
	assert.Equal(t, http.StatusNoContent, s.json(http.MethodPost, "/accounts/staff/grant", admin, map[string]any{"email": "m@example.org", "role": "support"}).status)
	bad := s.json(http.MethodPost, "/accounts/staff/grant", admin, map[string]any{"email": "m@example.org", "role": "root"})
	assert.Equal(t, "role", errorField(t, bad))
	ghost := s.json(http.MethodPost, "/accounts/staff/grant", admin, map[string]any{"email": "ghost@example.org", "role": "support"})
	assert.Equal(t, http.StatusNotFound, ghost.status)
	assert.Equal(t, "email", errorField(t, ghost), "the fault names the field")
	list := s.json(http.MethodGet, "/accounts/staff", admin, nil)
	require.Equal(t, http.StatusOK, list.status)
	assert.Contains(t, list.body, `"support"`)
	assert.Equal(t, http.StatusNoContent, s.json(http.MethodPost, "/accounts/staff/revoke", admin, map[string]any{"email": "m@example.org", "role": "support"}).status)
}

func TestHTTPBusyIs503(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.HashSlots = 1; c.HashWait = 20 * time.Millisecond })
	s := newServer(t, e, accounts.HandlerConfig{})
	release := e.svc.HoldHashSlot()
	defer release()
	r := s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": "a@example.org", "password": "whatever"})
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
}

func TestHTTPAuthenticateForOtherCapabilities(t *testing.T) {
	e := newEnv(t)
	e.member("staff@example.org", "correct horse")
	require.NoError(t, e.svc.GrantRole(t.Context(), "staff@example.org", privacy.RoleModerator))
	tok, _ := e.signIn("staff@example.org", "correct horse")
	var got privacy.Actor
	h := e.svc.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = privacy.ActorFrom(r.Context()) }))
	for _, tc := range []struct {
		header string
		anon   bool
	}{{"Bearer " + tok, false}, {"bearer " + tok, false}, {"", true}, {"Basic " + tok, true}, {"Bearer nonsense", true}} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		got = privacy.Actor{ID: "stale"}
		h.ServeHTTP(httptest.NewRecorder(), req)
		assert.Equal(t, tc.anon, got.Anonymous(), tc.header)
		if !tc.anon {
			assert.Equal(t, "staff@example.org", got.Email)
			assert.True(t, got.Has(privacy.RoleModerator))
		}
	}
}

func TestHTTPMountedElsewhereWithHostLayout(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.BaseURL = "https://members.example.com/club/" })
	layout := func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>Club · %s</title><nav>host menu</nav>%s", template.HTMLEscapeString(title), body)
	}
	h, err := accounts.NewHandler(e.svc, accounts.HandlerConfig{Layout: layout})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/club/", http.StripPrefix("/club", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/club/signin")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(b), "<nav>host menu</nav>", "the host's layout wraps the page")
	assert.Contains(t, string(b), `action="/club/signin"`)
	assert.Contains(t, string(b), `href="/club/reset"`)

	_, err = e.svc.Register(t.Context(), accounts.RegisterInput{Email: "c@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	assert.Contains(t, e.mailTo("c@example.org", "Confirm").Text, "https://members.example.com/club/verify?token=")
}

// awayStore is a store whose database has gone away for session look-ups.
type awayStore struct{ accounts.Store }

func (awayStore) SessionByHash(context.Context, string) (accounts.Session, accounts.Account, error) {
	return accounts.Session{}, accounts.Account{}, &privacy.Error{Kind: privacy.ErrUnavailable, Message: "database away"}
}

func TestHTTPAuthenticateDatabaseAway(t *testing.T) {
	e := newEnvWith(t, awayStore{memstore.New()}, privmem.New())
	reached := false
	h := e.svc.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 43))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.False(t, reached)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a session that cannot be checked is not a session that ended")
	assert.Equal(t, "5", w.Header().Get("Retry-After"))

	reached = false
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.True(t, reached, "anonymous requests need no look-up and pass")
}

// signinFrom signs in over JSON as the client at ip (the handler trusts X-Forwarded-For).
func (s *server) signinFrom(ip, email, password string) resp {
	s.t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return s.do(http.MethodPost, "/accounts/signin", "", "application/json", bytes.NewReader(b),
		"Accept", "application/json", "X-Forwarded-For", ip)
}

// The throttle answers an address with an account exactly as one without: same
// statuses, bodies and Retry-After, try by try (audit #13 finding 8).
func TestHTTPSignInThrottleAnswersAlike(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{TrustedHeader: "X-Forwarded-For"})
	e.member("known@example.org", "correct horse")
	type answer struct {
		status     int
		body       string
		retryAfter string
	}
	var known, unknown []answer
	for range 15 {
		k := s.signinFrom("192.0.2.1", "known@example.org", "wrong horse")
		u := s.signinFrom("192.0.2.1", "unknown@example.org", "wrong horse")
		known = append(known, answer{k.status, k.body, k.header.Get("Retry-After")})
		unknown = append(unknown, answer{u.status, u.body, u.header.Get("Retry-After")})
		e.clock.Advance(6 * time.Second)
	}
	assert.Equal(t, unknown, known)
	statuses := map[int]int{}
	for _, a := range known {
		statuses[a.status]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 14, http.StatusTooManyRequests: 1}, statuses,
		"ten free tries, then a delay that doubles (1s, 2s, 4s, 8s) against 6s between tries")
}

// An attacker's 25 wrong guesses in 180 s from one address, within the per-client
// limit, do not keep the owner out: a source that has not failed may still sign in
// with the right password (audit #13 finding 8).
func TestHTTPSignInOwnerNotLockedOut(t *testing.T) {
	e := newEnv(t)
	lim := web.NewLimiter(20, time.Minute, 10) // the handler's default
	lim.Now = e.clock.Now
	s := newServer(t, e, accounts.HandlerConfig{TrustedHeader: "X-Forwarded-For", Limiter: lim})
	e.member("owner@example.org", "correct horse")
	statuses := map[int]int{}
	for i := range 25 {
		r := s.signinFrom("198.51.100.7", "owner@example.org", fmt.Sprintf("guess %d", i))
		statuses[r.status]++
		e.clock.Advance(180 * time.Second / 25)
	}
	t.Logf("attacker's answers: %v", statuses)
	assert.Equal(t, 25, statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests], "%v", statuses)
	assert.Positive(t, statuses[http.StatusTooManyRequests], "the attacker is slowed")

	r := s.signinFrom("203.0.113.5", "owner@example.org", "correct horse")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `"token"`)

	r = s.signinFrom("198.51.100.7", "owner@example.org", "correct horse")
	assert.Equal(t, http.StatusTooManyRequests, r.status, "the attacker's source stays slowed after the owner signs in")
}

// The register form marks every fault at once, each beside its field, a rule's
// predicate after the field's name; a fault of a field the form does not show is
// named above it. Every page sends the kit's security headers.
func TestHTTPRegisterFormEveryFault(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	r := s.form("/accounts/register", url.Values{"email": {"ann@"}, "password": {"short"}, "birth_date": {"soon"}})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.body, `<p class="error" role="alert">Please correct the fields marked below.</p>`)
	for _, f := range []string{"email", "password", "birth_date"} {
		assert.Contains(t, r.body, `id="`+f+`-error"`, f)
	}
	assert.NotContains(t, r.body, `id="display_name-error"`)
	js := s.json(http.MethodPost, "/accounts/register", "", map[string]any{"email": "ann@", "password": "short", "birth_date": "soon"})
	assert.Equal(t, "email", errorField(t, js), "the JSON answer names the first")

	long := s.form("/accounts/register", url.Values{"email": {"ann@example.org"}, "password": {"correct horse"}, "birth_date": {"1990-01-01"},
		"display_name": {strings.Repeat("x", accounts.MaxDisplayNameLen+1)}})
	assert.Contains(t, long.body, `<span class="error" id="display_name-error">Display name is longer than 100 characters</span>`)
	extra := s.form("/accounts/register", url.Values{"email": {"ann@example.org"}, "is_admin": {"1"}})
	assert.Contains(t, extra.body, `<p class="error" role="alert">The is_admin field is not a registration field</p>`)

	for _, h := range [][2]string{{"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"}, {"X-Frame-Options", "DENY"}} {
		assert.Equal(t, h[1], r.header.Get(h[0]), h[0])
	}
}
