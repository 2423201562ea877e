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
	"strings"
	"sync/atomic"
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

// Open connects to dsn and checks the connection. The pool holds at most
// DefaultMaxConns connections (SetMaxConns changes it); a call marked by Waiting
// waits at most MaxWait for one.
func Open(ctx context.Context, dsn string) (*sqlx.DB, error) { return OpenNodes(ctx, dsn) }

// OpenNodes is Open over the nodes of a Galera cluster, one DSN each: the pool
// opens each new connection on the next node in turn, so that the calls of a
// pool that keeps no idle connection (SetMaxIdleConns(0)) alternate nodes, as
// the calls of a site behind a load balancer do. Read-your-writes across nodes
// then takes wsrep_sync_wait in each DSN (README, "On a Galera cluster").
func OpenNodes(ctx context.Context, dsns ...string) (*sqlx.DB, error) {
	var nodes roundRobin
	for _, dsn := range dsns {
		cfg, err := Config(dsn)
		if err != nil {
			return nil, err
		}
		if cfg.Net == "tcp" || cfg.Net == "unix" { // not a network of a dial function registered with the driver
			cfg.DialFunc = dial
		}
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		nodes.cs = append(nodes.cs, c)
		nodes.addrs = append(nodes.addrs, cfg.User+"@"+cfg.Addr)
	}
	var c driver.Connector = nodes.cs[0]
	if len(dsns) > 1 {
		c = &nodes
	}
	db := sqlx.NewDb(sql.OpenDB(connector{c}), "mysql")
	db.SetConnMaxLifetime(5 * time.Minute)
	SetMaxConns(db, DefaultMaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s: %w", strings.Join(nodes.addrs, ","), err)
	}
	return db, nil
}

// roundRobin connects to each of its nodes in turn.
type roundRobin struct {
	cs    []driver.Connector
	addrs []string
	next  atomic.Uint64
}

func (r *roundRobin) Connect(ctx context.Context) (driver.Conn, error) {
	return r.cs[(r.next.Add(1)-1)%uint64(len(r.cs))].Connect(ctx)
}

func (r *roundRobin) Driver() driver.Driver { return r.cs[0].Driver() }

// Conflict reports whether err is a transaction's conflict with another (MySQL
// error 1213): an InnoDB deadlock, or, on a Galera cluster, a certification
// failure at commit or a transaction aborted by a replicated one. The
// transaction was rolled back whole and may be run again.
func Conflict(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
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
	case errors.Is(err, context.DeadlineExceeded):
		// A call cut off at its deadline (Within): the database was slow to answer.
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the database is slow to answer, try again shortly", RetryAfter: 2 * time.Second, Err: err}
	case errors.Is(err, ErrPoolWait):
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the server is busy, try again shortly", RetryAfter: time.Second, Err: err}
	case errors.As(err, &me) && me.Number == 1040:
		// Too many connections: the server's limit is below the pools of the
		// processes on it; a refused connection is a 503 the client retries.
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the server is busy, try again shortly", RetryAfter: 2 * time.Second, Err: err}
	case errors.As(err, &me) && me.Number == 1047:
		// A Galera node that is not synced (rejoining after a crash, or cut off
		// from the majority) refuses every statement until it is.
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the database is unavailable, try again shortly", RetryAfter: 5 * time.Second, Err: err}
	case errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205):
		// deadlock or lock wait timeout: the caller may retry
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "busy, try again", RetryAfter: time.Second, Err: err}
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.As(err, &oe), errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED):
		return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the database is unavailable, try again shortly", RetryAfter: 5 * time.Second, Err: err}
	}
	return err
}
