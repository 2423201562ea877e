// Package sqltx carries a database transaction in a context, so that work done by
// one package (the privacy outbox, a consent record) joins the transaction another
// package (a capability's store) opened: a message is enqueued if and only if the
// change that caused it commits. A transaction joins only the stores of the pool it
// was begun on.
package sqltx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/privacy"
)

type ctxKey struct{}

type current struct {
	db *sqlx.DB
	tx *sqlx.Tx
}

// Name is what a store on db names as its privacy.UnitOfWork Database: the pool,
// since a transaction is one connection of one pool.
func Name(db *sqlx.DB) string { return fmt.Sprintf("MySQL pool %p", db) }

// With returns a context that carries tx, begun on db.
func With(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx) context.Context {
	ctx = context.WithValue(ctx, privacy.DatabaseKey{}, Name(db))
	return context.WithValue(ctx, ctxKey{}, current{db, tx})
}

// Ext returns the transaction ctx carries if it was begun on db, or else db, each
// of whose statements waits at most mysqldb.MaxWait for a connection.
//
// Every store reaches the database through Ext or Do, so that work done inside a
// transaction joins it: with a bounded pool, a goroutine that holds a transaction's
// connection and asks the pool for another can wait for ever, as can a burst of
// such goroutines that between them hold every connection.
func Ext(ctx context.Context, db *sqlx.DB) sqlx.ExtContext {
	if c, ok := ctx.Value(ctxKey{}).(current); ok && c.db == db {
		return c.tx
	}
	return pool{db}
}

// InTx reports whether ctx carries a transaction of db.
func InTx(ctx context.Context, db *sqlx.DB) bool {
	c, ok := ctx.Value(ctxKey{}).(current)
	return ok && c.db == db
}

// pool is a database outside any transaction: each statement asks the pool for a
// connection through mysqldb.Waiting.
type pool struct{ db *sqlx.DB }

// ExecContext runs a statement on its own, again if it fails with a conflict, up
// to Attempts times: a statement outside a transaction is one that failed whole
// and changed nothing. On a Galera cluster two nodes upserting one row (a mail
// count, a page's views) at once is such a conflict, which the node retries
// once by itself (wsrep_retry_autocommit) and then reports.
func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := retry(ctx, func() error {
		var err error
		res, err = p.db.ExecContext(mysqldb.Waiting(ctx), query, args...)
		return err
	})
	return res, err
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(mysqldb.Waiting(ctx), query, args...)
}

func (p pool) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	return p.db.QueryxContext(mysqldb.Waiting(ctx), query, args...)
}

func (p pool) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	return p.db.QueryRowxContext(mysqldb.Waiting(ctx), query, args...)
}

func (p pool) DriverName() string         { return p.db.DriverName() }
func (p pool) Rebind(query string) string { return p.db.Rebind(query) }
func (p pool) BindNamed(query string, arg any) (string, []any, error) {
	return p.db.BindNamed(query, arg)
}

// Do runs fn inside a transaction: the one ctx already carries (fn then joins it and
// the outer caller commits), or a new one that commits when fn returns nil and rolls
// back otherwise. A ctx carrying a unit of work of another database (another pool,
// or memory stores) is an error: the two could not commit together. Failures to
// begin or commit are translated by mysqldb.Translate; fn's own errors are returned
// as they are.
//
// A new transaction that fails with a conflict (mysqldb.Conflict: an InnoDB
// deadlock, or a Galera node's certification failure at commit) is rolled back and
// run again, up to Attempts times, so fn must set, not add to, what it reports
// outside the transaction. A joined one is not: the conflict rolled back the
// caller's whole transaction, which only the caller can run again; it gets the
// error, which Translate makes a 503 with Retry-After.
//
// A ctx from mysqldb.Within ends the transaction, its retries included, by its
// deadline: a statement, BEGIN or COMMIT still running then is cut off and Do
// returns ErrUnavailable.
//
// New transactions run at READ COMMITTED: InnoDB then takes no gap locks, which under
// REPEATABLE READ make concurrent inserts deadlock with the outbox's
// SELECT ... FOR UPDATE SKIP LOCKED claims.
func Do(ctx context.Context, db *sqlx.DB, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	if c, ok := ctx.Value(ctxKey{}).(current); ok && c.db == db {
		return fn(ctx, c.tx)
	}
	if other, ok := ctx.Value(privacy.DatabaseKey{}).(string); ok {
		return fmt.Errorf("a unit of work on %s cannot include a store on %s", other, Name(db))
	}
	return retry(ctx, func() error { return once(ctx, db, fn) })
}

// retry runs fn, which does all its work or none, until it does not fail with a
// conflict, at most Attempts times.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if attempt == Attempts || !mysqldb.Conflict(err) {
			return err
		}
		// Apart, and further apart each time (at random up to 5 ms, 10, 20, ...,
		// at most 320 ms), so that the writers of one hot row, on a cluster
		// several nodes' worth, stop colliding again.
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt-1, 6)))):
		case <-ctx.Done():
			return err
		}
	}
}

// Attempts is how many times Do runs a new transaction, and Ext a statement
// outside one, that keeps conflicting.
const Attempts = 10

func once(ctx context.Context, db *sqlx.DB, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	// One waiter for the whole transaction, so that its statements, and not only
	// its BEGIN and COMMIT, end by the deadline Within set.
	ctx = mysqldb.Waiting(ctx)
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return mysqldb.Translate(err)
	}
	// What the work registered with privacy.AfterWork runs once the transaction
	// has ended; a commit that failed counts as undone, though a commit cut off
	// may have been applied (what is handed over after it then waits for its lease).
	wctx, ended := privacy.WithAfterWork(ctx)
	if err := fn(With(wctx, db, tx), tx); err != nil {
		_ = tx.Rollback()
		ended(false)
		return cutShort(ctx, err)
	}
	// A connection lost at commit is ErrUnavailable (503), like any other, and
	// so is a commit cut off at the deadline.
	err = tx.Commit()
	ended(err == nil)
	return mysqldb.Translate(err)
}

// cutShort returns fn's error err as the deadline's, a 503, when the deadline
// Within set passed while fn ran: a statement then fails with the deadline's
// error, but one after it, on the transaction database/sql rolled back at the
// deadline, with sql.ErrTxDone, which would otherwise be a 500. An error a store
// classified (a *privacy.Error) is kept.
func cutShort(ctx context.Context, err error) error {
	var pe *privacy.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.As(err, &pe) {
		return mysqldb.Translate(fmt.Errorf("%w (%w)", context.DeadlineExceeded, err))
	}
	return err
}
