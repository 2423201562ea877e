package mysqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/accounts/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
)

func newStore(t *testing.T) accounts.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateConcurrently(t *testing.T) {
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
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM accounts_migrations WHERE version_id > 0`))
	require.Equal(t, 1, n, "each migration recorded once")
}
