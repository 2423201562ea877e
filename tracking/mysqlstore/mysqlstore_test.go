package mysqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/mysqlstore"
	"github.com/consentkit/consentkit/tracking/storetest"
)

func newStore(t *testing.T) tracking.Store { return migrated(t, mysqltest.New(t)) }

func migrated(t *testing.T, db *sqlx.DB) *mysqlstore.Store {
	s := mysqlstore.New(db)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

// TestConformanceOneConnection runs the suite on a pool of one connection, where a
// call that holds a connection (a transaction, unread rows) and asks the pool for
// another waits until it gives up (mysqldb.MaxWait): none does, so no bound on the
// pool can deadlock the store.
func TestConformanceOneConnection(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := mysqltest.New(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = mysqlstore.New(db).Migrate(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, mysqlstore.New(db).Migrate(context.Background()))
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM tracking_migrations WHERE version_id > 0`))
	require.Equal(t, 2, n, "each of the two migrations recorded once")
}

func TestAddPrunesOldKeys(t *testing.T) {
	db := mysqltest.New(t)
	s := migrated(t, db)
	ctx := context.Background()
	_, err := db.Exec(`INSERT INTO tracking_batches (batch_key, added_at) VALUES
		('old', UTC_TIMESTAMP(6) - INTERVAL 25 HOUR), ('recent', UTC_TIMESTAMP(6) - INTERVAL 23 HOUR)`)
	require.NoError(t, err)
	count := []tracking.Count{{Dim: tracking.Bots, Period: tracking.Day, Start: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), N: 1}}
	require.NoError(t, s.Add(ctx, "first", count))
	var keys []string
	require.NoError(t, db.Select(&keys, `SELECT batch_key FROM tracking_batches ORDER BY batch_key`))
	require.Equal(t, []string{"first", "recent"}, keys, "keys older than a day pruned, the others kept")

	_, err = db.Exec(`INSERT INTO tracking_batches (batch_key, added_at) VALUES ('old', UTC_TIMESTAMP(6) - INTERVAL 25 HOUR)`)
	require.NoError(t, err)
	require.NoError(t, s.Add(ctx, "second", count))
	require.NoError(t, db.Select(&keys, `SELECT batch_key FROM tracking_batches ORDER BY batch_key`))
	require.Equal(t, []string{"first", "old", "recent", "second"}, keys, "pruned at most once an hour")
}
