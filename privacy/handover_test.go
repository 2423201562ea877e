package privacy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/privacytest"
)

var allowAll = privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return true, nil })

// gate is a Transport whose sends wait until it opens; a privacytest.Recorder
// around it records what went through.
type gate struct {
	open    chan struct{} // closed when the gate opens
	waiting chan struct{} // a send came to the gate
}

func newGate() *gate { return &gate{open: make(chan struct{}), waiting: make(chan struct{}, 1)} }

func (g *gate) Dial(context.Context) (privacy.Conn, error) { return g, nil }
func (g *gate) Close() error                               { return nil }
func (g *gate) Send(context.Context, *privacy.Message) error {
	select {
	case g.waiting <- struct{}{}:
	default:
	}
	<-g.open
	return nil
}

// delivered returns the recipients of what r recorded.
func delivered(r *privacytest.Recorder) []string {
	var to []string
	for _, m := range r.Messages() {
		to = append(to, m.To.Email)
	}
	return to
}

// claims is a memory store that tells of its claims and keeps the ids they
// returned.
type claims struct {
	*memstore.Store
	claimed chan struct{} // a claim ran
	mu      sync.Mutex
	ids     []int64
}

func newClaims() *claims { return &claims{Store: memstore.New(), claimed: make(chan struct{}, 100)} }

func (c *claims) MarkSentAndClaim(ctx context.Context, owner string, sent []int64, limit int, now time.Time, lease time.Duration) ([]privacy.Item, error) {
	items, err := c.Store.MarkSentAndClaim(ctx, owner, sent, limit, now, lease)
	c.mu.Lock()
	for _, it := range items {
		c.ids = append(c.ids, it.ID)
	}
	c.mu.Unlock()
	select {
	case c.claimed <- struct{}{}:
	default:
	}
	return items, err
}

func (c *claims) claimedIDs() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.ids...)
}

// accountMailer is a Mailer on store that allows account mail to anyone.
func accountMailer(store privacy.OutboxStore) *privacy.Mailer {
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow("account", allowAll)
	return m
}

// requireSent waits until store counts n messages, all sent.
func requireSent(t *testing.T, store privacy.OutboxStore, n int, why string) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := store.OutboxStats(context.Background(), "")
		return err == nil && st == privacy.OutboxStats{Sent: n}
	}, 10*time.Second, time.Millisecond, why)
}

// address returns the i-th of a run of distinct addresses.
func address(i int) string { return string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.org" }

func account(to string) privacy.Message {
	return privacy.Message{Purpose: "account", DataSubject: to, To: privacy.Address{Email: to}, Subject: "Sign in", Text: "Hello"}
}

// runDispatcher runs d until the test ends or cancel is called; done is closed
// when Run returns.
func runDispatcher(t *testing.T, d *privacy.Dispatcher) (cancel func(), done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { d.Run(ctx); close(ended) }()
	t.Cleanup(func() { cancel(); <-ended })
	return cancel, ended
}

// TestHandOver: a Dispatcher that claims once an hour delivers at once what its
// Mailer sends outside a unit of work (it is handed over, leased, as it is
// stored), and a batch a unit of work sends once the unit commits, never before
// and never if it is undone; what Send sends in a unit of work waits for a claim,
// which a Wake brings forward.
func TestHandOver(t *testing.T) {
	ctx := context.Background()
	store := newClaims()
	mailer := accountMailer(store)
	tr := &privacytest.Recorder{}
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Workers: 2, Poll: time.Hour}
	runDispatcher(t, d)
	<-store.claimed // its first claim, of an empty outbox: the next is an hour away

	var handed []int64
	for _, to := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		id, err := mailer.Send(ctx, account(to))
		require.NoError(t, err)
		handed = append(handed, id)
	}
	require.Eventually(t, func() bool { return len(tr.Messages()) == 3 }, 5*time.Second, time.Millisecond,
		"mail sent outside a unit of work goes out without waiting for a claim")
	requireSent(t, store, 3, "and is marked sent")

	require.NoError(t, store.Do(ctx, func(ctx context.Context) error {
		ids, errs, err := mailer.SendBatch(ctx, []privacy.Message{account("w1@example.org"), account("w2@example.org")})
		require.NoError(t, err)
		require.Equal(t, []error{nil, nil}, errs)
		handed = append(handed, ids...)
		time.Sleep(50 * time.Millisecond)
		assert.Len(t, tr.Messages(), 3, "nothing a unit of work sends goes before it commits")
		return nil
	}))
	require.Eventually(t, func() bool { return len(tr.Messages()) == 5 }, 5*time.Second, time.Millisecond,
		"a unit of work's batch is handed over once the unit commits, without waiting for a claim")

	undone := errors.New("undone")
	err := store.Do(ctx, func(ctx context.Context) error {
		_, _, err := mailer.SendBatch(ctx, []privacy.Message{account("undone@example.org")})
		require.NoError(t, err)
		return undone
	})
	require.ErrorIs(t, err, undone)
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, tr.Messages(), 5, "an undone unit's mail never goes")
	requireSent(t, store, 5, "all marked sent")
	assert.Empty(t, store.claimedIDs(), "no claim returned any")

	require.NoError(t, store.Do(ctx, func(ctx context.Context) error {
		_, err := mailer.Send(ctx, account("work@example.org"))
		return err
	}))
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, tr.Messages(), 5, "what Send sends in a unit of work is not handed over: it waits for a claim")
	d.Wake()
	require.Eventually(t, func() bool { return len(tr.Messages()) == 6 }, 5*time.Second, time.Millisecond,
		"a Wake claims it at once")
	assert.ElementsMatch(t, []string{"a@example.org", "b@example.org", "c@example.org", "w1@example.org", "w2@example.org", "work@example.org"}, delivered(tr))
	assert.Len(t, store.claimedIDs(), 1)
	assert.NotContains(t, handed, store.claimedIDs()[0])
}

// TestHandOverStopped: a Dispatcher stopped with mail handed over that no worker
// took releases it, and another Dispatcher delivers it, each message once.
func TestHandOverStopped(t *testing.T) {
	ctx := context.Background()
	store := newClaims()
	mailer := accountMailer(store)
	shut := newGate()
	first := &privacytest.Recorder{Next: shut}
	d := &privacy.Dispatcher{Store: store, Transport: first, Mailer: mailer, Workers: 1, Batch: 1, Poll: time.Hour}
	cancel, done := runDispatcher(t, d)
	<-store.claimed

	addrs := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"}
	for _, to := range addrs {
		_, err := mailer.Send(ctx, account(to))
		require.NoError(t, err)
	}
	// The one worker waits at the shut relay with the first message, the others
	// in the hand-over queue: stopped, it sends the first and releases the rest.
	select {
	case <-shut.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("no message came to the relay")
	}
	cancel()
	close(shut.open)
	<-done
	require.Len(t, first.Messages(), 1)
	require.Empty(t, store.claimedIDs(), "all four were handed over")

	tr := &privacytest.Recorder{}
	runDispatcher(t, &privacy.Dispatcher{Store: store, Transport: tr, Workers: 2, Poll: 5 * time.Millisecond})
	requireSent(t, store, 4, "released at once, not left to their leases")
	assert.ElementsMatch(t, addrs, append(delivered(first), delivered(tr)...), "each delivered once")
}

// TestHandOverOneDispatcherPerMailer: a second Dispatcher of the same Mailer
// delivers by claims only, and the mail is delivered once either way.
func TestHandOverOneDispatcherPerMailer(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	mailer := accountMailer(store)
	tr := &privacytest.Recorder{}
	for range 2 {
		runDispatcher(t, &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Poll: 5 * time.Millisecond})
	}
	var want []string
	for i := range 50 {
		to := address(i)
		want = append(want, to)
		_, err := mailer.Send(ctx, account(to))
		require.NoError(t, err)
	}
	requireSent(t, store, 50, "all delivered")
	assert.ElementsMatch(t, want, delivered(tr), "each delivered once")
}

// wide is a Transport that takes a millisecond a message and records how many
// connections sent at once.
type wide struct {
	mu             sync.Mutex
	inFlight, most int
}

func (w *wide) Dial(context.Context) (privacy.Conn, error) { return w, nil }
func (w *wide) Close() error                               { return nil }
func (w *wide) Send(context.Context, *privacy.Message) error {
	w.mu.Lock()
	w.inFlight++
	w.most = max(w.most, w.inFlight)
	w.mu.Unlock()
	time.Sleep(time.Millisecond)
	w.mu.Lock()
	w.inFlight--
	w.mu.Unlock()
	return nil
}

// TestHandOverBacklog: mail a unit of work stored (a campaign's) is claimed
// batch after batch, by every worker at once, though the Dispatcher claims
// once an hour while it hands mail over.
func TestHandOverBacklog(t *testing.T) {
	ctx := context.Background()
	store := newClaims()
	mailer := accountMailer(store)
	w := &wide{}
	tr := &privacytest.Recorder{Next: w}
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Workers: 4, Batch: 8, Poll: time.Hour}
	runDispatcher(t, d)
	<-store.claimed

	msgs := make([]privacy.Message, 200)
	for i := range msgs {
		msgs[i] = account(address(i))
	}
	require.NoError(t, store.Do(ctx, func(ctx context.Context) error {
		_, _, err := mailer.SendBatch(ctx, msgs)
		return err
	}))
	d.Wake()
	requireSent(t, store, 200, "claims go on while they come back full, and what they delivered is marked")
	assert.Len(t, tr.Messages(), 200)
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Greater(t, w.most, 1, "more than one worker claimed the backlog")
}
