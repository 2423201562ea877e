package mysqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/comments/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

func newStore(t *testing.T) comments.Store { return migrated(t, mysqltest.New(t)) }

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
	storetest.Run(t, func(t *testing.T) comments.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "comments_migrations")
}

// TestMigrateMergesCaseDuplicates: follow-up records from before addresses
// compared case-insensitively are merged into one per address, and a stop under
// any spelling stays honoured.
func TestMigrateMergesCaseDuplicates(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(ctx))
	// Back to the schema before migration 00004 (00005 only changes the index it adds).
	for _, q := range []string{
		`ALTER TABLE comments_subscribers DROP KEY by_email_key, DROP COLUMN email_key`,
		`ALTER TABLE comments_comments DROP KEY by_email, DROP COLUMN email_key, ADD KEY by_email (email, status)`,
		`DELETE FROM comments_migrations WHERE version_id >= 4`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		email     string
		confirmed any
		stopped   any
	}{
		{"zed@example.org", t0, nil},
		{"Zed@example.org", t0, t0.Add(time.Hour)},
		{"amy@example.org", nil, nil},
		{"Amy@example.org", t0, nil},
	} {
		_, err := db.ExecContext(ctx, `INSERT INTO comments_subscribers (email, confirm_expires, confirmed_at, stopped_at, stop_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.email, t0, r.confirmed, r.stopped, []byte(fmt.Sprintf("%032d", i)), t0.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
	}
	require.NoError(t, st.Migrate(ctx))
	var n int
	require.NoError(t, db.GetContext(ctx, &n, `SELECT COUNT(*) FROM comments_subscribers`))
	require.Equal(t, 2, n, "one record per address")
	zed, err := st.Subscriber(ctx, "zed@example.org")
	require.NoError(t, err)
	require.False(t, zed.Stopped.IsZero(), "the stop is kept")
	amy, err := st.Subscriber(ctx, "amy@example.org")
	require.NoError(t, err)
	require.Equal(t, "Amy@example.org", amy.Email, "else the confirmed record")
}

// TestVersionSeenAfterChange has one process read a thread's version, another
// change the thread (on its own, or in a unit of work of the store's Do), and the
// first read the version again as soon as the change returns, ten times: each read after a change sees it, though the first
// process's last read, a moment old, would still be recent enough to answer a
// view were it not for the wait after the change (commit-wait).
func TestVersionSeenAfterChange(t *testing.T) {
	ctx := context.Background()
	dsn := mysqltest.NewDSN(t)
	open := func() *mysqlstore.Store {
		db, err := privacymysql.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s := mysqlstore.New(db)
		require.NoError(t, s.Migrate(ctx))
		return s
	}
	a, b := open(), open()
	for i := range 10 {
		before, err := b.ThreadVersion(ctx, "t")
		require.NoError(t, err)
		start := time.Now()
		c := &comments.Comment{Thread: "t", Name: "Ann", Email: "ann@example.org", Source: "Hello.", HTML: "<p>Hello.</p>",
			Digest: comments.Digest(fmt.Sprint("Hello ", i)), Status: comments.StatusApproved, Hue: 1,
			Manage: []byte(fmt.Sprintf("%032d", i)), Created: time.Now().UTC()}
		if i%2 == 0 {
			require.NoError(t, a.CreateComment(ctx, c))
		} else {
			// As the Service makes it: in a unit of work, which its Do commits.
			require.NoError(t, a.Do(ctx, func(ctx context.Context) error { return a.CreateComment(ctx, c) }))
		}
		assert.GreaterOrEqual(t, time.Since(start), mysqlstore.VersionLag, "a change returns VersionLag after its commit")
		after, err := b.ThreadVersion(ctx, "t")
		require.NoError(t, err)
		require.NotEqual(t, before, after, "change %d: the other process read the version from before it", i)
		mine, err := a.ThreadVersion(ctx, "t")
		require.NoError(t, err)
		require.Equal(t, mine, after)
	}
}
