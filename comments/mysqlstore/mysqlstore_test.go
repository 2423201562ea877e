package mysqlstore_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/comments/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
)

func newStore(t *testing.T) comments.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "comments_migrations")
}
