package mysqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

var allowAll = privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return true, nil })

// pool is one process's worth of delivery: its own connection pool to the shared
// database, its own Mailer and Dispatcher.
type pool struct {
	store  *mysqlstore.Store
	mailer *privacy.Mailer
	disp   *privacy.Dispatcher
	cancel context.CancelFunc
	done   chan struct{}
}

func startPool(t *testing.T, dsn string, srv *mailtest.Server, workers int) *pool {
	t.Helper()
	db, err := mysqlstore.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := mysqlstore.New(db)
	require.NoError(t, store.Migrate(context.Background()))
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	require.NoError(t, err)
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), allowAll)
	p := &pool{store: store, mailer: m, done: make(chan struct{}),
		disp: &privacy.Dispatcher{Store: store, Transport: tr, Mailer: m, Workers: workers, Batch: 25,
			Poll: 20 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Lease: time.Minute}}
	return p
}

func (p *pool) run() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.disp.Run(ctx); close(p.done) }()
}

func (p *pool) stop() { p.cancel(); <-p.done }

func message(i int) privacy.Message {
	to := fmt.Sprintf("user%d@example.org", i)
	return privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: to, To: privacy.Address{Email: to},
		Subject: fmt.Sprintf("Message %d", i), Text: "Hello"}
}

// TestTwoPoolsExactlyOnce: two worker pools sharing one database deliver 2,000
// messages, every one exactly once, through a spell of 4xx answers.
func TestTwoPoolsExactlyOnce(t *testing.T) {
	const n = 2000
	dsn := mysqltest.NewDSN(t)
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()

	a, b := startPool(t, dsn, srv, 3), startPool(t, dsn, srv, 3)
	ctx := context.Background()
	for i := range n {
		p := a
		if i%2 == 1 {
			p = b
		}
		_, err := p.mailer.Send(ctx, message(i))
		require.NoError(t, err)
	}
	srv.SetMode(mailtest.TempFail)
	a.run()
	b.run()
	defer a.stop()
	defer b.stop()
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, srv.Messages(), "nothing accepted while the server answers 4xx")
	srv.SetMode(mailtest.Accept)

	msgs := srv.Wait(n, 90*time.Second)
	require.Eventually(t, func() bool {
		st, err := a.store.OutboxStats(ctx, "")
		return err == nil && st.Sent == n
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // let a stray duplicate show itself
	msgs = srv.Messages()
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Subject()]++
	}
	assert.Len(t, msgs, n, "every message delivered exactly once")
	for i := range n {
		assert.Equal(t, 1, count[fmt.Sprintf("Message %d", i)], "Message %d", i)
	}
}

// TestPermanentFailureSuppresses: a 5xx suppresses the address; later messages to it
// are refused at Send.
func TestPermanentFailureSuppresses(t *testing.T) {
	dsn := mysqltest.NewDSN(t)
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	p := startPool(t, dsn, srv, 1)
	srv.FailFor("user1@example.org", mailtest.PermFail)
	ctx := context.Background()
	p.mailer.SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{"account": 3}})
	_, err = p.mailer.Send(ctx, message(1))
	require.NoError(t, err)
	p.run()
	defer p.stop()
	// The dispatcher suppresses the address, then ends the message: wait for both.
	require.Eventually(t, func() bool {
		ok, _ := p.store.Suppressed(ctx, "user1@example.org")
		st, _ := p.store.OutboxStats(ctx, "")
		return ok && st == privacy.OutboxStats{Failed: 1}
	}, 10*time.Second, 20*time.Millisecond)
	// The message's purpose is limited (any visitor can send it to any address),
	// so the refusal is counted and the visitor answered alike (audit #13 finding 6).
	id, err := p.mailer.Send(ctx, message(1))
	require.NoError(t, err)
	assert.Zero(t, id, "nothing queued for a suppressed address")
	assert.Equal(t, int64(1), p.mailer.Refusals()[privacy.RefusedSuppressed])
	_, err = p.mailer.Send(ctx, message(2))
	require.NoError(t, err, "other addresses are unaffected")
}

// TestDeadWorkerLosesNothing: a worker that claims and dies before sending leaves
// the message to be delivered once its lease runs out.
func TestDeadWorkerLosesNothing(t *testing.T) {
	dsn := mysqltest.NewDSN(t)
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	p := startPool(t, dsn, srv, 1)
	ctx := context.Background()
	_, err = p.mailer.Send(ctx, message(7))
	require.NoError(t, err)

	// The dead worker: claims with a short lease and never reports back.
	claimed, err := p.store.Claim(ctx, "crashed-worker", 10, time.Now().UTC(), 500*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, claimed, 1)

	p.run()
	defer p.stop()
	time.Sleep(200 * time.Millisecond)
	assert.Empty(t, srv.Messages(), "not sent while the dead worker's lease holds")
	msgs := srv.Wait(1, 10*time.Second)
	require.Len(t, msgs, 1)
	assert.Equal(t, "Message 7", msgs[0].Subject())
}

// TestShutdownReleases: stopping a dispatcher mid-batch delivers or releases what it
// claimed; another process then delivers the rest, nothing twice.
func TestShutdownReleases(t *testing.T) {
	const n = 300
	dsn := mysqltest.NewDSN(t)
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	a := startPool(t, dsn, srv, 2)
	ctx := context.Background()
	for i := range n {
		_, err := a.mailer.Send(ctx, message(i))
		require.NoError(t, err)
	}
	a.disp.Lease = time.Hour // a claim left dangling would hold its message for an hour
	a.run()
	srv.Wait(20, 10*time.Second)
	a.stop()

	b := startPool(t, dsn, srv, 2)
	b.run()
	defer b.stop()
	msgs := srv.Wait(n, 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	msgs = srv.Messages()
	seen := map[string]bool{}
	for _, m := range msgs {
		assert.False(t, seen[m.Subject()], "%s delivered twice", m.Subject())
		seen[m.Subject()] = true
	}
	assert.Len(t, seen, n)
}

// TestHostEnlistsInUnitOfWork: a host's own write and the mail it causes commit
// together through Store.Do and Store.Ext; when the unit fails, neither is kept.
func TestHostEnlistsInUnitOfWork(t *testing.T) {
	db := mysqltest.New(t)
	store := mysqlstore.New(db)
	ctx := context.Background()
	require.NoError(t, store.Migrate(ctx))
	_, err := db.ExecContext(ctx, "CREATE TABLE orders (id INT PRIMARY KEY)")
	require.NoError(t, err)
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), allowAll)
	failed := errors.New("payment refused")
	for id, fail := range map[int]bool{1: true, 2: false} {
		err := store.Do(ctx, func(ctx context.Context) error {
			if _, err := store.Ext(ctx).ExecContext(ctx, "INSERT INTO orders (id) VALUES (?)", id); err != nil {
				return err
			}
			if _, err := m.Send(ctx, message(id)); err != nil {
				return err
			}
			if fail {
				return failed
			}
			return nil
		})
		if fail {
			require.ErrorIs(t, err, failed)
		} else {
			require.NoError(t, err)
		}
	}
	var orders []int
	require.NoError(t, sqlx.SelectContext(ctx, db, &orders, "SELECT id FROM orders"))
	assert.Equal(t, []int{2}, orders)
	st, err := store.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Queued, "only the committed order's message is queued")
}

// TestUnitOfWorkOneDatabase: a unit of work refuses a store of another pool, and a
// memory store, instead of committing them apart.
func TestUnitOfWorkOneDatabase(t *testing.T) {
	ctx := context.Background()
	a := mysqlstore.New(mysqltest.New(t))
	b := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, a.Migrate(ctx))
	require.NoError(t, b.Migrate(ctx))
	assert.NotEqual(t, a.Database(), b.Database())
	err := a.Do(ctx, func(ctx context.Context) error {
		return b.Do(ctx, func(ctx context.Context) error { return nil })
	})
	require.ErrorContains(t, err, "cannot include a store on")
	err = a.Do(ctx, func(ctx context.Context) error {
		return memstore.New().Do(ctx, func(ctx context.Context) error { return nil })
	})
	require.ErrorContains(t, err, "cannot include memory stores")
	err = memstore.New().Do(ctx, func(ctx context.Context) error {
		return a.Do(ctx, func(ctx context.Context) error { return nil })
	})
	require.ErrorContains(t, err, "a unit of work on memory cannot include")
	require.ErrorContains(t, privacy.SameDatabase("comments", a, memstore.New()), "must be on one database")
	require.NoError(t, privacy.SameDatabase("comments", a, a))
}

// TestHandOverAfterCommit: on MySQL, a batch a unit of work sends is handed to
// the running Dispatcher once the transaction commits, not before, and not at all
// if it rolls back; with claims an hour apart, nothing else could deliver it.
func TestHandOverAfterCommit(t *testing.T) {
	ctx := context.Background()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	p := startPool(t, mysqltest.NewDSN(t), srv, 2)
	p.disp.Poll = time.Hour
	p.run()
	defer p.stop()
	time.Sleep(50 * time.Millisecond) // its first claim, of an empty outbox, is done

	msgs := []privacy.Message{message(1), message(2), message(3)}
	require.NoError(t, p.store.Do(ctx, func(ctx context.Context) error {
		_, errs, err := p.mailer.SendBatch(ctx, msgs)
		require.NoError(t, err)
		require.Equal(t, []error{nil, nil, nil}, errs)
		time.Sleep(100 * time.Millisecond)
		assert.Empty(t, srv.Messages(), "nothing goes before the transaction commits")
		return nil
	}))
	got := srv.Wait(3, 10*time.Second)
	require.Len(t, got, 3, "handed over once committed")

	undone := errors.New("undone")
	err = p.store.Do(ctx, func(ctx context.Context) error {
		_, _, err := p.mailer.SendBatch(ctx, []privacy.Message{message(4)})
		require.NoError(t, err)
		return undone
	})
	require.ErrorIs(t, err, undone)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, srv.Messages(), 3, "a rolled-back transaction's mail never goes")
	require.Eventually(t, func() bool {
		st, err := p.store.OutboxStats(ctx, "")
		return err == nil && st == privacy.OutboxStats{Sent: 3}
	}, 10*time.Second, 10*time.Millisecond, "the three marked sent, the fourth never stored")
}

// TestHandOverAfterStop: a unit of work that commits after its Dispatcher
// stopped releases the batch it would have handed over, due at once: another
// Dispatcher delivers it without waiting for the lease.
func TestHandOverAfterStop(t *testing.T) {
	ctx := context.Background()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	dsn := mysqltest.NewDSN(t)
	p := startPool(t, dsn, srv, 1)
	p.run()
	require.NoError(t, p.store.Do(ctx, func(ctx context.Context) error {
		_, _, err := p.mailer.SendBatch(ctx, []privacy.Message{message(1)})
		require.NoError(t, err)
		p.stop()
		return nil
	}))
	assert.Empty(t, srv.Messages())
	q := startPool(t, dsn, srv, 1)
	q.disp.Lease = time.Hour
	q.run()
	defer q.stop()
	require.Len(t, srv.Wait(1, 10*time.Second), 1, "released at once, not left to its lease")
}
