package bounce_test

import (
	"bytes"
	"context"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/bounce"
	"github.com/consentkit/consentkit/privacy/memstore"
)

var testVERP = bounce.VERP{Domain: "bounces.example.com", Key: []byte("a test key of at least 16 bytes")}

// startReceiver serves a Receiver on a loopback port until the test ends.
func startReceiver(t *testing.T, store bounce.Store) (*bounce.Receiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &bounce.Receiver{VERP: testVERP, Store: store}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return r, ln.Addr().String()
}

// sendReport delivers report to rcpt from the null sender, as a relay sends a bounce.
func sendReport(t *testing.T, addr, rcpt string, report []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	if err := c.Mail(""); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write(report)
	return w.Close()
}

func sample(t *testing.T, name string) []byte {
	data, err := os.ReadFile("testdata/reports/" + name)
	require.NoError(t, err)
	return data
}

func enqueue(t *testing.T, s privacy.OutboxStore, to string) int64 {
	id, err := s.Enqueue(context.Background(), &privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: to,
		To: privacy.Address{Email: to}, Subject: "Issue", Text: "x"})
	require.NoError(t, err)
	return id
}

func suppressed(t *testing.T, s privacy.OutboxStore, addr string) bool {
	ok, err := s.Suppressed(context.Background(), addr)
	require.NoError(t, err)
	return ok
}

func replyCode(t *testing.T, err error) int {
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	return te.Code
}

// TestReceiver: over SMTP, a permanent failure or a complaint suppresses the
// recipient of the message its return path names; a temporary failure, a policy
// block and a delivered notice are counted and suppress nothing; a return path not
// issued by the site and a malformed report are refused with a 5xx that says why.
func TestReceiver(t *testing.T) {
	store := memstore.New()
	r, addr := startReceiver(t, store)

	for _, tc := range []struct {
		sample, to string
		suppress   bool
	}{
		{"postfix-5.1.1.eml", "hard@example.org", true},
		{"gmail-5.1.1.eml", "gmail@example.org", true},
		{"yahoo-arf-abuse.eml", "complainer@example.org", true},
		{"microsoft-jmrp-abuse.eml", "jmrp@example.org", true},
		{"exim-mailbox-full-4.2.2.eml", "full@example.org", false},
		{"postfix-delayed-4.4.1.eml", "slow@example.org", false},
		{"yahoo-blocked-5.7.1.eml", "blocked@example.org", false},
		{"arf-not-spam.eml", "likes@example.org", false},
	} {
		id := enqueue(t, store, tc.to)
		require.NoError(t, sendReport(t, addr, testVERP.ReturnPath(id), sample(t, tc.sample)), tc.sample)
		assert.Equal(t, tc.suppress, suppressed(t, store, tc.to), "%s: suppressed", tc.sample)
	}
	assert.Equal(t, map[string]int64{"permanent": 2, "complaint": 2, "temporary": 2, "blocked": 1, "ignored": 1, "unknown": 0, "refused": 0}, r.Counts())

	t.Run("TokenNamesTheMessage", func(t *testing.T) {
		// The report's Final-Recipient names someone else: the token decides.
		id := enqueue(t, store, "named@example.org")
		require.NoError(t, sendReport(t, addr, testVERP.ReturnPath(id), sample(t, "postfix-5.1.1.eml")))
		assert.True(t, suppressed(t, store, "named@example.org"))
		assert.False(t, suppressed(t, store, "ann@example.org"), "the address in the report is not trusted")
	})
	t.Run("MessageNoLongerKept", func(t *testing.T) {
		require.NoError(t, sendReport(t, addr, testVERP.ReturnPath(999999), sample(t, "postfix-5.1.1.eml")))
		assert.Equal(t, int64(1), r.Counts()["unknown"])
	})
	t.Run("ForeignRecipientRefused", func(t *testing.T) {
		id := enqueue(t, store, "victim@example.org")
		other := bounce.VERP{Domain: testVERP.Domain, Key: []byte("a key the attacker guessed wrong")}
		for _, rcpt := range []string{"postmaster@bounces.example.com", other.ReturnPath(id), "victim@example.org"} {
			err := sendReport(t, addr, rcpt, sample(t, "postfix-5.1.1.eml"))
			require.Error(t, err, rcpt)
			assert.Equal(t, 550, replyCode(t, err))
			assert.Contains(t, err.Error(), "return paths it issued")
		}
		assert.False(t, suppressed(t, store, "victim@example.org"))
	})
	t.Run("MalformedRefused", func(t *testing.T) {
		for _, name := range []string{"bad-auto-reply.eml", "bad-no-status-part.eml", "bad-status.eml", "bad-arf-no-type.eml"} {
			id := enqueue(t, store, "kept@example.org")
			err := sendReport(t, addr, testVERP.ReturnPath(id), sample(t, name))
			require.Error(t, err, name)
			assert.Equal(t, 550, replyCode(t, err), name)
			assert.Contains(t, err.Error(), "RFC 3464", name)
		}
		assert.False(t, suppressed(t, store, "kept@example.org"))
		// A refusal changes nothing for the next report.
		id := enqueue(t, store, "after@example.org")
		require.NoError(t, sendReport(t, addr, testVERP.ReturnPath(id), bytes.Clone(sample(t, "outlook-5.1.10.eml"))))
		assert.True(t, suppressed(t, store, "after@example.org"))
	})
	t.Run("StoreDownIsTemporary", func(t *testing.T) {
		_, addr := startReceiver(t, failing{})
		err := sendReport(t, addr, testVERP.ReturnPath(5), sample(t, "postfix-5.1.1.eml"))
		require.Error(t, err)
		assert.Equal(t, 451, replyCode(t, err), "the relay must keep the bounce and try again")
	})
}

type failing struct{}

func (failing) Recipient(context.Context, int64) (string, error) {
	return "", context.DeadlineExceeded
}
func (failing) Suppress(context.Context, string, string, time.Time) error { return nil }
