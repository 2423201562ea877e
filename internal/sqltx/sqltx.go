// Package sqltx carries a database transaction in a context, so that work done by
// one package (the privacy outbox, a consent record) joins the transaction another
// package (a capability's store) opened: a message is enqueued if and only if the
// change that caused it commits.
package sqltx

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
)

type ctxKey struct{}

// With returns a context that carries tx.
func With(ctx context.Context, tx *sqlx.Tx) context.Context {
	return context.WithValue(ctx, ctxKey{}, tx)
}

// Ext returns the transaction ctx carries, or db when it carries none.
func Ext(ctx context.Context, db *sqlx.DB) sqlx.ExtContext {
	if tx, ok := ctx.Value(ctxKey{}).(*sqlx.Tx); ok {
		return tx
	}
	return db
}

// Do runs fn inside a transaction: the one ctx already carries (fn then joins it and
// the outer caller commits), or a new one that commits when fn returns nil and rolls
// back otherwise. Failures to begin or commit are translated by mysqldb.Translate;
// fn's own errors are returned as they are.
//
// New transactions run at READ COMMITTED: InnoDB then takes no gap locks, which under
// REPEATABLE READ make concurrent inserts deadlock with the outbox's
// SELECT ... FOR UPDATE SKIP LOCKED claims.
func Do(ctx context.Context, db *sqlx.DB, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	if tx, ok := ctx.Value(ctxKey{}).(*sqlx.Tx); ok {
		return fn(ctx, tx)
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return mysqldb.Translate(err)
	}
	if err := fn(With(ctx, tx), tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	// A connection lost at commit is ErrUnavailable (503), like any other.
	return mysqldb.Translate(tx.Commit())
}
