package sqltx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	contactsql "github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

// stallProxy passes a proxied connection's bytes on until it is told to stall:
// from then on it passes nothing on, either way, and closes nothing, as a
// server that keeps its connections and stops answering (a Galera node holding
// its commits while the cluster changes membership) looks to a client.
type stallProxy struct {
	mu      sync.Mutex
	resumed chan struct{} // open while the proxy is stalled
}

func (p *stallProxy) serve(client, server net.Conn) {
	go p.pipe(client, server)
	p.pipe(server, client)
}

// pipe copies from src to dst, holding each read while the proxy is stalled.
func (p *stallProxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			resumed := p.resumed
			p.mu.Unlock()
			<-resumed
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumed = make(chan struct{})
}

func (p *stallProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.resumed)
}

// stalling returns a pool on a new database through a stallProxy, the proxy,
// and a pool on the same database straight to the server.
func stalling(t *testing.T) (*sqlx.DB, *stallProxy, *sqlx.DB) {
	p := &stallProxy{resumed: make(chan struct{})}
	close(p.resumed)
	db, direct := mysqltest.Proxied(t, p.serve)
	return db, p, direct
}

// answered runs call and returns its error, failing the test if call has not
// returned within limit: it stands for a request that never gets an answer.
func answered(t *testing.T, limit time.Duration, call func() error) (error, time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("no answer within %s", limit)
		return nil, 0
	}
}

// TestWithinCutsOffAStalledServer: a store's call with a context from
// mysqldb.Within, on a server that stops answering, ends by the deadline with
// ErrUnavailable and a Retry-After, at whatever point it stalls: a statement
// outside a transaction, a statement inside one, or the COMMIT, which the
// driver sends without watching any context (before the fix a request whose
// commit a Galera node held waited as long as the node did). The pool is sound
// afterwards: the connections cut off are not handed out again.
func TestWithinCutsOffAStalledServer(t *testing.T) {
	const limit = time.Second
	db, p, direct := stalling(t)
	store := contactsql.New(direct)
	require.NoError(t, store.Migrate(context.Background()))
	store = contactsql.New(db)
	n := 0
	create := func(ctx context.Context) error {
		n++
		now := time.Now().UTC().Truncate(time.Second)
		return store.Create(ctx, &contact.Request{Ref: fmt.Sprintf("STALL-%d", n), Email: "a@example.org",
			Subject: "s", Message: "m", Status: contact.StatusOpen, Created: now, Updated: now})
	}

	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"statement", func(ctx context.Context) error {
			p.stall()
			_, err := store.List(ctx, contact.Filter{})
			return err
		}},
		{"in a transaction", func(ctx context.Context) error {
			return store.Do(ctx, func(ctx context.Context) error {
				if err := create(ctx); err != nil {
					return err
				}
				p.stall()
				return create(ctx)
			})
		}},
		{"commit", func(ctx context.Context) error {
			return store.Do(ctx, func(ctx context.Context) error {
				err := create(ctx)
				p.stall()
				return err
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err, took := answered(t, 10*limit, func() error { return c.call(mysqldb.Within(context.Background(), limit)) })
			p.resume()
			require.ErrorIs(t, err, privacy.ErrUnavailable, "%v", err)
			var pe *privacy.Error
			require.True(t, errors.As(err, &pe))
			assert.Positive(t, pe.RetryAfter)
			assert.Less(t, took, limit+time.Second, "answered %s after the deadline", took-limit)

			_, err = store.List(context.Background(), contact.Filter{})
			require.NoError(t, err, "the pool serves again once the server answers")
		})
	}
}

// TestWithinLeavesFastCallsAlone: calls that end before the deadline are not
// touched by it, nor are the calls that come after them on the same connections.
func TestWithinLeavesFastCallsAlone(t *testing.T) {
	db := newTable(t)
	mysqldb.SetMaxConns(db, 1)
	ctx := mysqldb.Within(context.Background(), 300*time.Millisecond)
	for range 3 {
		require.NoError(t, sqltx.Do(ctx, db, func(ctx context.Context, tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE id = 1`)
			return err
		}))
	}
	time.Sleep(400 * time.Millisecond) // past the deadline: the connection is still good
	require.NoError(t, sqltx.Do(context.Background(), db, func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE id = 1`)
		return err
	}))
	var v int
	require.NoError(t, db.Get(&v, `SELECT v FROM t WHERE id = 1`))
	assert.Equal(t, 4, v)
	err := sqltx.Do(ctx, db, func(ctx context.Context, tx *sqlx.Tx) error { return nil })
	assert.ErrorIs(t, err, privacy.ErrUnavailable, "a call after the deadline is not begun")
}
