package mailtest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// Policy returns a policy for tests: the operator's mail domain is example.com
// (support@example.com, noreply@example.com) and every purpose is described. It
// declares no data categories: tests that check the registry add their own.
func Policy() *privacy.Policy {
	return &privacy.Policy{
		Operator:        "Example Ltd",
		Contact:         "privacy@example.com",
		Sender:          "noreply@example.com",
		OperatorDomains: []string{"example.com"},
		SiteURL:         "http://127.0.0.1:8080",
		Version:         "2026-11-01",
		Effective:       time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	}
}

// Harness is a complete mail path for a test: a Mailer over an outbox store,
// delivered by a Dispatcher through the real SMTP transport to a recording Server.
type Harness struct {
	Server     *Server
	Store      privacy.OutboxStore
	Mailer     *privacy.Mailer
	Dispatcher *privacy.Dispatcher
}

// NewHarness starts a Server and a Dispatcher that runs until the test ends. store
// may be nil for a memory outbox; policy may be nil for Policy().
func NewHarness(tb testing.TB, policy *privacy.Policy, store privacy.OutboxStore) *Harness {
	tb.Helper()
	if policy == nil {
		policy = Policy()
	}
	if store == nil {
		store = memstore.New()
	}
	srv, err := Start()
	if err != nil {
		tb.Fatalf("mailtest: %v", err)
	}
	tb.Cleanup(func() { srv.Close() })
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none", Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("mailtest: %v", err)
	}
	m := privacy.NewMailer(policy, store, nil)
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: m, Workers: 2, Poll: 20 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return &Harness{Server: srv, Store: store, Mailer: m, Dispatcher: d}
}

// SendOver sends msgs through tr over conns connections at once, each taking the
// next message not yet sent, with no outbox: the raw rate of a transport, which
// the benchmarks measure the durable paths against. It returns the first error.
func SendOver(ctx context.Context, tr privacy.Transport, conns int, msgs []privacy.Message) error {
	var next atomic.Int64
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			c, err := tr.Dial(ctx)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			for i := next.Add(1) - 1; i < int64(len(msgs)); i = next.Add(1) - 1 {
				if err := c.Send(ctx, &msgs[i]); err != nil && errs[w] == nil {
					errs[w] = err
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
