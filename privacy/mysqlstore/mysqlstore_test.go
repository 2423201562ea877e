package mysqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/storetest"
)

func newStore(t *testing.T) privacy.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := mysqltest.New(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = mysqlstore.New(db).Migrate(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, mysqlstore.New(db).Migrate(context.Background()))
	var rows, distinct int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version_id) FROM privacy_migrations WHERE version_id > 0`).Scan(&rows, &distinct))
	require.Equal(t, distinct, rows, "each migration recorded once")
	require.Equal(t, 2, rows)
}

func TestLockerOneHolder(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	a, b := mysqlstore.NewLocker(db), mysqlstore.NewLocker(db)
	unlock, ok, err := a.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = b.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.False(t, ok, "a second connection does not get a held lock")
	unlock()
	unlock2, ok, err := b.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.True(t, ok, "released locks can be taken again")
	unlock2()
}
