// Package migrate applies a package's embedded SQL migrations with goose, each
// package under its own version table, serialised across processes by a MySQL named
// lock so that two processes starting at once apply every migration exactly once.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/consentkit/consentkit/internal/mysqldb"
)

// lockTimeout bounds the wait for another process's migration.
const lockTimeout = time.Minute

// Up applies every migration in fsys (files named like 00001_init.sql) that the
// version table has not recorded. Applying twice is a no-op.
//
// The whole run, goose's version-table creation included, holds a MySQL named lock
// (GET_LOCK) on a dedicated connection. goose's own session locker does not cover
// the version-table check, which races when two processes start on an empty database.
// The lock belongs to the connection, so a migrator that dies never leaves it held.
//
// The lock's connection is held while goose takes one of its own: on a pool of
// mysqldb.Open's, both come from a pool of the migration's own, so that a caller's
// bounded pool, or other migrations waiting for the lock with a connection of it
// each, never leave the migration waiting for a connection.
func Up(ctx context.Context, db *sql.DB, fsys fs.FS, table string) error {
	if c, ok := mysqldb.Connector(db); ok {
		own := sql.OpenDB(c)
		defer own.Close()
		db = own
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys,
		goose.WithTableName(table),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	defer conn.Close()
	name := "consentkit:" + table
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqldb.LockName+", ?)", name, int(lockTimeout.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", table, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("migrate %s: another process held the migration lock for %s", table, lockTimeout)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK("+mysqldb.LockName+")", name)
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	return nil
}
