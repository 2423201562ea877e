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
)

// Up applies every migration in fsys (files named like 00001_init.sql) that the
// version table has not recorded. Applying twice is a no-op.
func Up(ctx context.Context, db *sql.DB, fsys fs.FS, table string) error {
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys,
		goose.WithTableName(table),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(namedLock{name: "consentkit:" + table, timeout: time.Minute}),
	)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	return nil
}

// namedLock is a goose session locker over MySQL's GET_LOCK, which is held by one
// connection and released when it closes, so a crashed migrator never leaves it set.
type namedLock struct {
	name    string
	timeout time.Duration
}

func (l namedLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", l.name, int(l.timeout.Seconds())).Scan(&got); err != nil {
		return err
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("migration lock %q not acquired within %s", l.name, l.timeout)
	}
	return nil
}

func (l namedLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", l.name)
	return err
}
