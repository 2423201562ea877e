package privacy_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/memstore"
)

func anyone(context.Context, privacy.Purpose, string) (bool, error) { return true, nil }

// TestMailLimitStranger: 100 requests that each make the site mail one address that
// never consented to anything queue the documented number of messages, and the
// caller (the visitor's answer) cannot tell the difference (audit #13 finding 5).
func TestMailLimitStranger(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	m := privacy.NewMailer(testPolicy(), store, nil)
	m.AllowContract(formsContract)
	for _, p := range []privacy.Purpose{privacy.Purpose("account"), privacy.Purpose("parental-consent"), privacy.PurposeDataRights} {
		for range 100 {
			_, err := m.Send(ctx, privacy.Message{Purpose: p, DataSubject: "victim@example.org",
				To: privacy.Address{Email: "victim@example.org"}, Subject: "Confirm", Text: "Click"})
			require.NoError(t, err, "the answer is the same over the limit")
		}
	}
	st, err := store.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 3*3, st.Queued, "3 per purpose")
}

// formsContract is a holder's declaration of purposes a visitor can make the site
// mail to any address (limited to 3 a day), and of purposes a person opted in to.
var formsContract = privacy.Contract{Name: "forms", Purposes: []privacy.PurposeUse{
	{Purpose: "account", Allower: privacy.AllowFunc(anyone), Limit: 3},
	{Purpose: "parental-consent", Allower: privacy.AllowFunc(anyone), Limit: 3},
	{Purpose: privacy.PurposeDataRights, Allower: privacy.AllowFunc(anyone), Limit: 3},
	{Purpose: "newsletter", Allower: privacy.AllowFunc(anyone)},
	{Purpose: "promotions", Allower: privacy.AllowFunc(anyone)},
	{Purpose: "comment-follow-up", Allower: privacy.AllowFunc(anyone)},
	{Purpose: "support", Allower: privacy.AllowFunc(anyone)},
}}

func testPolicy() *privacy.Policy {
	return &privacy.Policy{Operator: "Example Ltd", Contact: "privacy@example.com", Sender: "noreply@example.com",
		OperatorDomains: []string{"example.com"}, Version: "1"}
}

func TestMailLimits(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	newMailer := func(t *testing.T, l *privacy.MailLimits) (*privacy.Mailer, *memstore.Store) {
		store := memstore.New()
		m := privacy.NewMailer(testPolicy(), store, nil)
		m.AllowContract(formsContract)
		if l != nil {
			m.SetLimits(*l)
		}
		return m, store
	}
	send := func(t *testing.T, m *privacy.Mailer, p privacy.Purpose, to string, n int) int {
		t.Helper()
		queued := 0
		for range n {
			id, err := m.Send(ctx, privacy.Message{Purpose: p, DataSubject: to, To: privacy.Address{Email: to}, Subject: "S", Text: "T"})
			require.NoError(t, err)
			if id != 0 {
				queued++
			}
		}
		return queued
	}

	t.Run("Declared", func(t *testing.T) {
		m, _ := newMailer(t, nil)
		assert.Equal(t, 3, send(t, m, privacy.Purpose("account"), "a@example.org", 10))
		assert.Equal(t, 3, send(t, m, privacy.Purpose("account"), "b@example.org", 10), "each address has its own count")
		assert.Equal(t, 3, send(t, m, privacy.PurposeDataRights, "a@example.org", 10), "and each purpose")
		assert.Equal(t, int64(21), m.Refusals()[privacy.LimitedRecipient])
	})

	t.Run("OptedInPurposesUnlimited", func(t *testing.T) {
		m, _ := newMailer(t, nil)
		for _, p := range []privacy.Purpose{privacy.Purpose("newsletter"), privacy.Purpose("promotions"), privacy.Purpose("comment-follow-up"), privacy.Purpose("support")} {
			assert.Equal(t, 10, send(t, m, p, "member@example.org", 10), "%s", p)
		}
		assert.Zero(t, m.Refusals()[privacy.LimitedRecipient])
	})

	t.Run("OperatorUnlimited", func(t *testing.T) {
		m, _ := newMailer(t, nil)
		assert.Equal(t, 10, send(t, m, privacy.Purpose("account"), "staff@example.com", 10))
	})

	t.Run("WindowEnds", func(t *testing.T) {
		clock := now
		m, store := newMailer(t, &privacy.MailLimits{Now: func() time.Time { return clock }})
		assert.Equal(t, 3, send(t, m, privacy.Purpose("account"), "a@example.org", 5))
		clock = now.Add(23 * time.Hour)
		assert.Zero(t, send(t, m, privacy.Purpose("account"), "a@example.org", 5), "the window runs from the first message")
		clock = now.Add(24 * time.Hour)
		assert.Equal(t, 3, send(t, m, privacy.Purpose("account"), "a@example.org", 5))

		k := &privacy.KernelHolder{Store: store}
		n, err := k.Purge(ctx, now.Add(47*time.Hour))
		require.NoError(t, err)
		assert.Zero(t, n, "the counter's second window is still open")
		n, err = k.Purge(ctx, now.Add(48*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the counter is removed once its window ended")
	})

	t.Run("Configured", func(t *testing.T) {
		m, _ := newMailer(t, &privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{privacy.Purpose("support"): 1}, Window: time.Hour,
			Key: []byte("0123456789abcdef0123456789abcdef")})
		assert.Equal(t, 1, send(t, m, privacy.Purpose("support"), "a@example.org", 3))
		assert.Equal(t, 3, send(t, m, privacy.Purpose("account"), "a@example.org", 3), "only the configured purposes are limited")
	})

	t.Run("Keys", func(t *testing.T) {
		k := privacy.MailLimitKey(nil, privacy.Purpose("account"), "a@example.org")
		assert.Regexp(t, `^[0-9a-f]{64}$`, k)
		assert.NotContains(t, k, "example")
		assert.NotEqual(t, k, privacy.MailLimitKey(nil, privacy.PurposeDataRights, "a@example.org"))
		assert.NotEqual(t, k, privacy.MailLimitKey([]byte("secret"), privacy.Purpose("account"), "a@example.org"))
		assert.NotEqual(t, k, privacy.SuppressionKey("a@example.org"))
	})

	t.Run("LogsNoAddress", func(t *testing.T) {
		var buf bytes.Buffer
		store := memstore.New()
		m := privacy.NewMailer(testPolicy(), store, slog.New(slog.NewTextHandler(&buf, nil)))
		m.AllowContract(formsContract)
		send(t, m, privacy.Purpose("account"), "hidden@example.org", 4)
		assert.Contains(t, buf.String(), "limit")
		assert.NotContains(t, buf.String(), "hidden")
	})
}
