package privacy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// commenters allows comment follow-up for the addresses it holds, and nothing else.
func commenters(addrs ...string) privacy.Allower {
	return privacy.AllowFunc(func(ctx context.Context, p privacy.Purpose, subject string) (bool, error) {
		for _, a := range addrs {
			if a == subject {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestMailerGuard(t *testing.T) {
	ctx := context.Background()
	h := mailtest.NewHarness(t, nil, nil)
	h.Mailer.Allow(privacy.Purpose("comment-follow-up"), commenters("ann@example.org"))
	h.Mailer.Allow(privacy.Purpose("newsletter"), commenters()) // a site with a newsletter no one joined

	ok := privacy.Message{Purpose: privacy.Purpose("comment-follow-up"), DataSubject: "ann@example.org",
		To: privacy.Address{Name: "Ann", Email: "ann@example.org"}, Subject: "A reply to your comment", Text: "Someone replied."}

	t.Run("OK", func(t *testing.T) {
		_, err := h.Mailer.Send(ctx, ok)
		require.NoError(t, err)
		msgs := h.Server.Wait(1, 5*time.Second)
		require.Len(t, msgs, 1)
		assert.Equal(t, []string{"ann@example.org"}, msgs[0].To)
		assert.Equal(t, "A reply to your comment", msgs[0].Subject())
		assert.Contains(t, msgs[0].Text, "Someone replied.")
		assert.Contains(t, msgs[0].Header.Get("From"), "noreply@example.com")
	})

	refused := []struct {
		name   string
		mutate func(m *privacy.Message)
		reason string
	}{
		{"NewsletterToCommenter", func(m *privacy.Message) { m.Purpose = privacy.Purpose("newsletter") }, privacy.RefusedPurpose},
		{"UnknownSubject", func(m *privacy.Message) {
			m.DataSubject, m.To.Email = "bob@example.org", "bob@example.org"
		}, privacy.RefusedPurpose},
		{"ThirdPartyRecipient", func(m *privacy.Message) { m.To.Email = "advertiser@partner.example.net" }, privacy.RefusedRecipient},
		{"ThirdPartyReplyTo", func(m *privacy.Message) { m.ReplyTo.Email = "advertiser@partner.example.net" }, privacy.RefusedRecipient},
		{"ForeignSender", func(m *privacy.Message) { m.From.Email = "someone@elsewhere.example.net" }, privacy.RefusedSender},
		{"NoSubjectToOutsider", func(m *privacy.Message) { m.DataSubject = "" }, privacy.RefusedRecipient},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.mutate(&m)
			before, _ := h.Store.OutboxStats(ctx, "")
			_, err := h.Mailer.Send(ctx, m)
			var re *privacy.RefusalError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.reason, re.Reason)
			assert.ErrorIs(t, err, privacy.ErrRefused)
			assert.ErrorIs(t, err, privacy.ErrForbidden)
			assert.NotContains(t, err.Error(), "@", "a refusal never names an address")
			after, _ := h.Store.OutboxStats(ctx, "")
			assert.Equal(t, before.Total(), after.Total(), "nothing enqueued")
		})
	}

	invalid := []struct {
		field  string
		mutate func(m *privacy.Message)
	}{
		{"subject", func(m *privacy.Message) { m.Subject = "Hi\r\nBcc: victim@example.net" }},
		{"subject", func(m *privacy.Message) { m.Subject = "Hi\nthere" }},
		{"subject", func(m *privacy.Message) { m.Subject = "nul\x00byte" }},
		{"subject", func(m *privacy.Message) { m.Subject = strings.Repeat("x", privacy.MaxSubjectLen+1) }},
		{"to_name", func(m *privacy.Message) { m.To.Name = "Ann\r\nBcc: victim@example.net" }},
		{"from_name", func(m *privacy.Message) { m.From = privacy.Address{Name: "Ops\n", Email: "ops@example.com"} }},
		{"unsubscribe", func(m *privacy.Message) { m.Unsubscribe = "https://example.com/u?x=1\r\nBcc: victim@example.net" }},
		{"unsubscribe", func(m *privacy.Message) { m.Unsubscribe = "https://example.com/u>, <mailto:victim@example.net" }},
		{"unsubscribe", func(m *privacy.Message) { m.Unsubscribe = "javascript:alert(1)" }},
		{"to", func(m *privacy.Message) { m.To.Email = "ann@example.org\r\nBcc: victim@example.net" }},
		{"to", func(m *privacy.Message) { m.To.Email = "Ann <ann@example.org>" }},
		{"purpose", func(m *privacy.Message) { m.Purpose = "marketing" }},
		{"text", func(m *privacy.Message) { m.Text = "" }},
	}
	for _, tc := range invalid {
		t.Run("Invalid_"+tc.field, func(t *testing.T) {
			m := ok
			tc.mutate(&m)
			before, _ := h.Store.OutboxStats(ctx, "")
			_, err := h.Mailer.Send(ctx, m)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			after, _ := h.Store.OutboxStats(ctx, "")
			assert.Equal(t, before.Total(), after.Total(), "nothing enqueued")
		})
	}

	t.Run("OperatorInbox", func(t *testing.T) {
		h.Mailer.Allow(privacy.Purpose("support"), commenters("visitor@example.org"))
		_, err := h.Mailer.Send(ctx, privacy.Message{Purpose: privacy.Purpose("support"), DataSubject: "visitor@example.org",
			To: privacy.Address{Email: "support@example.com"}, ReplyTo: privacy.Address{Email: "visitor@example.org"},
			Subject: "New contact request", Text: "A visitor wrote."})
		require.NoError(t, err)
	})

	assert.GreaterOrEqual(t, h.Mailer.Refusals()[privacy.RefusedPurpose], int64(2))
}

func TestPurposeRecheckedBeforeDelivery(t *testing.T) {
	ctx := context.Background()
	h := mailtest.NewHarness(t, nil, nil)
	var subscribed atomic.Bool
	subscribed.Store(true)
	h.Mailer.Allow(privacy.Purpose("newsletter"), privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) {
		return subscribed.Load(), nil
	}))
	h.Server.SetMode(mailtest.TempFail) // hold the message in the outbox
	_, err := h.Mailer.Send(ctx, privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: "sub@example.org",
		To: privacy.Address{Email: "sub@example.org"}, Subject: "Issue 1", Text: "News", Unsubscribe: "https://example.com/u/abc"})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	// The person leaves between enqueue and delivery. The relay keeps refusing
	// until the next attempt has ended the message, so no attempt checked just
	// before the change can get through after it.
	subscribed.Store(false)
	require.Eventually(t, func() bool {
		st, _ := h.Store.OutboxStats(ctx, "")
		return st.Failed == 1
	}, 10*time.Second, 20*time.Millisecond)
	h.Server.SetMode(mailtest.Accept)
	assert.Empty(t, h.Server.Messages(), "a person who left between enqueue and send gets nothing")
	assert.Equal(t, int64(1), h.Mailer.Refusals()[privacy.RefusedPurpose])
}

// members is a BatchAllower over a set of addresses that records the size of each
// batch it is asked about.
type members struct {
	mu      sync.Mutex
	in      map[string]bool
	batches []int
}

func (m *members) Allows(_ context.Context, _ privacy.Purpose, subject string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.in[subject], nil
}

func (m *members) AllowsMessages(_ context.Context, msgs []*privacy.Message) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, len(msgs))
	out := make([]bool, len(msgs))
	for i, msg := range msgs {
		out[i] = m.in[msg.DataSubject]
	}
	return out, nil
}

// TestBatchRecheck: the Dispatcher asks a BatchAllower about a claimed batch at
// once; a person it no longer allows gets nothing, and another Allower for the
// purpose still admits whom it allows.
func TestBatchRecheck(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	mailer := privacy.NewMailer(mailtest.Policy(), store, nil)
	m := &members{in: map[string]bool{}}
	addrs := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"}
	for _, a := range addrs {
		m.in[a] = true
	}
	mailer.Allow(privacy.Purpose("newsletter"), m)
	mailer.Allow(privacy.Purpose("newsletter"), commenters("e@example.org"))
	for _, a := range addrs {
		_, err := mailer.Send(ctx, privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: a,
			To: privacy.Address{Email: a}, Subject: "Issue 1", Text: "News", Unsubscribe: "https://example.com/u/abc"})
		require.NoError(t, err)
	}
	// b and e leave while their messages wait.
	m.in["b@example.org"], m.in["e@example.org"], m.batches = false, false, nil

	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	require.NoError(t, err)
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Workers: 1, Poll: 10 * time.Millisecond}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	require.Eventually(t, func() bool {
		st, _ := store.OutboxStats(ctx, "")
		return st.Queued == 0
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	var got []string
	for _, msg := range srv.Messages() {
		got = append(got, msg.To[0])
	}
	assert.ElementsMatch(t, []string{"a@example.org", "c@example.org", "d@example.org", "e@example.org"}, got,
		"b left while queued; e is still allowed by the other Allower")
	assert.Equal(t, []int{5}, m.batches, "the re-check asks about the claimed batch at once")
	assert.Equal(t, int64(1), mailer.Refusals()[privacy.RefusedPurpose])
}

func TestUnsubscribeHeaders(t *testing.T) {
	h := mailtest.NewHarness(t, nil, nil)
	h.Mailer.Allow(privacy.Purpose("newsletter"), commenters("sub@example.org"))
	_, err := h.Mailer.Send(context.Background(), privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: "sub@example.org",
		To: privacy.Address{Email: "sub@example.org"}, Subject: "Issue 1", Text: "News", HTML: "<p>News</p>",
		Unsubscribe: "https://example.com/newsletter/unsubscribe?t=abc123"})
	require.NoError(t, err)
	msgs := h.Server.Wait(1, 5*time.Second)
	require.Len(t, msgs, 1)
	assert.Equal(t, "<https://example.com/newsletter/unsubscribe?t=abc123>", msgs[0].Header.Get("List-Unsubscribe"))
	assert.Equal(t, "List-Unsubscribe=One-Click", msgs[0].Header.Get("List-Unsubscribe-Post"))
	assert.Contains(t, msgs[0].HTML, "<p>News</p>")
	assert.Empty(t, msgs[0].Header.Get("Cc"))
	assert.Empty(t, msgs[0].Header.Get("Bcc"))
}

func TestSuppressionAfterPermanentFailure(t *testing.T) {
	ctx := context.Background()
	h := mailtest.NewHarness(t, nil, nil)
	h.Mailer.AllowContract(privacy.Contract{Name: "signup", Purposes: []privacy.PurposeUse{
		{Purpose: "account", Allower: commenters("gone@example.org"), Limit: 3}}})
	h.Server.FailFor("gone@example.org", mailtest.PermFail)
	m := privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "gone@example.org",
		To: privacy.Address{Email: "gone@example.org"}, Subject: "Verify", Text: "Link"}
	_, err := h.Mailer.Send(ctx, m)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ok, _ := h.Store.Suppressed(ctx, "gone@example.org")
		return ok
	}, 5*time.Second, 20*time.Millisecond)
	// Account mail is a limited purpose, which any visitor can send to any
	// address: the refusal is counted, not told (audit #13 finding 6).
	id, err := h.Mailer.Send(ctx, m)
	require.NoError(t, err)
	assert.Zero(t, id, "nothing queued")
	assert.Equal(t, int64(1), h.Mailer.Refusals()[privacy.RefusedSuppressed])
	// Unlimited, the purpose gets the refusal itself.
	h.Mailer.SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{}})
	_, err = h.Mailer.Send(ctx, m)
	var re *privacy.RefusalError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
}

func TestDroppedConnectionRetried(t *testing.T) {
	h := mailtest.NewHarness(t, nil, nil)
	h.Mailer.Allow(privacy.Purpose("account"), commenters("drop@example.org"))
	h.Server.SetMode(mailtest.Drop)
	_, err := h.Mailer.Send(context.Background(), privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "drop@example.org",
		To: privacy.Address{Email: "drop@example.org"}, Subject: "Verify", Text: "Link"})
	require.NoError(t, err)
	time.Sleep(150 * time.Millisecond)
	assert.Empty(t, h.Server.Messages())
	h.Server.SetMode(mailtest.Accept)
	msgs := h.Server.Wait(1, 5*time.Second)
	require.Len(t, msgs, 1, "a dropped connection is a temporary failure: the message arrives once the relay recovers")
}

func TestRetryGivesUpAfterMaxAge(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	srv.SetMode(mailtest.TempFail)
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	require.NoError(t, err)
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), commenters("late@example.org"))
	_, err = m.Send(ctx, privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "late@example.org",
		To: privacy.Address{Email: "late@example.org"}, Subject: "Verify", Text: "Link"})
	require.NoError(t, err)

	// The clock says the message has waited four days: the next temporary failure ends it.
	later := func() time.Time { return time.Now().Add(96 * time.Hour) }
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: m, Now: later, Poll: 10 * time.Millisecond}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool {
		st, _ := store.OutboxStats(ctx, "")
		return st.Failed == 1
	}, 5*time.Second, 10*time.Millisecond, "a message past MaxAge fails instead of retrying forever")
	ok, err := store.Suppressed(ctx, "late@example.org")
	require.NoError(t, err)
	assert.False(t, ok, "an expired message does not suppress the address: the failures were temporary")
}

// TestRelayClosedIdleConnection: when the relay drops a connection a worker holds
// idle, the next message goes out over a new one at once, not after a backoff.
func TestRelayClosedIdleConnection(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	addr := srv.Addr
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	require.NoError(t, err)
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), commenters("a@example.org", "b@example.org"))
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: m, Workers: 1, Poll: 10 * time.Millisecond, MinBackoff: time.Hour}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	defer func() { cancel(); <-done }()
	send := func(to string) {
		_, err := m.Send(ctx, privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: to, To: privacy.Address{Email: to}, Subject: "Hi", Text: "Hi"})
		require.NoError(t, err)
	}
	send("a@example.org")
	require.Len(t, srv.Wait(1, 5*time.Second), 1)

	srv.Close() // the relay restarts: the worker's connection is dead
	srv, err = mailtest.StartAt(addr)
	require.NoError(t, err)
	defer srv.Close()
	send("b@example.org")
	require.Len(t, srv.Wait(1, 5*time.Second), 1, "delivered over a new connection without waiting the hour of backoff")
}

// refAllower allows only the message with Ref "x:confirm": a MessageAllower.
type refAllower struct{ asked atomic.Int64 }

func (a *refAllower) Allows(context.Context, privacy.Purpose, string) (bool, error) {
	return true, nil // never consulted: AllowsMessage takes precedence
}

func (a *refAllower) AllowsMessage(_ context.Context, msg *privacy.Message) (bool, error) {
	a.asked.Add(1)
	return msg.Ref == "x:confirm" && msg.DataSubject == "sub@example.org", nil
}

func TestMessageAllowerJudgesRef(t *testing.T) {
	ctx := context.Background()
	h := mailtest.NewHarness(t, nil, nil)
	var a refAllower
	h.Mailer.Allow(privacy.Purpose("newsletter"), &a)
	msg := func(ref string) privacy.Message {
		return privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: "sub@example.org",
			To: privacy.Address{Email: "sub@example.org"}, Subject: "About " + ref, Text: "News", Ref: ref}
	}

	t.Run("RefusedAtSend", func(t *testing.T) {
		_, err := h.Mailer.Send(ctx, msg("campaign:1"))
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, privacy.RefusedPurpose, re.Reason)
	})

	t.Run("ConfirmationDelivered", func(t *testing.T) {
		_, err := h.Mailer.Send(ctx, msg("x:confirm"))
		require.NoError(t, err)
		msgs := h.Server.Wait(1, 5*time.Second)
		require.Len(t, msgs, 1)
		assert.Equal(t, "About x:confirm", msgs[0].Subject())
	})

	t.Run("RefusedAtDelivery", func(t *testing.T) {
		// Enqueue straight into the outbox, past Send, so only the dispatcher's
		// re-check stands between the message and the recipient.
		before := len(h.Server.Messages())
		m := msg("campaign:2")
		m.From = privacy.Address{Email: "noreply@example.com"} // as Send would have filled it in
		_, err := h.Store.Enqueue(ctx, &m)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st, _ := h.Store.OutboxStats(ctx, "campaign:2")
			return st.Failed == 1
		}, 5*time.Second, 20*time.Millisecond)
		assert.Len(t, h.Server.Messages(), before, "the re-check at delivery refuses a message Send would have refused")
	})
	assert.Equal(t, int64(4), a.asked.Load(), "asked at each Send and each delivery, with the message")
}

// TestDisplayNameWithSpecials: a display name with a double quote, a backslash or
// other specials is quoted (or encoded) so the message builds and arrives with the
// name intact, and the recipient is not suppressed.
func TestDisplayNameWithSpecials(t *testing.T) {
	ctx := context.Background()
	names := []string{`Sam 6" Jones`, `Jones, Sam (admin) <x@y>`, `Back\slash`, `Zoë "Z" Ämter`}
	addrs := make([]string, len(names))
	for i := range names {
		addrs[i] = "quote" + strconv.Itoa(i) + "@example.org"
	}
	h := mailtest.NewHarness(t, nil, nil)
	h.Mailer.Allow(privacy.Purpose("comment-follow-up"), commenters(addrs...))
	for i, name := range names {
		_, err := h.Mailer.Send(ctx, privacy.Message{Purpose: privacy.Purpose("comment-follow-up"), DataSubject: addrs[i],
			To: privacy.Address{Name: name, Email: addrs[i]}, ReplyTo: privacy.Address{Name: name, Email: addrs[i]},
			Subject: "A reply", Text: "Someone replied."})
		require.NoError(t, err)
	}
	msgs := h.Server.Wait(len(names), 5*time.Second)
	require.Len(t, msgs, len(names))
	for i, name := range names {
		got := h.Server.To(addrs[i])
		require.Len(t, got, 1, "name=%q", name)
		to, err := got[0].Header.AddressList("To")
		require.NoError(t, err, "name=%q To=%q", name, got[0].Header.Get("To"))
		require.Len(t, to, 1)
		assert.Equal(t, name, to[0].Name)
		assert.Equal(t, addrs[i], to[0].Address)
		rt, err := got[0].Header.AddressList("Reply-To")
		require.NoError(t, err)
		assert.Equal(t, name, rt[0].Name)
		suppressed, err := h.Store.Suppressed(ctx, addrs[i])
		require.NoError(t, err)
		assert.False(t, suppressed, "name=%q", name)
	}
}

// TestUnbuildableMessageNotSuppressed: a message the transport cannot build is a bug,
// not a bounce: it fails, the error is logged by message id without the address, and
// the address stays mailable for every purpose. Only a 5xx from the relay suppresses.
func TestUnbuildableMessageNotSuppressed(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none"})
	require.NoError(t, err)
	const bad = "bro ken@@example.org" // bypasses the Mailer's checks: only a bug could enqueue it
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), commenters(bad))
	id, err := store.Enqueue(ctx, &privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: bad,
		From: privacy.Address{Email: "noreply@example.com"}, To: privacy.Address{Email: bad}, Subject: "Verify", Text: "Link"})
	require.NoError(t, err)

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: m, Log: log, Workers: 1, Poll: 10 * time.Millisecond}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool {
		st, _ := store.OutboxStats(ctx, "")
		return st.Failed == 1
	}, 5*time.Second, 10*time.Millisecond, "an unbuildable message fails")
	ok, err := store.Suppressed(ctx, bad)
	require.NoError(t, err)
	assert.False(t, ok, "a message that cannot be built does not suppress its recipient")
	out := logs.String()
	assert.NotContains(t, out, "example.org", "the log names the message, never the address")
	assert.Contains(t, out, "level=ERROR")
	assert.Contains(t, out, "id="+strconv.FormatInt(id, 10))
	assert.Empty(t, srv.Messages())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSendBatchAnswersAsSend: SendBatch gives every message of a mixed batch the
// answer Send gives it on its own (malformed, each refusal, suppressed for a limited
// purpose and not, over the limit, an Allower failing), counts the same refusals and
// queues the same messages, asking a BatchAllower once for the batch.
func TestSendBatchAnswersAsSend(t *testing.T) {
	ctx := context.Background()
	broken := errors.New("allower down")
	newMailer := func() (*privacy.Mailer, *memstore.Store, *members) {
		store := memstore.New()
		require.NoError(t, store.Suppress(ctx, "gone@example.org", "550", time.Now()))
		m := privacy.NewMailer(testPolicy(), store, nil)
		m.AllowContract(privacy.Contract{Name: "forms", Purposes: []privacy.PurposeUse{{Purpose: "account", Allower: privacy.AllowFunc(anyone), Limit: 3}}})
		in := &members{in: map[string]bool{"a@example.org": true, "b@example.org": true, "gone@example.org": true}}
		m.Allow("newsletter", in)
		m.Allow("support", privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return false, broken }))
		return m, store, in
	}
	to := func(p privacy.Purpose, addr string) privacy.Message {
		return privacy.Message{Purpose: p, DataSubject: addr, To: privacy.Address{Email: addr}, Subject: "Issue 1", Text: "News"}
	}
	msgs := []privacy.Message{
		to("newsletter", "a@example.org"),
		to("newsletter", "stranger@example.org"),
		to("newsletter", "gone@example.org"),
		to("account", "Gone@example.org"),
		to("account", "victim@example.org"), to("account", "victim@example.org"), to("account", "victim@example.org"), to("account", "victim@example.org"),
		to("support", "b@example.org"),
		to("unknown", "b@example.org"),
		{Purpose: "newsletter", To: privacy.Address{Email: "editor@example.com"}, Subject: "Test", Text: "To staff"},
		to("newsletter", "b@example.org"),
	}
	bad := to("newsletter", "a@example.org")
	bad.Subject = "two\nlines"
	foreign := to("newsletter", "a@example.org")
	foreign.From.Email = "someone@elsewhere.example.net"
	msgs = append(msgs, bad, foreign)

	one, oneStore, _ := newMailer()
	var wantIDs []bool
	var wantErrs []error
	for _, msg := range msgs {
		id, err := one.Send(ctx, msg)
		wantIDs = append(wantIDs, id != 0)
		wantErrs = append(wantErrs, err)
	}
	batch, batchStore, in := newMailer()
	ids, errs, err := batch.SendBatch(ctx, msgs)
	require.NoError(t, err)
	require.Len(t, ids, len(msgs))
	require.Len(t, errs, len(msgs))
	for i := range msgs {
		assert.Equal(t, wantIDs[i], ids[i] != 0, "message %d enqueued", i)
		if wantErrs[i] == nil {
			assert.NoError(t, errs[i], "message %d", i)
			continue
		}
		if assert.Error(t, errs[i], "message %d", i) {
			assert.Equal(t, wantErrs[i].Error(), errs[i].Error(), "message %d", i)
			for _, target := range []error{privacy.ErrRefused, privacy.ErrInvalid, broken} {
				assert.Equal(t, errors.Is(wantErrs[i], target), errors.Is(errs[i], target), "message %d is %v", i, target)
			}
		}
	}
	assert.Equal(t, []bool{true, false, false, false, true, true, true, false, false, false, true, true, false, false}, wantIDs, "the cases are what they claim")
	assert.Equal(t, one.Refusals(), batch.Refusals())
	assert.Equal(t, []int{4}, in.batches, "one question for the batch's well-formed newsletter messages to subjects")
	assert.Empty(t, msgs[0].From.Email, "the caller's messages are not changed")

	claimed := func(s *memstore.Store) []string {
		items, err := s.Claim(ctx, "w", 100, time.Now().Add(time.Hour), time.Minute)
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, string(it.Message.Purpose)+" "+it.Message.To.Email+" "+it.Message.From.Email)
		}
		return out
	}
	assert.Equal(t, claimed(oneStore), claimed(batchStore))
}

// failingBatch is an outbox whose EnqueueBatch fails.
type failingBatch struct{ *memstore.Store }

func (failingBatch) EnqueueBatch(context.Context, []*privacy.Message) ([]int64, error) {
	return nil, errors.New("disk full")
}

// TestSendBatchStoreFailure: when the store fails, SendBatch enqueues nothing and
// counts nothing against the recipients' limits.
func TestSendBatchStoreFailure(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	m := privacy.NewMailer(testPolicy(), failingBatch{store}, nil)
	m.AllowContract(formsContract)
	msg := privacy.Message{Purpose: "account", DataSubject: "v@example.org", To: privacy.Address{Email: "v@example.org"}, Subject: "Confirm", Text: "Click"}
	_, _, err := m.SendBatch(ctx, []privacy.Message{msg, msg})
	require.ErrorContains(t, err, "disk full")
	st, err := store.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Zero(t, st.Total())
	direct := privacy.NewMailer(testPolicy(), store, nil)
	direct.AllowContract(formsContract)
	for range 3 {
		_, err := direct.Send(ctx, msg)
		require.NoError(t, err)
	}
	// The limit's counter of the failed batch was undone: the three above were
	// all queued.
	st, err = store.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 3, st.Queued)
}
