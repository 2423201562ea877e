package contact_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	contactmysql "github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/web"
)

const (
	inbox   = "support@example.com"
	visitor = "ann@example.org"
)

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

// env is a complete contact capability over one kind of store: its Service and
// Handler, the privacy stores beside it, and a real SMTP server behind the outbox.
type env struct {
	kind    string
	svc     *contact.Service
	store   contact.Store
	priv    privacy.Store
	mail    *mailtest.Harness
	policy  *privacy.Policy
	clock   *clock
	signer  *web.Signer
	handler http.Handler
}

// stores lists the kinds of store every end-to-end test runs on.
var stores = []string{"mem", "mysql"}

func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

type option func(*contact.Config, *contact.HandlerConfig)

func newEnv(t *testing.T, kind string, opts ...option) *env {
	t.Helper()
	e := &env{kind: kind, clock: &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}}
	e.policy = mailtest.Policy()
	switch kind {
	case "mem":
		e.store, e.priv = contactmem.New(), privacymem.New()
	case "mysql":
		db := mysqltest.New(t)
		ps, cs := privacymysql.New(db), contactmysql.New(db)
		require.NoError(t, ps.Migrate(context.Background()))
		require.NoError(t, cs.Migrate(context.Background()))
		e.store, e.priv = cs, ps
	default:
		t.Fatalf("unknown store %q", kind)
	}
	e.mail = mailtest.NewHarness(t, e.policy, e.priv)
	cfg := contact.Config{
		Store: e.store, Mailer: e.mail.Mailer, Auditor: &privacy.Auditor{Log: e.priv, Now: e.clock.Now},
		Policy: e.policy, Now: e.clock.Now, SupportInbox: inbox, StaffURL: "https://example.com/contact",
	}
	e.signer = &web.Signer{Key: []byte("0123456789abcdef0123456789abcdef"), Now: e.clock.Now}
	hcfg := contact.HandlerConfig{Signer: e.signer, Limiter: web.NewLimiter(1000, time.Second, 1000), BaseURL: "/"}
	for _, o := range opts {
		o(&cfg, &hcfg)
	}
	var err error
	e.svc, err = contact.New(cfg)
	require.NoError(t, err)
	h, err := contact.NewHandler(e.svc, hcfg)
	require.NoError(t, err)
	e.handler = withActor(h)
	return e
}

// withActor stands in for the host's sign-in middleware: X-Test-Role names the
// signed-in staff member's role; no header is an anonymous visitor.
func withActor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role := r.Header.Get("X-Test-Role"); role != "" {
			r = r.WithContext(privacy.WithActor(r.Context(), privacy.Actor{ID: "staff-1", Email: "staff@example.com", Roles: []privacy.Role{privacy.Role(role)}}))
		}
		next.ServeHTTP(w, r)
	})
}

func staff(role privacy.Role) context.Context {
	return privacy.WithActor(context.Background(), privacy.Actor{ID: "staff-1", Email: "staff@example.com", Roles: []privacy.Role{role}})
}

var support = staff(privacy.RoleSupport)

// stamp returns a form timestamp signed now, and moves the clock past MinAge.
func (e *env) stamp() string {
	s := e.signer.Stamp()
	e.clock.Add(5 * time.Second)
	return s
}

// count returns how many requests the store holds and how many messages the outbox does.
func (e *env) count(t *testing.T) (requests, messages int) {
	t.Helper()
	rs, err := e.store.List(context.Background(), contact.Filter{Limit: 1000})
	require.NoError(t, err)
	st, err := e.priv.OutboxStats(context.Background(), "")
	require.NoError(t, err)
	return len(rs), st.Total()
}

func (e *env) access(t *testing.T) []privacy.Access {
	t.Helper()
	as, err := e.priv.ListAccess(context.Background(), privacy.AccessFilter{Limit: 1000})
	require.NoError(t, err)
	return as
}

func valid() contact.Submission {
	return contact.Submission{Name: "Ann Example", Email: visitor, Subject: "Order 1234 has not arrived",
		Message: "Hello,\nmy order has not arrived yet.\nThanks, Ann", Category: "Support"}
}
