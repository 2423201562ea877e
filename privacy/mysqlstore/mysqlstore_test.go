package mysqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/storetest"
)

func newStore(t *testing.T) privacy.Store { return migrated(t, mysqltest.New(t)) }

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
	storetest.Run(t, func(t *testing.T) privacy.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

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

// TestLockerPerDatabase: MySQL's named locks are the server's; a Locker's are its
// database's, so two sites (or two test runs) on one server each hold their own.
func TestLockerPerDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := mysqlstore.NewLocker(mysqltest.New(t)), mysqlstore.NewLocker(mysqltest.New(t))
	defer a.Close()
	defer b.Close()
	unlock, ok, err := a.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.True(t, ok)
	defer unlock()
	unlock2, ok, err := b.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.True(t, ok, "the same name on another database is another lock")
	unlock2()
}

// TestLockerKeepsOutOfThePool: the work a lock guards (retention's purges) runs
// on the store's pool while the lock holds its connection; on a pool of one it
// still gets that one.
func TestLockerKeepsOutOfThePool(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.OneConnection(t)
	st := migrated(t, db)
	l := mysqlstore.NewLocker(db)
	defer l.Close()
	unlock, ok, err := l.TryLock(ctx, "consentkit:test")
	require.NoError(t, err)
	require.True(t, ok)
	defer unlock()
	_, err = st.PurgeOutbox(ctx, time.Now())
	require.NoError(t, err, "the store's one connection is free while the lock is held")
}

// TestLegacySuppressionStillCounts: a row suppressed before SuppressionKey
// lower-cased the address (the hash of the address as typed) still stops mail to
// that spelling.
func TestLegacySuppressionStillCounts(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	s := mysqlstore.New(db)
	require.NoError(t, s.Migrate(ctx))
	h := sha256.Sum256([]byte("Old.Bounce@example.org"))
	_, err := db.ExecContext(ctx, `INSERT INTO privacy_suppression (address_hash, reason, created_at) VALUES (?, '550', NOW())`, hex.EncodeToString(h[:]))
	require.NoError(t, err)
	ok, err := s.Suppressed(ctx, "Old.Bounce@example.org")
	require.NoError(t, err)
	require.True(t, ok)
	_, err = s.Enqueue(ctx, &privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "Old.Bounce@example.org",
		From: privacy.Address{Email: "noreply@example.com"}, To: privacy.Address{Email: "Old.Bounce@example.org"}, Subject: "s", Text: "t"})
	var re *privacy.RefusalError
	require.ErrorAs(t, err, &re)
}
