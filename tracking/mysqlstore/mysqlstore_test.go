package mysqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/mysqlstore"
	"github.com/consentkit/consentkit/tracking/storetest"
)

func newStore(t *testing.T) tracking.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

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
	require.Equal(t, 1, n, "each migration recorded once")
}
