package mysqlstore_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
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
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "privacy_migrations")
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
