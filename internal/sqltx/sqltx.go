// Package sqltx carries a database transaction in a context, so that work done by
// one package (the privacy outbox, a consent record) joins the transaction another
// package (a capability's store) opened: a message is enqueued if and only if the
// change that caused it commits. A transaction joins only the stores of the pool it
// was begun on.
package sqltx

import (
	"context"
	"database/sql"
	"fmt"

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

// Ext returns the transaction ctx carries if it was begun on db, or db.
func Ext(ctx context.Context, db *sqlx.DB) sqlx.ExtContext {
	if c, ok := ctx.Value(ctxKey{}).(current); ok && c.db == db {
		return c.tx
	}
	return db
}

// Do runs fn inside a transaction: the one ctx already carries (fn then joins it and
// the outer caller commits), or a new one that commits when fn returns nil and rolls
// back otherwise. A ctx carrying a unit of work of another database (another pool,
// or memory stores) is an error: the two could not commit together. Failures to
// begin or commit are translated by mysqldb.Translate; fn's own errors are returned
// as they are.
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
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return mysqldb.Translate(err)
	}
	if err := fn(With(ctx, db, tx), tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	// A connection lost at commit is ErrUnavailable (503), like any other.
	return mysqldb.Translate(tx.Commit())
}
