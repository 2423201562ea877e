package mysqlstore

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
)

// The limits a host puts on the database use of a pool from Open, as the
// reference site does (examples/site: -mysql-max-conns, and Within on every
// request). Every capability's MySQL store honours both.
const (
	// DefaultMaxConns is the connections a pool from Open opens at most.
	DefaultMaxConns = mysqldb.DefaultMaxConns
	// MaxWait is how long a call waits for a free connection before it fails
	// as unavailable (privacy.ErrUnavailable: a 503 with Retry-After).
	MaxWait = mysqldb.MaxWait
	// RequestLimit is a sensible bound for one web request's database calls.
	RequestLimit = mysqldb.RequestLimit
)

// SetMaxConns bounds db, a pool from Open, to n open connections (and as many
// idle). A call that finds none free within MaxWait fails as unavailable; the
// stores never hold one connection while asking for another, so a bound cannot
// deadlock them.
func SetMaxConns(db *sqlx.DB, n int) { mysqldb.SetMaxConns(db, n) }

// Within returns a context whose database calls end within d of now: a
// statement, BEGIN, COMMIT or ROLLBACK, or a wait for a connection, still
// running then is cut off (the connection closed, the transaction rolled back)
// and fails as unavailable (privacy.ErrUnavailable, which privacy/web answers
// 503 with Retry-After). Give it to each request, e.g. with RequestLimit: a
// Galera node holding its commits while a node leaves or joins, or a server that
// stopped answering, then costs a visitor a 503 instead of an answer that never
// comes. Only the database calls are bounded, not the rest of the request. A
// commit cut off may still have been applied: the 503 means "not known to be
// stored", as when a connection is lost at commit.
func Within(ctx context.Context, d time.Duration) context.Context { return mysqldb.Within(ctx, d) }
