// Package mysqldb opens MySQL connections the way every consentkit adapter expects
// them: times parsed as UTC time.Time, utf8mb4, and strict SQL mode, so that bad data
// is an error rather than a silent truncation.
package mysqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/privacy"
)

// Config parses dsn and sets the options consentkit depends on.
func Config(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	cfg.Collation = "utf8mb4_bin"
	// A statement with arguments is otherwise a prepare, an execute and a close:
	// two round trips, each a wait for the server under load, for every query of
	// every store (the outbox's enqueue, claim and marks among them). The driver
	// escapes the arguments itself, which is sound for utf8mb4 and follows the
	// server's NO_BACKSLASH_ESCAPES.
	cfg.InterpolateParams = true
	return cfg, nil
}

// Open connects to dsn and checks the connection.
func Open(ctx context.Context, dsn string) (*sqlx.DB, error) {
	cfg, err := Config(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sqlx.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s@%s: %w", cfg.User, cfg.Addr, err)
	}
	return db, nil
}

// Translate maps driver errors to privacy error kinds: a duplicate key is
// ErrConflict, no rows is ErrNotFound, a lost or refused connection is
// ErrUnavailable (the site answers 503 while the database is away). Other errors
// are returned unchanged.
func Translate(err error) error {
	var me *mysql.MySQLError
	var ne net.Error
	var oe *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return &privacy.Error{Kind: privacy.ErrNotFound, Err: err}
	case errors.As(err, &me) && me.Number == 1062:
		return &privacy.Error{Kind: privacy.ErrConflict, Message: "already exists", Err: err}
	case errors.As(err, &me) && me.Number == 1040:
		// Too many connections: the pool is not bounded, since a bound can deadlock
		// requests that hold one connection and wait for another; a refused
		// connection is a 503 the client retries.
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the server is busy, try again shortly", RetryAfter: 2 * time.Second, Err: err}
	case errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205):
		// deadlock or lock wait timeout: the caller may retry
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "busy, try again", RetryAfter: time.Second, Err: err}
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.As(err, &oe), errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED):
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the database is unavailable, try again shortly", RetryAfter: 5 * time.Second, Err: err}
	}
	return err
}
