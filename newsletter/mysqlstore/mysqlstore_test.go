package mysqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/newsletter/storetest"
)

func newStore(t *testing.T) newsletter.Store { return migrated(t, mysqltest.New(t)) }

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
	storetest.Run(t, func(t *testing.T) newsletter.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "newsletter_migrations")
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM newsletter_sync`))
	require.Equal(t, 1, n, "the sync cursor row is created once")
}

// TestMigrateMergesCaseDuplicates: rows from before addresses compared
// case-insensitively are merged into one per address and list, keeping the
// earliest confirmed consent; a later unsubscription under another spelling wins.
func TestMigrateMergesCaseDuplicates(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(ctx))
	// Back to the schema before migration 00002.
	for _, q := range []string{
		`ALTER TABLE newsletter_subscriptions DROP KEY by_email_list, DROP COLUMN email_key, ADD UNIQUE KEY by_email_list (email, list)`,
		`DELETE FROM newsletter_migrations WHERE version_id = 2`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	ins := func(email, list, status string, created time.Time, confirmed, left any) {
		_, err := db.ExecContext(ctx, `INSERT INTO newsletter_subscriptions (email, list, status, source, policy_version, created_at, confirmed_at, left_at)
			VALUES (?, ?, ?, 'form', '1', ?, ?, ?)`, email, list, status, created, confirmed, left)
		require.NoError(t, err)
	}
	// Zed: pending first, confirmed under another spelling later: the confirmed row stays.
	ins("zed@example.org", "newsletter", "pending", day(1), nil, nil)
	ins("Zed@example.org", "newsletter", "confirmed", day(2), day(2), nil)
	ins("ZED@example.org", "newsletter", "pending", day(3), nil, nil)
	// Amy: confirmed, then left under another spelling: she stays gone.
	ins("amy@example.org", "newsletter", "confirmed", day(1), day(1), nil)
	ins("Amy@example.org", "newsletter", "unsubscribed", day(2), nil, day(5))
	// Bob: left, then confirmed again later under another spelling: he stays subscribed.
	ins("Bob@example.org", "newsletter", "confirmed", day(1), day(6), nil)
	ins("bob@example.org", "newsletter", "unsubscribed", day(2), nil, day(4))
	// Other lists and addresses are untouched.
	ins("zed@example.org", "promotions", "confirmed", day(1), day(1), nil)

	require.NoError(t, st.Migrate(ctx))
	var n int
	require.NoError(t, db.GetContext(ctx, &n, `SELECT COUNT(*) FROM newsletter_subscriptions`))
	assert.Equal(t, 4, n, "one row per address and list")

	zed, err := st.Subscription(ctx, "zed@example.org", newsletter.ListNewsletter)
	require.NoError(t, err)
	assert.Equal(t, "Zed@example.org", zed.Email, "the earliest confirmed row is kept")
	assert.Equal(t, newsletter.StatusConfirmed, zed.Status)
	amy, err := st.Subscription(ctx, "AMY@example.org", newsletter.ListNewsletter)
	require.NoError(t, err)
	assert.Equal(t, "amy@example.org", amy.Email)
	assert.Equal(t, newsletter.StatusUnsubscribed, amy.Status, "leaving wins")
	assert.True(t, amy.LeftAt.Equal(day(5)), "LeftAt=%v", amy.LeftAt)
	bob, err := st.Subscription(ctx, "bob@example.org", newsletter.ListNewsletter)
	require.NoError(t, err)
	assert.Equal(t, newsletter.StatusConfirmed, bob.Status, "confirmed again after leaving")
	promo, err := st.Subscription(ctx, "ZED@EXAMPLE.ORG", newsletter.ListPromotions)
	require.NoError(t, err)
	assert.Equal(t, newsletter.StatusConfirmed, promo.Status)
}
