package mysqlstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// BenchmarkOutbox measures durable delivery: b.N messages enqueued into the MySQL
// outbox (each committed before its Send returns, from 32 goroutines as concurrent
// requests would) and delivered by 4 workers, each over one persistent connection
// to the loopback test server. In the same run it measures the raw rate of the
// same transport over 4 connections with no outbox, and reports both and their
// ratio.
func BenchmarkOutbox(b *testing.B) {
	ctx := context.Background()
	srv, err := mailtest.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	if err != nil {
		b.Fatal(err)
	}
	db := mysqltest.New(b)
	db.SetMaxOpenConns(48)
	db.SetMaxIdleConns(48)
	store := mysqlstore.New(db)
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	mailer := privacy.NewMailer(mailtest.Policy(), store, nil)
	mailer.Allow(privacy.Purpose("account"), allowAll)
	msgs := make([]privacy.Message, b.N)
	for i := range msgs {
		msgs[i] = message(i)
		if err := mailer.Check(ctx, &msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	const conns = 4
	// Messages are enqueued by concurrent requests, each committing its own
	// transaction, as a site's handlers do; InnoDB then groups their log flushes.
	const enqueuers = 32

	b.ResetTimer()
	// Raw: the transport alone, 4 connections.
	start := time.Now()
	if err := mailtest.SendOver(ctx, tr, conns, msgs); err != nil {
		b.Error(err)
	}
	raw := time.Since(start)
	var next atomic.Int64
	var wg sync.WaitGroup
	srv.Reset()

	// Durable: enqueue and deliver through the outbox.
	start = time.Now()
	// Poll is the default: the mail is handed to the workers as it is stored
	// (privacy.LeasingStore), and Poll paces only the claims of mail the store
	// alone holds. At 5 ms, the value before hand-over, the claims of an empty
	// outbox were half the statements of the run.
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Workers: conns, Batch: 64}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	next.Store(0)
	for range enqueuers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(msgs)); i = next.Add(1) - 1 {
				if _, err := mailer.Send(ctx, msgs[i]); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := srv.Wait(b.N, 5*time.Minute)
	durable := time.Since(start)
	cancel()
	<-done
	b.StopTimer()
	if len(got) != b.N {
		b.Fatalf("delivered %d of %d", len(got), b.N)
	}
	rawRate := float64(b.N) / raw.Seconds()
	rate := float64(b.N) / durable.Seconds()
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(rawRate, "raw-msg/s")
	b.ReportMetric(rate/rawRate, "ratio")
	b.ReportMetric(0, "ns/op")
}
