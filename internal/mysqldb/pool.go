package mysqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// DefaultMaxConns is the bound Open puts on a pool's open connections: a burst of
// requests then waits for a connection instead of opening one each (2,000
// concurrent sign-ins opened 1,989), and three processes of a site fit in
// MariaDB's default max_connections of 151.
const DefaultMaxConns = 32

// MaxWait is how long a call that Waiting marks waits for a free connection of a
// bounded pool before it gives up with ErrPoolWait, which Translate makes a 503:
// a client told to come back soon is better served than one kept waiting while
// the queue behind it grows.
const MaxWait = 2 * time.Second

// ErrPoolWait is the error of a call that found no connection free within MaxWait.
var ErrPoolWait = errors.New("mysqldb: no database connection free within " + MaxWait.String())

// SetMaxConns bounds db to n open connections, all of which may stay idle, so a
// bounded pool never closes a connection only to open it again under load.
//
// A bounded pool deadlocks a goroutine that holds one connection (an open
// transaction, unread rows) while it asks for another: every store reaches the
// database through internal/sqltx, whose Ext joins the transaction ctx carries,
// and the stores' conformance suites run on a pool of one connection to show it.
func SetMaxConns(db *sqlx.DB, n int) {
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
}

// RequestLimit is how long the database calls of one request of a site may take
// in all (examples/site gives each request's context Within(ctx, RequestLimit)):
// longer than a visitor waits for a page, and than a Galera cluster normally
// holds its commits while a node leaves or joins.
const RequestLimit = 10 * time.Second

type deadlineKey struct{}

// Within returns a context whose database calls, those Waiting marks (every
// store's, through internal/sqltx), end within d of now: a statement, a
// transaction's BEGIN, COMMIT or ROLLBACK, or a wait for a connection still
// running then is cut off (the connection closed, the transaction rolled back)
// and fails with context.DeadlineExceeded, which Translate makes a 503 with
// Retry-After. Only the database calls are cut short: the rest of the work done
// with ctx is not, and a context detached from it (context.WithoutCancel) keeps
// the limit.
//
// A site gives it to each request: a node of a cluster that holds its commits
// while a node leaves or rejoins, or a server that accepts a connection and never
// answers, would otherwise keep the request waiting as long. A commit cut off
// may still be applied by the server: the 503 says the write is not known to be
// stored, as when the connection is lost at commit.
func Within(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, deadlineKey{}, time.Now().Add(d))
}

type waitKey struct{}

// waiter is the context of one use of the pool: until a connection is handed to
// it, its Done channel also closes MaxWait after it was made; once the driver
// sees it on a connection, it is the caller's context again (ended by Within's
// deadline if the caller's context has one), so a statement or a transaction
// that has its connection is never cut short by the wait's limit.
type waiter struct {
	context.Context
	mu         sync.Mutex
	state      int // 0 waiting, 1 has a connection, 2 gave up
	done       chan struct{}
	err        error
	timer      *time.Timer
	stopParent func() bool
	cancel     context.CancelFunc // ends Within's deadline early; nil without one
}

// Waiting returns a context for one call on a pool opened by Open: if no
// connection is free within MaxWait, the call fails with ErrPoolWait; if ctx
// came from Within, the call ends by its deadline.
func Waiting(ctx context.Context) context.Context {
	w := &waiter{done: make(chan struct{})}
	if t, ok := ctx.Value(deadlineKey{}).(time.Time); ok {
		// Released when the call gives up, the deadline passes or ctx ends (a
		// request's when its handler returns), whichever is first: a call that
		// returns rows cannot say when it is done with them.
		ctx, w.cancel = context.WithDeadline(ctx, t)
	}
	w.Context = ctx
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(MaxWait, func() { w.giveUp(ErrPoolWait) })
	w.stopParent = context.AfterFunc(ctx, func() { w.giveUp(ctx.Err()) })
	return w
}

func (w *waiter) giveUp(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == 0 {
		w.state, w.err = 2, err
		close(w.done)
		w.timer.Stop()
		w.stopParent()
		if w.cancel != nil {
			w.cancel()
		}
	}
}

func (w *waiter) acquired() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == 0 {
		w.state = 1
		w.timer.Stop()
		w.stopParent()
	}
}

func (w *waiter) Done() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == 1 {
		return w.Context.Done()
	}
	return w.done
}

func (w *waiter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case 1:
		return w.Context.Err()
	case 2:
		return w.err
	}
	return nil
}

func (w *waiter) Value(key any) any {
	if key == (waitKey{}) {
		return w
	}
	return w.Context.Value(key)
}

// holding tells the waiter ctx carries, if any, that a connection is its: the
// driver calls it first thing in every method that is given a context, which
// database/sql calls only on a connection it has handed out.
func holding(ctx context.Context) {
	if w, ok := ctx.Value(waitKey{}).(*waiter); ok {
		w.acquired()
	}
}

// connector wraps the MySQL driver's connector so that its connections and
// statements report, through holding, when database/sql has handed them to a call.
type connector struct{ driver.Connector }

type netConnKey struct{}

// dial is the driver's dial function for TCP and Unix sockets: it tells Connect
// the network connection it made, which conn needs to cut off a COMMIT.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if p, ok := ctx.Value(netConnKey{}).(*net.Conn); ok && err == nil {
		*p = nc
	}
	return nc, err
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	holding(ctx)
	var nc net.Conn
	dc, err := c.Connector.Connect(context.WithValue(ctx, netConnKey{}, &nc))
	if err != nil {
		return nil, err
	}
	return &conn{Conn: dc, net: nc}, nil
}

// Driver lets Connector find the connector again from the pool's database.
func (c connector) Driver() driver.Driver { return poolDriver{c} }

type poolDriver struct{ c connector }

func (d poolDriver) Open(dsn string) (driver.Conn, error) { return d.c.Connector.Driver().Open(dsn) }

// Connector returns the connector of a pool opened by Open, for a pool of one's
// own on the same server with the same options.
func Connector(db *sql.DB) (driver.Connector, bool) {
	d, ok := db.Driver().(poolDriver)
	return d.c, ok
}

// conn forwards every interface go-sql-driver/mysql's connection implements.
type conn struct {
	driver.Conn
	// isolation is the session's transaction isolation level as BeginTx last set
	// it; the default until then.
	isolation driver.IsolationLevel
	// net is the network connection under Conn (nil when a dial function
	// registered with the driver made it), which cutOff ends.
	net net.Conn
	// broken is set once a COMMIT or ROLLBACK was cut off: the connection is
	// closed, or will be, and the pool must not hand it out again.
	broken atomic.Bool
}

// sessionLevels are the values of tx_isolation for the levels BeginTx sets.
var sessionLevels = map[sql.IsolationLevel]string{
	sql.LevelDefault:         "@@GLOBAL.tx_isolation",
	sql.LevelReadUncommitted: "'READ-UNCOMMITTED'",
	sql.LevelReadCommitted:   "'READ-COMMITTED'",
	sql.LevelRepeatableRead:  "'REPEATABLE-READ'",
	sql.LevelSerializable:    "'SERIALIZABLE'",
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

// BeginTx sets the level a transaction asks for as the session's, once, and then
// begins with the session's level: the driver would send a SET TRANSACTION of its
// own before every BEGIN, a round trip for each of sqltx's READ COMMITTED
// transactions (the outbox's claim is then five round trips instead of six).
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	holding(ctx)
	if level, ok := sessionLevels[sql.IsolationLevel(opts.Isolation)]; ok {
		if opts.Isolation != c.isolation {
			if _, err := c.ExecContext(ctx, "SET SESSION tx_isolation = "+level, nil); err != nil {
				return nil, err
			}
			c.isolation = opts.Isolation
		}
		opts.Isolation = driver.IsolationLevel(sql.LevelDefault)
	}
	t, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, c: c, ctx: ctx}, nil
}

// tx ends COMMIT and ROLLBACK with the context the transaction began with, as the
// driver ends every other statement: the driver sends them without watching a
// context, so a commit a Galera node holds while its cluster changes membership
// (16 s and more after a node is killed), or one sent to a server that stopped
// answering, would keep its caller waiting as long, whatever its deadline.
type tx struct {
	driver.Tx
	c   *conn
	ctx context.Context
}

func (t *tx) Commit() error   { return t.c.cutOff(t.ctx, t.Tx.Commit) }
func (t *tx) Rollback() error { return t.c.cutOff(t.ctx, t.Tx.Rollback) }

// cutOff runs f, and if ctx's deadline passes before it returns, makes the
// connection's reads and writes fail at once, which ends f with the deadline's
// error and the connection with it. A caller that goes away (ctx cancelled)
// does not cut a commit short: it ends as it would have.
func (c *conn) cutOff(ctx context.Context, f func() error) error {
	if c.net == nil {
		return f()
	}
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(cut)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.broken.Store(true)
			_ = c.net.SetDeadline(time.Unix(1, 0))
		}
	})
	err := f()
	if !stop() {
		// It runs, or ran, perhaps after f succeeded: the connection is marked
		// broken before database/sql asks whether it can be used again.
		<-cut
	}
	if err != nil && c.broken.Load() {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	holding(ctx)
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &stmt{s}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	s, err := c.Conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	return &stmt{s}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	holding(ctx)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	holding(ctx)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *conn) Ping(ctx context.Context) error {
	holding(ctx)
	return c.Conn.(driver.Pinger).Ping(ctx)
}

func (c *conn) ResetSession(ctx context.Context) error {
	holding(ctx)
	if c.broken.Load() {
		return driver.ErrBadConn
	}
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *conn) IsValid() bool { return !c.broken.Load() && c.Conn.(driver.Validator).IsValid() }

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// stmt forwards every interface go-sql-driver/mysql's statement implements: a
// statement prepared once runs again on its connection without the connection
// being asked anything.
type stmt struct{ driver.Stmt }

var (
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	holding(ctx)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	holding(ctx)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	return s.Stmt.(driver.NamedValueChecker).CheckNamedValue(nv)
}
