package mysqlstore_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/contact/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
)

func newStore(t *testing.T) contact.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "contact_migrations")
}
