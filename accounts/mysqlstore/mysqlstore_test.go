package mysqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/accounts/storetest"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	privmysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

func newStore(t *testing.T) accounts.Store {
	s := mysqlstore.New(mysqltest.New(t))
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func TestMigrateConcurrently(t *testing.T) {
	mysqltest.CheckMigrate(t, func(ctx context.Context, db *sqlx.DB) error { return mysqlstore.New(db).Migrate(ctx) }, "accounts_migrations")
}

// TestThenJoinsPrivacyStores proves what registration relies on: the consent
// record and the outbox message written in then commit or roll back with the account.
func TestThenJoinsPrivacyStores(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(ctx))
	priv := privmysql.New(db)
	require.NoError(t, priv.Migrate(ctx))
	now := time.Now().UTC()
	then := func(fail bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if err := priv.AppendConsent(ctx, &privacy.Consent{Subject: "tx@example.org", Purpose: privacy.PurposeNewsletter, Granted: true,
				PolicyVersion: "1", Source: "registration", At: now}); err != nil {
				return err
			}
			if _, err := priv.Enqueue(ctx, &privacy.Message{Purpose: privacy.PurposeAccount, DataSubject: "tx@example.org",
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
	require.Error(t, st.CreateAccount(ctx, a, nil, then(true)))
	hist, err := priv.ConsentHistory(ctx, "tx@example.org")
	require.NoError(t, err)
	require.Empty(t, hist, "the consent record rolled back with the account")
	stats, err := priv.OutboxStats(ctx, "")
	require.NoError(t, err)
	require.Zero(t, stats.Total(), "so did the message")

	require.NoError(t, st.CreateAccount(ctx, a, nil, then(false)))
	hist, _ = priv.ConsentHistory(ctx, "tx@example.org")
	require.Len(t, hist, 1)
	stats, _ = priv.OutboxStats(ctx, "")
	require.Equal(t, 1, stats.Queued)
}
