package accounts_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privmem "github.com/consentkit/consentkit/privacy/memstore"
)

// fastArgon keeps unit tests quick; the rules under test do not depend on the cost.
var fastArgon = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t        testing.TB
	svc      *accounts.Service
	store    accounts.Store
	priv     privacy.Store
	mail     *mailtest.Harness
	clock    *clock
	registry *privacy.Registry
	consents *privacy.Consents
	auditor  *privacy.Auditor
}

// newEnv returns a Service over a memory store, with mail going through the real
// SMTP path to a recording server.
func newEnv(t testing.TB, opts ...func(*accounts.Config)) *env {
	t.Helper()
	return newEnvWith(t, memstore.New(), privmem.New(), opts...)
}

func newEnvWith(t testing.TB, store accounts.Store, priv privacy.Store, opts ...func(*accounts.Config)) *env {
	t.Helper()
	e := &env{t: t, store: store, priv: priv, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, registry: &privacy.Registry{}}
	e.mail = mailtest.NewHarness(t, nil, priv)
	e.consents = &privacy.Consents{Store: priv, Policy: e.mail.Mailer.Policy(), Now: e.clock.Now}
	e.auditor = &privacy.Auditor{Log: priv, Now: e.clock.Now}
	cfg := accounts.Config{Store: store, Mailer: e.mail.Mailer, Consents: e.consents, Registry: e.registry, Auditor: e.auditor,
		Now: e.clock.Now, Argon2: fastArgon}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := accounts.New(cfg)
	require.NoError(t, err)
	e.svc = svc
	e.registry.Register(svc.Holder())
	return e
}

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`)

// mailTo waits for a message to addr whose subject contains subject and returns it.
func (e *env) mailTo(addr, subject string) mailtest.Message {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.mail.Server.To(addr) {
			if strings.Contains(m.Subject(), subject) {
				return m
			}
		}
		e.mail.Dispatcher.Wake()
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("no message to %s with subject %q; got %d messages", addr, subject, len(e.mail.Server.Messages()))
	return mailtest.Message{}
}

// linkToken returns the token in the mailed link.
func (e *env) linkToken(m mailtest.Message) string {
	e.t.Helper()
	got := tokenRE.FindStringSubmatch(m.Text)
	require.NotNil(e.t, got, "no link in %q", m.Text)
	return got[1]
}

// register registers, verifies and returns the address's account.
func (e *env) member(email, password string) accounts.Account {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: email, Password: password, DisplayName: "M", BirthDate: "1990-01-01"})
	require.NoError(e.t, err)
	require.NoError(e.t, e.svc.Verify(ctx, e.linkToken(e.mailTo(email, "Confirm your address")), password))
	a, err := e.store.AccountByEmail(ctx, email)
	require.NoError(e.t, err)
	return a
}

// as returns a context signed in as the account of token.
func (e *env) as(token string) context.Context {
	e.t.Helper()
	ctx, err := e.svc.WithSession(context.Background(), token)
	require.NoError(e.t, err)
	return ctx
}

func (e *env) signIn(email, password string) (string, context.Context) {
	e.t.Helper()
	res, err := e.svc.SignIn(context.Background(), email, password)
	require.NoError(e.t, err)
	return res.Token, e.as(res.Token)
}
