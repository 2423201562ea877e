package newsletter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	newsmem "github.com/consentkit/consentkit/newsletter/memstore"
	newsmysql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/web"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// clock is a settable time. It starts at the real time, because the outbox and the
// dispatcher beside the service use the real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// env is the newsletter capability over one kind of store: its Service and Handler
// (mounted under /newsletter/), the privacy stores beside it, and a real SMTP server
// behind the outbox.
type env struct {
	kind     string
	config   newsletter.Config // the Service's
	svc      *newsletter.Service
	store    newsletter.Store
	priv     privacy.Store
	mail     *mailtest.Harness
	consents *privacy.Consents
	policy   *privacy.Policy
	clock    *clock
	signer   *web.Signer
	handler  http.Handler
}

var stores = []string{"mem", "mysql"}

func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

type option func(*newsletter.Config, *newsletter.HandlerConfig)

func newEnv(t testing.TB, kind string, opts ...option) *env {
	t.Helper()
	e := &env{kind: kind, clock: &clock{}}
	e.policy = mailtest.Policy()
	switch kind {
	case "mem":
		e.store, e.priv = newsmem.New(), privacymem.New()
	case "mysql":
		db := mysqltest.New(t)
		ps, ns := privacymysql.New(db), newsmysql.New(db)
		require.NoError(t, ps.Migrate(context.Background()))
		require.NoError(t, ns.Migrate(context.Background()))
		e.store, e.priv = ns, ps
	default:
		t.Fatalf("unknown store %q", kind)
	}
	e.mail = mailtest.NewHarness(t, e.policy, e.priv)
	e.consents = &privacy.Consents{Store: e.priv, Policy: e.policy, Now: e.clock.Now}
	cfg := newsletter.Config{Store: e.store, Mailer: e.mail.Mailer, Outbox: e.priv, Consents: e.consents,
		Auditor: &privacy.Auditor{Log: e.priv, Now: e.clock.Now}, Now: e.clock.Now, Secret: secret, BatchSize: 7, LeftRetention: 30 * 24 * time.Hour}
	e.signer = &web.Signer{Key: secret, Now: e.clock.Now}
	hcfg := newsletter.HandlerConfig{Signer: e.signer, Limiter: web.NewLimiter(1000, time.Minute, 1000)}
	for _, o := range opts {
		o(&cfg, &hcfg)
	}
	var err error
	e.config = cfg
	e.svc, err = newsletter.New(cfg)
	require.NoError(t, err)
	h, err := newsletter.NewHandler(e.svc, hcfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/newsletter/", http.StripPrefix("/newsletter", h))
	e.handler = mux
	return e
}

func editor() context.Context {
	return privacy.WithActor(context.Background(), privacy.Actor{ID: "ed1", Email: "editor@example.com", Roles: []privacy.Role{privacy.RoleEditor}})
}

// mails waits until rcpt has at least n messages and returns them.
func (e *env) mails(t testing.TB, rcpt string, n int) []mailtest.Message {
	t.Helper()
	var got []mailtest.Message
	require.Eventually(t, func() bool {
		got = e.mail.Server.To(rcpt)
		return len(got) >= n
	}, 10*time.Second, 10*time.Millisecond, "%s: want %d messages", rcpt, n)
	return got
}

// settle waits until the outbox holds nothing queued.
func (e *env) settle(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := e.priv.OutboxStats(context.Background(), "")
		return err == nil && st.Queued == 0
	}, 10*time.Second, 10*time.Millisecond)
}

// sent waits until the outbox counts n messages with ref as sent. The SMTP server
// holds a message before the Dispatcher marks its row sent (it marks a whole batch
// once the batch is through), so a message in the server's inbox does not yet mean
// a row marked sent.
func (e *env) sent(t testing.TB, ref string, n int, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.priv.OutboxStats(context.Background(), ref)
		require.NoError(t, err)
		if st.Sent >= n {
			require.Equal(t, n, st.Sent, "%s: Ref=%q sent", msg, ref)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: outbox for Ref=%q is %+v, want %d sent", msg, ref, st, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var linkRe = regexp.MustCompile(`http://127\.0\.0\.1:8080(/newsletter/[a-z]+\?t=[A-Za-z0-9_-]+)`)

// link returns the path of the first link to page in text.
func link(t testing.TB, text, page string) string {
	t.Helper()
	for _, m := range linkRe.FindAllStringSubmatch(text, -1) {
		if strings.HasPrefix(m[1], "/newsletter/"+page+"?") {
			return m[1]
		}
	}
	t.Fatalf("no %s link in %q", page, text)
	return ""
}

func token(t testing.TB, path string) string {
	t.Helper()
	_, tok, ok := strings.Cut(path, "?t=")
	require.True(t, ok, path)
	return tok
}

// member subscribes addr to lists and confirms, as a person would.
func (e *env) member(t testing.TB, addr string, lists ...newsletter.List) {
	t.Helper()
	before := len(e.mail.Server.To(addr))
	require.NoError(t, e.svc.Subscribe(context.Background(), addr, lists))
	msgs := e.mails(t, addr, before+1)
	_, err := e.svc.Confirm(context.Background(), token(t, link(t, msgs[len(msgs)-1].Text, "confirm")))
	require.NoError(t, err)
}

func (e *env) status(t testing.TB, addr string, l newsletter.List) newsletter.Status {
	t.Helper()
	sub, err := e.store.Subscription(context.Background(), addr, l)
	if err != nil {
		require.ErrorIs(t, err, privacy.ErrNotFound)
		return ""
	}
	return sub.Status
}

type response struct {
	Code   int
	Header http.Header
	Body   string
}

// do serves one request through the mounted handler.
func (e *env) do(t testing.TB, method, target, contentType, body string, hdr ...string) response {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	switch r.Header.Get("X-Test-Actor") {
	case "editor":
		r = r.WithContext(editor())
	case "moderator":
		r = r.WithContext(privacy.WithActor(r.Context(), privacy.Actor{ID: "m1", Roles: []privacy.Role{privacy.RoleModerator}}))
	case "admin":
		r = r.WithContext(privacy.WithActor(r.Context(), privacy.Actor{ID: "a1", Email: "boss@example.com", Roles: []privacy.Role{privacy.RoleAdmin}}))
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return response{Code: w.Code, Header: w.Result().Header, Body: string(b)}
}

// campaign creates and sends a campaign to l now, and returns it once enqueued.
func (e *env) campaign(t testing.TB, l newsletter.List, subject, md string) newsletter.Campaign {
	t.Helper()
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: l, Subject: subject, Markdown: md})
	require.NoError(t, err)
	_, err = e.svc.Schedule(editor(), c.ID, time.Time{})
	require.NoError(t, err)
	_, err = e.svc.SendDue(context.Background())
	require.NoError(t, err)
	c, err = e.svc.Campaign(editor(), c.ID)
	require.NoError(t, err)
	require.Equal(t, newsletter.CampaignSent, c.Status)
	return c
}

// subjects returns the subjects of the messages rcpt received.
func (e *env) subjects(rcpt string) []string {
	var out []string
	for _, m := range e.mail.Server.To(rcpt) {
		out = append(out, m.Subject())
	}
	return out
}

// bothLists are the names of newsletter.DefaultLists.
var bothLists = []newsletter.List{newsletter.ListNewsletter, newsletter.ListPromotions}
