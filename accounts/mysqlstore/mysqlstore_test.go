package mysqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/accounts/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	privmysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

func newStore(t *testing.T) accounts.Store { return migrated(t, mysqltest.New(t)) }

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
	storetest.Run(t, func(t *testing.T) accounts.Store { return migrated(t, mysqltest.OneConnection(t)) })
}

func TestMigrateConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "accounts_migrations")
}

// TestUnitOfWorkJoinsPrivacyStores proves what registration relies on: the consent
// record and the outbox message written in the account's unit of work commit or
// roll back with the account.
func TestUnitOfWorkJoinsPrivacyStores(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(ctx))
	priv := privmysql.New(db)
	require.NoError(t, priv.Migrate(ctx))
	now := time.Now().UTC()
	create := func(a *accounts.Account, fail bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if err := st.CreateAccount(ctx, a, nil); err != nil {
				return err
			}
			if err := priv.AppendConsent(ctx, &privacy.Consent{Subject: "tx@example.org", Purpose: privacy.Purpose("newsletter"), Granted: true,
				PolicyVersion: "1", Source: "registration", At: now}); err != nil {
				return err
			}
			if _, err := priv.Enqueue(ctx, &privacy.Message{Purpose: accounts.PurposeAccount, DataSubject: "tx@example.org",
				From: privacy.Address{Email: "noreply@example.com"}, To: privacy.Address{Email: "tx@example.org"}, Subject: "s", Text: "t"}); err != nil {
				return err
			}
			if fail {
				return errors.New("late failure")
			}
			return nil
		}
	}
	a := &accounts.Account{ID: "0123456789abcdef0123456789abcdef", Email: "tx@example.org", PasswordHash: "$sha1$" + strings.Repeat("0", 40),
		AgeScreen: accounts.AgeOver13, Created: now}
	require.Error(t, st.Do(ctx, create(a, true)))
	_, err := st.AccountByID(ctx, a.ID)
	require.ErrorIs(t, err, privacy.ErrNotFound, "the account rolled back")
	hist, err := priv.ConsentHistory(ctx, "tx@example.org")
	require.NoError(t, err)
	require.Empty(t, hist, "the consent record rolled back with the account")
	stats, err := priv.OutboxStats(ctx, "")
	require.NoError(t, err)
	require.Zero(t, stats.Total(), "so did the message")

	require.NoError(t, st.Do(ctx, create(a, false)))
	hist, _ = priv.ConsentHistory(ctx, "tx@example.org")
	require.Len(t, hist, 1)
	stats, _ = priv.OutboxStats(ctx, "")
	require.Equal(t, 1, stats.Queued)
}

// TestMigrateRefusesCaseDuplicates: a database from before addresses compared
// case-insensitively may hold Zed@ and zed@ as two accounts; Migrate must stop and
// name them rather than fail on the unique key or pick one.
func TestMigrateRefusesCaseDuplicates(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(ctx))
	// Back to the schema before migration 00003 (00006, 00005 and 00004 undone first).
	for _, q := range []string{
		`DROP TABLE accounts_ceremonies, accounts_passkeys`,
		`DELETE FROM accounts_migrations WHERE version_id = 6`,
		`DROP TABLE accounts_challenges, accounts_recovery_codes, accounts_factors`,
		`ALTER TABLE accounts_sessions DROP COLUMN proved_at, DROP COLUMN device`,
		`DELETE FROM accounts_migrations WHERE version_id = 5`,
		`ALTER TABLE accounts_accounts ADD COLUMN failures INT NOT NULL DEFAULT 0, ADD COLUMN fail_since DATETIME(6) NULL, ADD COLUMN last_failure DATETIME(6) NULL`,
		`DELETE FROM accounts_migrations WHERE version_id = 4`,
		`ALTER TABLE accounts_parental DROP KEY by_parent, DROP COLUMN parent_key, ADD KEY by_parent (parent_email)`,
		`ALTER TABLE accounts_tokens DROP KEY by_email, DROP COLUMN email_key, ADD KEY by_email (email, kind)`,
		`ALTER TABLE accounts_accounts DROP KEY by_parent, DROP KEY by_email, DROP COLUMN parent_key, DROP COLUMN email_key, ADD UNIQUE KEY by_email (email), ADD KEY by_parent (parent_email)`,
		`DELETE FROM accounts_migrations WHERE version_id = 3`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	now := time.Now().UTC()
	for i, e := range []string{"Zed@example.org", "zed@example.org", "amy@example.org"} {
		_, err := db.ExecContext(ctx, `INSERT INTO accounts_accounts (id, email, password_hash, age_screen, created_at) VALUES (?, ?, 'x', ?, ?)`,
			fmt.Sprintf("%032x", i+1), e, accounts.AgeOver13, now.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	err := st.Migrate(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("[%032x %032x]", 1, 2), "the error names both accounts")
	assert.NotContains(t, err.Error(), "zed@", "and no address")
	assert.NotContains(t, err.Error(), fmt.Sprintf("%032x", 3))

	_, err = db.ExecContext(ctx, `DELETE FROM accounts_accounts WHERE id = ?`, fmt.Sprintf("%032x", 2))
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx), "once merged, the migration runs")
	a, err := st.AccountByEmail(ctx, "ZED@example.org")
	require.NoError(t, err)
	assert.Equal(t, "Zed@example.org", a.Email)
}
