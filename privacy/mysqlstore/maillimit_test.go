package mysqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
)

// TestMailLimitTwoProcesses: two processes (two Mailers, each with its own
// connection pool) on one database, each asked 100 times at once to mail one
// stranger, queue the documented 3 messages between them (audit #13 finding 5).
func TestMailLimitTwoProcesses(t *testing.T) {
	ctx := context.Background()
	dsn := mysqltest.NewDSN(t)
	var mailers [2]*privacy.Mailer
	var store *mysqlstore.Store
	var db *sqlx.DB
	for i := range mailers {
		d, err := mysqlstore.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		db, store = d, mysqlstore.New(d)
		require.NoError(t, store.Migrate(ctx))
		mailers[i] = privacy.NewMailer(mailtest.Policy(), store, nil)
		mailers[i].SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{"account": 3}, Key: []byte("the same site key in every process")})
		mailers[i].Allow(privacy.Purpose("account"), privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return true, nil }))
	}
	var wg sync.WaitGroup
	for _, m := range mailers {
		for range 10 {
			wg.Go(func() {
				for range 10 {
					_, err := m.Send(ctx, privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "victim@example.org",
						To: privacy.Address{Email: "victim@example.org"}, Subject: "Reset your password", Text: "Open the link."})
					assert.NoError(t, err)
				}
			})
		}
	}
	wg.Wait()
	st, err := store.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 3, st.Queued)
	assert.Equal(t, int64(197), mailers[0].Refusals()[privacy.LimitedRecipient]+mailers[1].Refusals()[privacy.LimitedRecipient])

	var rows []string
	require.NoError(t, db.SelectContext(ctx, &rows, `SELECT key_hash FROM privacy_mail_counts`))
	assert.Equal(t, []string{privacy.MailLimitKey([]byte("the same site key in every process"), privacy.Purpose("account"), "victim@example.org")}, rows,
		"one counter, under a keyed hash")
}
