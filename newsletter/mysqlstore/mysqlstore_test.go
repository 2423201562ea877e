package mysqlstore_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/newsletter/storetest"
)

func newStore(t *testing.T) newsletter.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	db := mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "newsletter_migrations")
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM newsletter_sync`))
	require.Equal(t, 1, n, "the sync cursor row is created once")
}
