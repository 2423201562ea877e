package comments_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	commentsmysql "github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// The commenters of the tests. Every address a test uses is on example.org, so
// that "no public response holds an address" is checked as "no public response
// holds @example.org" (see env.serve).
const (
	ann   = "ann@example.org"
	bob   = "Bob.Builder@example.org"
	cy    = "cy+comments@example.org"
	dee   = "dee@example.org"
	eve   = "eve@example.org"
	base  = "https://blog.example.com/comments"
	topic = "blog/2026/hello-world"
)

var commenterAddr = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+(@|%40|&#64;|\\u0040)example\.org`)

// clock is a settable time shared by the service and the form signer.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a complete comments capability over one kind of store: its Service and
// Handler, the privacy stores beside it, and a real SMTP server behind the outbox.
type env struct {
	kind    string
	svc     *comments.Service
	store   comments.Store
	priv    privacy.Store
	mail    *mailtest.Harness
	policy  *privacy.Policy
	clock   *clock
	key     []byte
	handler *comments.Handler
	auditor *privacy.Auditor
	db      *sqlx.DB // the MySQL database, nil in memory
}

var stores = []string{"mem", "mysql"}

func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

type option func(*comments.Config, *comments.HandlerConfig)

func withModeration(m comments.Moderation) option {
	return func(c *comments.Config, _ *comments.HandlerConfig) { c.Moderation = m }
}

func newEnv(t testing.TB, kind string, opts ...option) *env {
	t.Helper()
	switch kind {
	case "mem":
		return newEnvOn(t, commentsmem.New(), privacymem.New(), nil, nil, opts...)
	case "mysql":
		return newEnvOn(t, nil, nil, mysqltest.New(t), nil, opts...)
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

// newEnvOn builds an env over a MySQL database (when db is set) or over the given
// memory stores, with clk as its clock (a new one when nil): two envs on one
// database or one pair of stores are two processes of one site.
func newEnvOn(t testing.TB, cs comments.Store, ps privacy.Store, db *sqlx.DB, clk *clock, opts ...option) *env {
	t.Helper()
	e := &env{kind: "mem", clock: clk, key: []byte(strings.Repeat("k", 32)), store: cs, priv: ps, db: db}
	if e.clock == nil {
		e.clock = &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	}
	e.policy = mailtest.Policy()
	if db != nil {
		ps, cs := privacymysql.New(db), commentsmysql.New(db)
		require.NoError(t, ps.Migrate(context.Background()))
		require.NoError(t, cs.Migrate(context.Background()))
		e.kind, e.store, e.priv = "mysql", cs, ps
	}
	e.mail = mailtest.NewHarness(t, e.policy, e.priv)
	e.auditor = &privacy.Auditor{Log: e.priv, Now: e.clock.Now}
	cfg := comments.Config{Store: e.store, Mailer: e.mail.Mailer, Auditor: e.auditor, Now: e.clock.Now, Key: e.key, BaseURL: base}
	hcfg := comments.HandlerConfig{Signer: &web.Signer{Key: e.key, Now: e.clock.Now}}
	for _, o := range opts {
		o(&cfg, &hcfg)
	}
	svc, err := comments.New(cfg)
	require.NoError(t, err)
	e.svc = svc
	h, err := comments.NewHandler(svc, hcfg)
	require.NoError(t, err)
	e.handler = h
	return e
}

var ctx = context.Background()

// moderator is a context whose actor moderates comments.
func moderator() context.Context {
	return privacy.WithActor(ctx, privacy.Actor{ID: "m1", Email: "mod@example.com", Roles: []privacy.Role{privacy.RoleModerator}})
}

// post posts a comment through the service and fails the test on error.
func (e *env) post(t testing.TB, in comments.Input) comments.Posted {
	t.Helper()
	if in.Thread == "" {
		in.Thread = topic
	}
	p, err := e.svc.Post(ctx, in)
	require.NoError(t, err)
	return p
}

func (e *env) handlerSigner() *web.Signer { return &web.Signer{Key: e.key, Now: e.clock.Now} }

// stamp returns a form stamp old enough to pass the signer.
func (e *env) stamp() string {
	return comments.Stamp(e.handler, &web.Signer{Key: e.key, Now: func() time.Time { return e.clock.Now().Add(-time.Minute) }})
}

// serve sends r to the handler and checks what every response must hold: no
// cookie and, unless it is the moderator's audited answer, no commenter's address.
func (e *env) serve(t testing.TB, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	assert.Empty(t, w.Result().Header.Values("Set-Cookie"), "%s %s set a cookie", r.Method, r.URL)
	if !strings.HasSuffix(r.URL.Path, "/email") {
		assertNoAddress(t, w.Body.String(), r.Method+" "+r.URL.String())
	}
	return w
}

func assertNoAddress(t testing.TB, body, where string) {
	t.Helper()
	if m := commenterAddr.FindString(body); m != "" {
		t.Errorf("%s: the response holds the commenter address %q", where, m)
	}
	for _, a := range []string{ann, bob, cy, dee, eve} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(a)) {
			t.Errorf("%s: the response holds %s", where, a)
		}
	}
}

func (e *env) get(t testing.TB, path string, accept string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return e.serve(t, r)
}

// postForm sends a URL-encoded form as a same-origin browser would.
func (e *env) postForm(t testing.TB, path string, v url.Values) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.RemoteAddr = "192.0.2.10:1234"
	return e.serve(t, r)
}

func (e *env) postJSON(t testing.TB, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.0.2.11:1234"
	return e.serve(t, r)
}

// asModerator wraps the handler so requests carry a moderator, as the host's
// sign-in middleware would.
func (e *env) asModerator(t testing.TB, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	return e.serve(t, r.WithContext(moderator()))
}

// outbox counts messages enqueued with ref.
func (e *env) outbox(t testing.TB, ref string) int {
	t.Helper()
	st, err := e.priv.OutboxStats(ctx, ref)
	require.NoError(t, err)
	return st.Total()
}

var linkRE = regexp.MustCompile(`https?://\S+/(confirm|stop|manage)/[A-Za-z0-9_-]{43}`)

// link returns the first link of kind in text, as a path relative to the mount.
func link(t testing.TB, text, kind string) string {
	t.Helper()
	for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
		if m[1] == kind {
			return strings.TrimPrefix(m[0], base)
		}
	}
	t.Fatalf("no %s link in %q", kind, text)
	return ""
}

func body(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	b, err := io.ReadAll(w.Result().Body)
	require.NoError(t, err)
	return string(b)
}
