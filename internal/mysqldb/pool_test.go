package mysqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
)

// TestWaitingGivesUp: on a pool whose one connection a transaction holds, a call
// marked by Waiting fails after MaxWait with ErrPoolWait, a 503 with Retry-After;
// a call that gets the connection sooner runs.
func TestWaitingGivesUp(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.OneConnection(t)
	tx, err := db.BeginTxx(ctx, nil)
	require.NoError(t, err)

	start := time.Now()
	_, err = db.ExecContext(mysqldb.Waiting(ctx), "DO 1")
	waited := time.Since(start)
	require.ErrorIs(t, err, mysqldb.ErrPoolWait)
	assert.InDelta(t, mysqldb.MaxWait.Seconds(), waited.Seconds(), 0.5, "waited %s", waited)
	var pe *privacy.Error
	require.True(t, errors.As(mysqldb.Translate(err), &pe))
	assert.Equal(t, privacy.ErrUnavailable, pe.Kind)
	assert.Positive(t, pe.RetryAfter)

	time.AfterFunc(mysqldb.MaxWait/4, func() { _ = tx.Rollback() })
	_, err = db.ExecContext(mysqldb.Waiting(ctx), "DO 1")
	require.NoError(t, err, "the connection came back within MaxWait")
}

// TestWaitingDoesNotLimitTheStatement: once a call has its connection, MaxWait no
// longer applies; only the caller's context ends it.
func TestWaitingDoesNotLimitTheStatement(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.OneConnection(t)
	rows, err := db.QueryContext(mysqldb.Waiting(ctx), "SELECT SLEEP(?)", (mysqldb.MaxWait + time.Second).Seconds())
	require.NoError(t, err)
	var slept int
	require.True(t, rows.Next())
	require.NoError(t, rows.Scan(&slept))
	require.NoError(t, rows.Close())
	assert.Equal(t, 0, slept, "SLEEP returns 1 when interrupted")

	tx, err := db.BeginTxx(mysqldb.Waiting(ctx), nil)
	require.NoError(t, err)
	time.Sleep(mysqldb.MaxWait + 200*time.Millisecond)
	_, err = tx.ExecContext(ctx, "DO 1")
	require.NoError(t, err, "a transaction outlives MaxWait")
	require.NoError(t, tx.Commit())
}

// TestWaitingEndsWithTheCaller: a caller that goes away while it waits gets its
// own context's error, not ErrPoolWait.
func TestWaitingEndsWithTheCaller(t *testing.T) {
	db := mysqltest.OneConnection(t)
	tx, err := db.BeginTxx(context.Background(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(mysqldb.Waiting(ctx), "DO 1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, mysqldb.ErrPoolWait)
}

// TestIsolationSetOncePerSession: a connection's transactions run at the level
// each asks for, READ COMMITTED ones after the first without a SET of their own
// (the session's Com_set_option does not move), and a transaction at the default
// level after them runs at the server's default again.
func TestIsolationSetOncePerSession(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.OneConnection(t)
	sets := func() int {
		var name string
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_set_option'").Scan(&name, &n))
		return n
	}
	_, err := db.ExecContext(ctx, "CREATE TABLE iso (id INT PRIMARY KEY) ENGINE=InnoDB")
	require.NoError(t, err)
	// The level the transaction runs at, as InnoDB reports it once it has locked a
	// row; InnoDB refreshes the table it reports from at most every 0.1 s.
	level := func(opts *sql.TxOptions) string {
		tx, err := db.BeginTxx(ctx, opts)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, "INSERT INTO iso VALUES (1)")
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
		var l string
		require.NoError(t, tx.GetContext(ctx, &l, "SELECT trx_isolation_level FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()"))
		return strings.ReplaceAll(l, " ", "-")
	}
	var global string
	require.NoError(t, db.GetContext(ctx, &global, "SELECT @@GLOBAL.tx_isolation"))
	rc := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	assert.Equal(t, "READ-COMMITTED", level(rc))
	before := sets()
	for range 5 {
		assert.Equal(t, "READ-COMMITTED", level(rc))
	}
	assert.Equal(t, before, sets(), "no SET for a level the session already has")
	assert.Equal(t, global, level(nil), "the default level is the server's again")
	assert.Equal(t, "SERIALIZABLE", level(&sql.TxOptions{Isolation: sql.LevelSerializable}))
	assert.Equal(t, "READ-COMMITTED", level(rc))
	_, err = db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot})
	assert.Error(t, err, "a level MySQL does not have is still refused")
}
