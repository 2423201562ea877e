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

func newStore(t *testing.T) contact.Store { return migrated(t, mysqltest.New(t)) }

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
	storetest.Run(t, func(t *testing.T) contact.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "contact_migrations")
}
