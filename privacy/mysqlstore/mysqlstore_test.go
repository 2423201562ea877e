package mysqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	_, err = s.Enqueue(ctx, &privacy.Message{Purpose: privacy.PurposeAccount, DataSubject: "Old.Bounce@example.org",
		From: privacy.Address{Email: "noreply@example.com"}, To: privacy.Address{Email: "Old.Bounce@example.org"}, Subject: "s", Text: "t"})
	var re *privacy.RefusalError
	require.ErrorAs(t, err, &re)
}
