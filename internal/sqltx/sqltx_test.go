package sqltx_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

// crossed runs two transactions that lock rows 1 and 2 in opposite orders, each
// waiting until the other holds its first row: InnoDB kills one of them as a
// deadlock (1213). It returns how many times the functions ran and their errors.
func crossed(t *testing.T, db *sqlx.DB, do func(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error) (int32, []error) {
	t.Helper()
	ctx := context.Background()
	var runs atomic.Int32
	var first sync.WaitGroup
	first.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, order := range [][2]int{{1, 2}, {2, 1}} {
		var once sync.Once
		wg.Go(func() {
			errs[i] = do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
				runs.Add(1)
				if _, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE id = ?`, order[0]); err != nil {
					return mysqldb.Translate(err)
				}
				once.Do(func() { first.Done(); first.Wait() })
				_, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE id = ?`, order[1])
				return mysqldb.Translate(err)
			})
		})
	}
	wg.Wait()
	return runs.Load(), errs
}

func newTable(t *testing.T) *sqlx.DB {
	db := mysqltest.New(t)
	db.MustExec(`CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`)
	db.MustExec(`INSERT INTO t VALUES (1, 0), (2, 0)`)
	return db
}

// TestDoRunsAConflictAgain: of two transactions that deadlock, the one InnoDB
// rolls back is run again by Do, and both changes are kept, once each; what each
// run registered with privacy.AfterWork hears how its transaction ended.
func TestDoRunsAConflictAgain(t *testing.T) {
	db := newTable(t)
	var mu sync.Mutex
	var ended []bool
	runs, errs := crossed(t, db, func(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
		return sqltx.Do(ctx, db, func(ctx context.Context, tx *sqlx.Tx) error {
			require.True(t, privacy.AfterWork(ctx, func(committed bool) {
				mu.Lock()
				ended = append(ended, committed)
				mu.Unlock()
			}))
			return fn(ctx, tx)
		})
	})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, int32(3), runs, "the deadlock's victim ran twice")
	assert.ElementsMatch(t, []bool{false, true, true}, ended, "the victim's first run was undone, the other two committed")
	var sum int
	require.NoError(t, db.Get(&sum, `SELECT SUM(v) FROM t`))
	assert.Equal(t, 4, sum, "each transaction's two updates, once")
}

// TestDoLeavesAJoinedConflictToTheCaller: inside a caller's transaction Do cannot
// run the caller's earlier work again; the conflict is a 503 for the caller.
func TestDoLeavesAJoinedConflictToTheCaller(t *testing.T) {
	db := newTable(t)
	runs, errs := crossed(t, db, func(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
		tx, err := db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		ctx = sqltx.With(ctx, db, tx)
		assert.False(t, privacy.AfterWork(ctx, func(bool) {}), "a transaction Do did not begin offers nothing after it")
		if err := sqltx.Do(ctx, db, fn); err != nil {
			return err
		}
		return tx.Commit()
	})
	assert.Equal(t, int32(2), runs)
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			assert.True(t, mysqldb.Conflict(err), "%v", err)
			assert.ErrorIs(t, err, privacy.ErrUnavailable)
		}
	}
	assert.Equal(t, 1, failed, "the deadlock's victim failed")
}
