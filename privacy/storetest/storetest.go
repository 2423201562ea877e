// Package storetest is the conformance suite every privacy.Store must pass, so the
// memory and MySQL stores are proven to behave the same:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, newStore) })
	t.Run("Consent", func(t *testing.T) { testConsent(t, newStore) })
	t.Run("AccessLog", func(t *testing.T) { testAccess(t, newStore) })
	t.Run("Rights", func(t *testing.T) { testRights(t, newStore) })
	t.Run("Disclosures", func(t *testing.T) { testDisclosures(t, newStore) })
	t.Run("MailCounts", func(t *testing.T) { testMailCounts(t, newStore) })
	t.Run("AddressesIgnoreCase", func(t *testing.T) { testAddressCase(t, newStore(t)) })
	t.Run("UnitOfWork", func(t *testing.T) { testUnitOfWork(t, newStore(t)) })
}

// testUnitOfWork: a message enqueued and a consent recorded in a unit of work that
// fails are gone, never claimed; in one that commits they are there; a nested Do
// joins the outer one.
func testUnitOfWork(t *testing.T, s privacy.Store) {
	ctx := context.Background()
	now := time.Now()
	failed := errors.New("the change failed")
	msg := func(to string) *privacy.Message {
		return &privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: to, To: privacy.Address{Email: to}, Subject: "s", Text: "t"}
	}
	claimed := make(chan []privacy.Item, 1)
	err := s.Do(ctx, func(ctx context.Context) error {
		if _, err := s.Enqueue(ctx, msg("undone@example.org")); err != nil {
			return err
		}
		if err := s.AppendConsent(ctx, &privacy.Consent{Subject: "undone@example.org", Purpose: privacy.Purpose("newsletter"), Granted: true, PolicyVersion: "1", Source: "test", At: now}); err != nil {
			return err
		}
		// Another worker looks while the unit is open: nothing is due yet.
		go func() {
			items, _ := s.Claim(context.Background(), "other", 10, now.Add(time.Second), time.Minute)
			claimed <- items
		}()
		<-time.After(50 * time.Millisecond)
		return s.Do(ctx, func(ctx context.Context) error { return failed }) // nested: joins, and fails the whole
	})
	require.ErrorIs(t, err, failed)
	items := <-claimed
	assert.Empty(t, items, "a message of an open unit of work is not claimed")
	items, err = s.Claim(ctx, "w", 10, now.Add(time.Second), time.Minute)
	require.NoError(t, err)
	assert.Empty(t, items, "the message of a failed unit is never sent")
	hist, err := s.ConsentHistory(ctx, "undone@example.org")
	require.NoError(t, err)
	assert.Empty(t, hist, "the consent of a failed unit is gone")

	require.NoError(t, s.Do(ctx, func(ctx context.Context) error {
		_, err := s.Enqueue(ctx, msg("kept@example.org"))
		return err
	}))
	items, err = s.Claim(ctx, "w", 10, now.Add(time.Second), time.Minute)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, "kept@example.org", items[0].Message.To.Email)
	assert.NotEmpty(t, s.Database())
}

func testMailCounts(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	a := privacy.MailLimitKey(nil, privacy.Purpose("account"), "a@example.org")
	b := privacy.MailLimitKey(nil, privacy.Purpose("account"), "b@example.org")

	t.Run("CountAndExpire", func(t *testing.T) {
		s := newStore(t)
		for i := 1; i <= 4; i++ {
			n, err := s.CountMail(ctx, a, at.Add(time.Duration(i-1)*time.Minute), 24*time.Hour)
			require.NoError(t, err)
			assert.Equal(t, i, n)
		}
		n, err := s.CountMail(ctx, b, at, 24*time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "each key counts alone")
		n, err = s.CountMail(ctx, a, at.Add(24*time.Hour), 24*time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the window runs from the first count, not the latest: it ended")
		n, err = s.CountMail(ctx, a, at.Add(25*time.Hour), 24*time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 2, n)

		purged, err := s.PurgeMailCounts(ctx, at.Add(24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, purged, "b's window ended; a's second one has not")
		n, err = s.CountMail(ctx, b, at.Add(24*time.Hour+time.Second), time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		purged, err = s.PurgeMailCounts(ctx, at.Add(48*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 2, purged)
	})

	t.Run("UndoneWithItsUnit", func(t *testing.T) {
		s := newStore(t)
		failed := errors.New("the change failed")
		count := func(ctx context.Context, key string, now time.Time) int {
			n, err := s.CountMail(ctx, key, now, time.Hour)
			require.NoError(t, err)
			return n
		}
		require.Equal(t, 1, count(ctx, a, at))
		require.ErrorIs(t, s.Do(ctx, func(ctx context.Context) error {
			assert.Equal(t, 2, count(ctx, a, at))
			assert.Equal(t, 1, count(ctx, b, at))
			assert.Equal(t, 1, count(ctx, a, at.Add(2*time.Hour)), "a's window ended: a new one")
			return failed
		}), failed)
		assert.Equal(t, 2, count(ctx, a, at.Add(time.Minute)), "a's count and window as before the unit")
		assert.Equal(t, 1, count(ctx, b, at), "b's count of the failed unit is gone")
	})

	t.Run("ConcurrentCountsDistinct", func(t *testing.T) {
		s := newStore(t)
		var mu sync.Mutex
		seen := map[int]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					n, err := s.CountMail(ctx, a, at, time.Hour)
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					assert.False(t, seen[n], "count %d seen twice", n)
					seen[n] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, 80)
	})
}

// testAddressCase: every look-up by address compares privacy.AddressKey, so export
// and erasure find Zed@'s rows when asked about zed@, and a bounce for one
// spelling suppresses every other (audit #13 finding 10).
func testAddressCase(t *testing.T, s privacy.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	// A message queued before its recipient bounced, under another spelling, is
	// reported suppressed when claimed, and so is not sent.
	_, err := s.Enqueue(ctx, msg("Yan@example.org", "case"))
	require.NoError(t, err)
	require.NoError(t, s.Suppress(ctx, "yan@example.org", "bounce 5.1.1", at))
	items, err := s.Claim(ctx, "w", 10, time.Now().UTC().Add(time.Hour), time.Minute)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.True(t, items[0].Suppressed, "Claim sees a suppression whatever the case of the address")
	require.NoError(t, s.MarkFailed(ctx, "w", items[0].ID, "suppressed", at))
	require.NoError(t, s.AppendConsent(ctx, &privacy.Consent{Subject: "Zed@example.org", Purpose: privacy.Purpose("newsletter"), Granted: true,
		PolicyVersion: "1", Source: "form", At: at}))
	hist, err := s.ConsentHistory(ctx, "zed@example.org")
	require.NoError(t, err)
	require.Len(t, hist, 1, "ConsentHistory")
	assert.Equal(t, "Zed@example.org", hist[0].Subject, "kept as typed")

	_, h := privacy.NewToken()
	require.NoError(t, s.CreateRequest(ctx, &privacy.RightsRequest{Kind: privacy.RequestExport, Subject: "Zed@example.org", TokenHash: h, Created: at}))
	ok, err := s.HasRequest(ctx, "ZED@example.org", at)
	require.NoError(t, err)
	assert.True(t, ok, "HasRequest")

	require.NoError(t, s.AppendDisclosure(ctx, &privacy.Disclosure{Subject: "Zed@example.org", Basis: privacy.BasisSafety,
		Reference: "Ticket 1", Requester: "Police", ActorID: "1", Actor: "boss@example.com", At: at}))
	ds, err := s.ListDisclosures(ctx, "zed@example.org", 10)
	require.NoError(t, err)
	assert.Len(t, ds, 1, "ListDisclosures")
	require.NoError(t, s.RecordAccess(ctx, privacy.Access{ActorID: "1", Actor: "boss@example.com", Role: privacy.RoleAdmin,
		Subject: "Zed@example.org", What: "export", Why: "request", At: at}))
	acc, err := s.ListAccess(ctx, privacy.AccessFilter{Subject: "zED@example.org"})
	require.NoError(t, err)
	assert.Len(t, acc, 1, "ListAccess")
	n, err := s.Pseudonymize(ctx, "zed@example.org", "erased-zed")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "Pseudonymize")

	_, err = s.Enqueue(ctx, msg("Zed@example.org", ""))
	require.NoError(t, err)
	n, err = s.EraseOutbox(ctx, "zed@example.org")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "EraseOutbox")
	n, err = s.EraseConsents(ctx, "ZED@EXAMPLE.ORG")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "EraseConsents")

	require.NoError(t, s.Suppress(ctx, "Bounce@example.org", "550", at))
	ok, err = s.Suppressed(ctx, "bounce@example.org")
	require.NoError(t, err)
	assert.True(t, ok, "Suppressed")
	_, err = s.Enqueue(ctx, msg("BOUNCE@example.org", ""))
	var re *privacy.RefusalError
	assert.ErrorAs(t, err, &re, "Enqueue refuses another spelling of a suppressed address")
}

func msg(to string, ref string) *privacy.Message {
	return &privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: to, From: privacy.Address{Email: "noreply@example.com"},
		To: privacy.Address{Email: to}, Subject: "Hello", Text: "Body", Ref: ref}
}

func testOutbox(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	// Claims happen "an hour from now", so messages enqueued during a slow set-up
	// are due whatever the machine's load.
	now := time.Now().UTC().Truncate(time.Microsecond).Add(time.Hour)

	t.Run("ClaimOnce", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			_, err := s.Enqueue(ctx, msg(fmt.Sprintf("u%d@example.org", i), "r"))
			require.NoError(t, err)
		}
		a, err := s.Claim(ctx, "a", 3, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, a, 3)
		assert.Equal(t, "u0@example.org", a[0].Message.To.Email)
		assert.Equal(t, privacy.Purpose("account"), a[0].Message.Purpose)
		b, err := s.Claim(ctx, "b", 10, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, b, 2, "a claimed message must not be claimed again while its lease holds")
		for _, x := range b {
			for _, y := range a {
				assert.NotEqual(t, x.ID, y.ID)
			}
		}
		c, err := s.Claim(ctx, "c", 10, now, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, c)
	})

	t.Run("ConcurrentClaimsDisjoint", func(t *testing.T) {
		s := newStore(t)
		for i := range 60 {
			_, err := s.Enqueue(ctx, msg(fmt.Sprintf("c%d@example.org", i), ""))
			require.NoError(t, err)
		}
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			owner := fmt.Sprintf("w%d", w)
			wg.Go(func() {
				for {
					items, err := s.Claim(ctx, owner, 7, now, time.Minute)
					if !assert.NoError(t, err) || len(items) == 0 {
						return
					}
					mu.Lock()
					for _, it := range items {
						assert.NotContains(t, seen, it.ID, "ID=%d claimed twice", it.ID)
						seen[it.ID] = owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, 60)
	})

	t.Run("LeaseExpiry", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Enqueue(ctx, msg("lease@example.org", ""))
		require.NoError(t, err)
		a, err := s.Claim(ctx, "dead", 1, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, a, 1)
		b, err := s.Claim(ctx, "live", 1, now.Add(2*time.Minute), time.Minute)
		require.NoError(t, err)
		require.Len(t, b, 1, "a message whose lease expired must be claimed again")
		assert.Equal(t, 1, b[0].Attempts, "the dead worker's attempt counts")
		// The dead worker's late report is ignored: it no longer holds the message.
		require.NoError(t, s.MarkSent(ctx, "dead", []int64{a[0].ID}, now))
		st, err := s.OutboxStats(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 1}, st)
		require.NoError(t, s.MarkSent(ctx, "live", []int64{b[0].ID}, now))
		st, err = s.OutboxStats(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Sent: 1}, st)
	})

	t.Run("EnqueueLeased", func(t *testing.T) {
		s, ls := leasing(t, newStore)
		until := now.Add(time.Minute)
		var ids []int64
		for i := range 3 {
			id, err := ls.EnqueueLeased(ctx, msg(fmt.Sprintf("l%d@example.org", i), "leased"), "mine", until)
			require.NoError(t, err)
			require.NotZero(t, id)
			ids = append(ids, id)
		}
		st, err := s.OutboxStats(ctx, "leased")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 3}, st)
		got, err := s.Claim(ctx, "other", 10, now, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, got, "a message enqueued leased is claimed by nobody while its lease holds")
		require.NoError(t, s.MarkSent(ctx, "mine", ids[:1], now), "its owner marks it as a claim's owner would")
		released, err := ls.EnqueueLeased(ctx, msg("released@example.org", "released"), "mine", until)
		require.NoError(t, err)
		require.NoError(t, s.Release(ctx, "mine", []int64{released}))
		got, err = s.Claim(ctx, "other", 10, now, time.Hour)
		require.NoError(t, err)
		require.Len(t, got, 1, "released by its owner, it is due at once")
		assert.Equal(t, released, got[0].ID)

		// The owner died: the lease runs out and the rest is claimed again.
		got, err = s.Claim(ctx, "other", 10, until.Add(time.Second), time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 2)
		for i, it := range got {
			assert.Equal(t, ids[i+1], it.ID)
			assert.Equal(t, fmt.Sprintf("l%d@example.org", i+1), it.Message.To.Email)
			assert.Equal(t, 1, it.Attempts, "the dead owner's attempt counts")
		}
		require.NoError(t, s.MarkSent(ctx, "mine", ids[1:], now), "the dead owner's late report is ignored")
		st, err = s.OutboxStats(ctx, "leased")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 2, Sent: 1}, st)

		require.NoError(t, s.Suppress(ctx, "gone@example.org", "550", now))
		_, err = ls.EnqueueLeased(ctx, msg("gone@example.org", "leased"), "mine", until)
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
		err = s.Do(ctx, func(ctx context.Context) error {
			_, err := ls.EnqueueLeased(ctx, msg("work@example.org", "leased"), "mine", until)
			return err
		})
		require.ErrorIs(t, err, privacy.ErrInUnitOfWork)
		st, err = s.OutboxStats(ctx, "leased")
		require.NoError(t, err)
		assert.Equal(t, 3, st.Total(), "neither the suppressed recipient's message nor the unit of work's was stored")
	})

	t.Run("EnqueueBatchLeased", func(t *testing.T) {
		s, ls := leasing(t, newStore)
		until := now.Add(time.Minute)
		require.NoError(t, s.Suppress(ctx, "gone@example.org", "550", now))
		var ids []int64
		var ended []bool
		err := s.Do(ctx, func(ctx context.Context) error {
			var err error
			ids, err = ls.EnqueueBatchLeased(ctx, []*privacy.Message{msg("b0@example.org", "batch"), msg("gone@example.org", "batch"), msg("b2@example.org", "batch")}, "mine", until)
			require.True(t, privacy.AfterWork(ctx, func(committed bool) { ended = append(ended, committed) }), "the store's unit of work runs what is registered after it")
			assert.Empty(t, ended, "not before the unit ends")
			return err
		})
		require.NoError(t, err)
		assert.Equal(t, []bool{true}, ended)
		require.Len(t, ids, 3)
		assert.NotZero(t, ids[0])
		assert.Zero(t, ids[1], "a suppressed recipient's message is not stored")
		assert.NotZero(t, ids[2])
		got, err := s.Claim(ctx, "other", 10, now, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, got, "committed leased: claimed by nobody while the lease holds")
		require.NoError(t, s.MarkSent(ctx, "mine", ids[:1], now), "its owner marks it as a claim's owner would")
		got, err = s.Claim(ctx, "other", 10, until.Add(time.Second), time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 1, "the lease ran out: the unsent one is claimed again")
		assert.Equal(t, ids[2], got[0].ID)

		ended = nil
		undone := errors.New("undone")
		err = s.Do(ctx, func(ctx context.Context) error {
			_, err := ls.EnqueueBatchLeased(ctx, []*privacy.Message{msg("u@example.org", "undone")}, "mine", until)
			require.NoError(t, err)
			privacy.AfterWork(ctx, func(committed bool) { ended = append(ended, committed) })
			return undone
		})
		require.ErrorIs(t, err, undone)
		assert.Equal(t, []bool{false}, ended)
		st, err := s.OutboxStats(ctx, "undone")
		require.NoError(t, err)
		assert.Zero(t, st.Total(), "an undone unit's leased messages are gone with it")
	})

	t.Run("MarkSentAndClaim", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			_, err := s.Enqueue(ctx, msg(fmt.Sprintf("m%d@example.org", i), "batch"))
			require.NoError(t, err)
		}
		a, err := s.Claim(ctx, "w", 2, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, a, 2)
		other, err := s.Claim(ctx, "other", 1, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, other, 1)
		b, err := s.MarkSentAndClaim(ctx, "w", []int64{a[0].ID, a[1].ID, other[0].ID}, 10, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, b, 2, "the next batch is claimed")
		for _, it := range b {
			assert.NotContains(t, []int64{a[0].ID, a[1].ID, other[0].ID}, it.ID)
		}
		st, err := s.OutboxStats(ctx, "batch")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 3, Sent: 2}, st, "a message held by another worker is not marked")
		c, err := s.MarkSentAndClaim(ctx, "w", []int64{b[0].ID, b[1].ID}, 10, now, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, c)
		st, err = s.OutboxStats(ctx, "batch")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 1, Sent: 4}, st)
	})

	t.Run("RetryReleaseFail", func(t *testing.T) {
		s := newStore(t)
		for _, to := range []string{"r1@example.org", "r2@example.org", "r3@example.org"} {
			_, err := s.Enqueue(ctx, msg(to, "camp"))
			require.NoError(t, err)
		}
		items, err := s.Claim(ctx, "w", 3, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, items, 3)
		require.NoError(t, s.Retry(ctx, "w", items[0].ID, now.Add(time.Hour), "451 later"))
		require.NoError(t, s.Release(ctx, "w", []int64{items[1].ID}))
		require.NoError(t, s.MarkFailed(ctx, "w", items[2].ID, "550 no such user", now))

		again, err := s.Claim(ctx, "w2", 10, now, 2*time.Hour)
		require.NoError(t, err)
		require.Len(t, again, 1, "only the released message is due now")
		assert.Equal(t, items[1].ID, again[0].ID)
		assert.Equal(t, 0, again[0].Attempts)

		later, err := s.Claim(ctx, "w3", 10, now.Add(time.Hour), time.Minute)
		require.NoError(t, err)
		require.Len(t, later, 1)
		assert.Equal(t, items[0].ID, later[0].ID)
		assert.Equal(t, 1, later[0].Attempts)

		st, err := s.OutboxStats(ctx, "camp")
		require.NoError(t, err)
		assert.Equal(t, privacy.OutboxStats{Queued: 2, Failed: 1}, st)
		st, err = s.OutboxStats(ctx, "other")
		require.NoError(t, err)
		assert.Zero(t, st.Total())
	})

	t.Run("Suppression", func(t *testing.T) {
		s := newStore(t)
		ok, err := s.Suppressed(ctx, "bounce@example.org")
		require.NoError(t, err)
		assert.False(t, ok)
		id, err := s.Enqueue(ctx, msg("bounce@example.org", ""))
		require.NoError(t, err)
		to, err := s.Recipient(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "bounce@example.org", to, "a bounce naming message %d must find its recipient", id)
		_, err = s.Recipient(ctx, id+1000)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		require.NoError(t, s.Suppress(ctx, "bounce@example.org", "550", now))
		require.NoError(t, s.Suppress(ctx, "bounce@example.org", "550 again", now))
		ok, err = s.Suppressed(ctx, "bounce@example.org")
		require.NoError(t, err)
		assert.True(t, ok)
		_, err = s.Enqueue(ctx, msg("bounce@example.org", ""))
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re, "a suppressed recipient is refused at enqueue")
		assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
		items, err := s.Claim(ctx, "w", 1, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, items, 1)
		assert.True(t, items[0].Suppressed, "Claim must report a recipient suppressed after enqueue")
	})

	t.Run("ConcurrentEnqueue", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Suppress(ctx, "gone@example.org", "550", now))
		const callers, each = 40, 25
		to := func(c, i int) string {
			if c == 13 && i == 13 {
				return "gone@example.org"
			}
			return fmt.Sprintf("c%d-%d@example.org", c, i)
		}
		ids := make([][]int64, callers)
		var wg sync.WaitGroup
		for c := range callers {
			ids[c] = make([]int64, each)
			wg.Go(func() {
				for i := range each {
					id, err := s.Enqueue(ctx, msg(to(c, i), "concurrent"))
					if to(c, i) == "gone@example.org" {
						var re *privacy.RefusalError
						assert.ErrorAs(t, err, &re, "a suppressed recipient is refused")
						continue
					}
					assert.NoError(t, err)
					ids[c][i] = id
				}
			})
		}
		wg.Wait()
		seen := map[int64]bool{}
		for c := range callers {
			for i, id := range ids[c] {
				if to(c, i) == "gone@example.org" {
					continue
				}
				require.False(t, seen[id], "id %d given twice", id)
				seen[id] = true
				got, err := s.Recipient(ctx, id)
				require.NoError(t, err)
				require.Equal(t, to(c, i), got, "id %d is its caller's message", id)
			}
		}
		st, err := s.OutboxStats(ctx, "concurrent")
		require.NoError(t, err)
		assert.Equal(t, callers*each-1, st.Queued)
	})

	t.Run("EnqueueBatch", func(t *testing.T) {
		s := newStore(t)
		ids, err := s.EnqueueBatch(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, ids)
		require.NoError(t, s.Suppress(ctx, "Gone@example.org", "550", now))
		// More than a MySQL chunk of rows, and a few messages that together exceed
		// a chunk's bytes.
		var msgs []*privacy.Message
		for i := range 1234 {
			to := fmt.Sprintf("b%04d@example.org", i)
			if i == 700 {
				to = "gone@example.org"
			}
			msgs = append(msgs, msg(to, "batch"))
		}
		big := strings.Repeat("x", 1<<20)
		for i := range 5 {
			m := msg(fmt.Sprintf("big%d@example.org", i), "batch")
			m.Text = big
			msgs = append(msgs, m)
		}
		ids, err = s.EnqueueBatch(ctx, msgs)
		require.NoError(t, err)
		require.Len(t, ids, len(msgs))
		assert.Zero(t, ids[700], "a suppressed recipient, under any spelling, is not stored")
		items, err := s.Claim(ctx, "w", 2000, now, time.Minute)
		require.NoError(t, err)
		require.Len(t, items, len(msgs)-1)
		byID := map[int64]privacy.Item{}
		for _, it := range items {
			byID[it.ID] = it
		}
		for i, id := range ids {
			if i == 700 {
				continue
			}
			it, ok := byID[id]
			if !assert.True(t, ok, "message %d: id %d not stored", i, id) {
				break
			}
			assert.Equal(t, msgs[i].To.Email, it.Message.To.Email, "id %d is message %d's", id, i)
			assert.Equal(t, len(msgs[i].Text), len(it.Message.Text))
			if i > 0 && ids[i-1] != 0 {
				assert.Greater(t, id, ids[i-1], "ids in the order of the messages")
			}
		}
		st, err := s.OutboxStats(ctx, "batch")
		require.NoError(t, err)
		assert.Equal(t, len(msgs)-1, st.Queued)
	})

	t.Run("EnqueueBatchInUnitOfWork", func(t *testing.T) {
		s := newStore(t)
		batch := []*privacy.Message{msg("w1@example.org", ""), msg("w2@example.org", "")}
		failed := errors.New("the change failed")
		claimed := make(chan []privacy.Item, 1)
		err := s.Do(ctx, func(ctx context.Context) error {
			if _, err := s.EnqueueBatch(ctx, batch); err != nil {
				return err
			}
			go func() {
				items, _ := s.Claim(context.Background(), "other", 10, now, time.Minute)
				claimed <- items
			}()
			<-time.After(50 * time.Millisecond)
			return failed
		})
		require.ErrorIs(t, err, failed)
		assert.Empty(t, <-claimed, "messages of an open unit of work are not claimed")
		items, err := s.Claim(ctx, "w", 10, now, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, items, "the messages of a failed unit are never sent")

		require.NoError(t, s.Do(ctx, func(ctx context.Context) error {
			_, err := s.EnqueueBatch(ctx, batch)
			return err
		}))
		items, err = s.Claim(ctx, "w", 10, now, time.Minute)
		require.NoError(t, err)
		assert.Len(t, items, 2)
	})

	t.Run("PurgeAndErase", func(t *testing.T) {
		s := newStore(t)
		for _, to := range []string{"keep@example.org", "gone@example.org", "gone@example.org"} {
			_, err := s.Enqueue(ctx, msg(to, ""))
			require.NoError(t, err)
		}
		items, err := s.Claim(ctx, "w", 1, now, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.MarkSent(ctx, "w", []int64{items[0].ID}, now))
		n, err := s.PurgeOutbox(ctx, now)
		require.NoError(t, err)
		assert.Equal(t, 0, n, "nothing ended before now")
		n, err = s.PurgeOutbox(ctx, now.Add(time.Second))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		n, err = s.EraseOutbox(ctx, "gone@example.org")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		st, err := s.OutboxStats(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, 0, st.Total())
	})
}

func testConsent(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	recs := []privacy.Consent{
		{Subject: "a@example.org", Purpose: privacy.Purpose("newsletter"), Granted: true, PolicyVersion: "1", Source: "form", At: at},
		{Subject: "b@example.org", Purpose: privacy.Purpose("promotions"), Granted: true, PolicyVersion: "1", Source: "registration", At: at},
		{Subject: "a@example.org", Purpose: privacy.Purpose("newsletter"), Granted: false, PolicyVersion: "2", Source: "unsubscribe-link", At: at.Add(time.Hour)},
	}
	for i := range recs {
		require.NoError(t, s.AppendConsent(ctx, &recs[i]))
		assert.NotZero(t, recs[i].ID)
	}
	assert.Less(t, recs[0].ID, recs[1].ID)

	hist, err := s.ConsentHistory(ctx, "a@example.org")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	assert.Equal(t, recs[0], hist[0])
	assert.Equal(t, recs[2], hist[1])

	after, err := s.ConsentsAfter(ctx, recs[0].ID, 10)
	require.NoError(t, err)
	require.Len(t, after, 2)
	assert.Equal(t, recs[1], after[0])
	after, err = s.ConsentsAfter(ctx, 0, 1)
	require.NoError(t, err)
	assert.Len(t, after, 1)

	n, err := s.EraseConsents(ctx, "a@example.org")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	hist, err = s.ConsentHistory(ctx, "a@example.org")
	require.NoError(t, err)
	assert.Empty(t, hist)
}

func testAccess(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, subj := range []string{"x@example.org", "y@example.org", "x@example.org"} {
		require.NoError(t, s.RecordAccess(ctx, privacy.Access{ActorID: fmt.Sprint(i % 2), Actor: "staff@example.com",
			Role: privacy.RoleSupport, Subject: subj, What: "contact request", Why: "answering", At: at.Add(time.Duration(i) * time.Minute)}))
	}
	all, err := s.ListAccess(ctx, privacy.AccessFilter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.True(t, all[0].At.After(all[1].At), "newest first")
	assert.Equal(t, privacy.RoleSupport, all[0].Role)
	assert.Equal(t, "answering", all[0].Why)

	x, err := s.ListAccess(ctx, privacy.AccessFilter{Subject: "x@example.org"})
	require.NoError(t, err)
	assert.Len(t, x, 2)
	byActor, err := s.ListAccess(ctx, privacy.AccessFilter{ActorID: "1"})
	require.NoError(t, err)
	assert.Len(t, byActor, 1)
	since, err := s.ListAccess(ctx, privacy.AccessFilter{Since: at.Add(time.Minute)})
	require.NoError(t, err)
	assert.Len(t, since, 2)
	limited, err := s.ListAccess(ctx, privacy.AccessFilter{Limit: 1})
	require.NoError(t, err)
	assert.Len(t, limited, 1)
}

func testRights(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	_, h1 := privacy.NewToken()
	_, h2 := privacy.NewToken()
	r := &privacy.RightsRequest{Kind: privacy.RequestExport, Subject: "a@example.org", TokenHash: h1, Created: at}
	require.NoError(t, s.CreateRequest(ctx, r))
	require.NotZero(t, r.ID)
	require.NoError(t, s.CreateRequest(ctx, &privacy.RightsRequest{Kind: privacy.RequestErase, Subject: "b@example.org", TokenHash: h2, Created: at.Add(time.Hour)}))

	got, err := s.RequestByToken(ctx, h1)
	require.NoError(t, err)
	assert.Equal(t, "a@example.org", got.Subject)
	assert.Equal(t, privacy.RequestExport, got.Kind)
	assert.False(t, got.Confirmed)
	_, err = s.RequestByToken(ctx, make([]byte, 32))
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	_, err = s.RequestByDownload(ctx, make([]byte, 32))
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	_, dl := privacy.NewToken()
	got.Confirmed, got.DownloadHash, got.DownloadBy = true, dl, at.Add(time.Hour)
	require.NoError(t, s.UpdateRequest(ctx, got))
	byDL, err := s.RequestByDownload(ctx, dl)
	require.NoError(t, err)
	assert.Equal(t, r.ID, byDL.ID)
	assert.True(t, byDL.Confirmed)
	assert.True(t, byDL.DownloadBy.Equal(at.Add(time.Hour)))

	ok, err := s.HasRequest(ctx, "a@example.org", at)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = s.HasRequest(ctx, "a@example.org", at.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "older than since")

	n, err := s.PurgeRequests(ctx, at.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, s.DeleteRequest(ctx, r.ID), "deleting a deleted request is not an error")
	_, err = s.RequestByToken(ctx, h2)
	require.NoError(t, err)

	t.Run("EraseRequests", func(t *testing.T) {
		s := newStore(t)
		for i, subj := range []string{"e@example.org", "E@Example.org", "f@example.org"} {
			_, h := privacy.NewToken()
			require.NoError(t, s.CreateRequest(ctx, &privacy.RightsRequest{Kind: privacy.RequestExport, Subject: subj, TokenHash: h, Created: at.Add(time.Duration(i) * time.Minute)}))
		}
		n, err := s.EraseRequests(ctx, "e@example.org")
		require.NoError(t, err)
		assert.Equal(t, 2, n, "whatever the case the address was typed in")
		ok, err := s.HasRequest(ctx, "e@example.org", time.Time{})
		require.NoError(t, err)
		assert.False(t, ok)
		ok, err = s.HasRequest(ctx, "f@example.org", time.Time{})
		require.NoError(t, err)
		assert.True(t, ok, "another person's request stays")
	})

	for _, k := range []privacy.RequestKind{privacy.RequestExport, privacy.RequestErase} {
		require.NoError(t, s.AppendRightsEvent(ctx, &privacy.RightsEvent{Kind: k, Holders: 3, Records: 7, At: at}))
	}
	ev, err := s.RightsEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, ev, 2)
	assert.Equal(t, privacy.RequestErase, ev[0].Kind, "newest first")
	assert.Equal(t, 7, ev[0].Records)
}

func testDisclosures(t *testing.T, newStore func(t *testing.T) privacy.Store) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	d := &privacy.Disclosure{Subject: "a@example.org", Basis: privacy.BasisLegalProcess, Reference: "Case 12/345",
		Requester: "District Court", ActorID: "1", Actor: "boss@example.com", Holders: 2, At: at}
	require.NoError(t, s.AppendDisclosure(ctx, d))
	require.NotZero(t, d.ID)
	require.NoError(t, s.AppendDisclosure(ctx, &privacy.Disclosure{Subject: "b@example.org", Basis: privacy.BasisSafety,
		Reference: "Ticket 9", Requester: "Police", ActorID: "1", Actor: "boss@example.com", At: at.Add(time.Hour)}))
	all, err := s.ListDisclosures(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, "b@example.org", all[0].Subject, "newest first")
	one, err := s.ListDisclosures(ctx, "a@example.org", 10)
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, *d, one[0])

	require.NoError(t, s.RecordAccess(ctx, privacy.Access{ActorID: "1", Actor: "boss@example.com", Role: privacy.RoleAdmin,
		Subject: "a@example.org", What: "export", Why: "disclosure", At: at}))
	n, err := s.Pseudonymize(ctx, "a@example.org", "erased-abc")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one access record and one disclosure")
	one, err = s.ListDisclosures(ctx, "erased-abc", 10)
	require.NoError(t, err)
	assert.Len(t, one, 1)
	acc, err := s.ListAccess(ctx, privacy.AccessFilter{Subject: "a@example.org"})
	require.NoError(t, err)
	assert.Empty(t, acc)

	t.Run("ActorPseudonymized", func(t *testing.T) {
		s := newStore(t)
		for range 2 {
			require.NoError(t, s.RecordAccess(ctx, privacy.Access{ActorID: "7", Actor: "staff@example.org", Role: privacy.RoleSupport,
				Subject: "c@example.org", What: "contact request", Why: "answering", At: at}))
		}
		require.NoError(t, s.AppendDisclosure(ctx, &privacy.Disclosure{Subject: "c@example.org", Basis: privacy.BasisSafety,
			Reference: "Ticket 10", Requester: "Police", ActorID: "7", Actor: "staff@example.org", At: at}))
		n, err := s.Pseudonymize(ctx, "staff@example.org", "erased-def")
		require.NoError(t, err)
		assert.Equal(t, 3, n, "two access records and one disclosure name the address as actor")
		acc, err := s.ListAccess(ctx, privacy.AccessFilter{})
		require.NoError(t, err)
		require.Len(t, acc, 2, "the records themselves are kept")
		for _, a := range acc {
			assert.Equal(t, "erased-def", a.Actor)
			assert.Equal(t, "c@example.org", a.Subject, "the other person's reference stays")
		}
		ds, err := s.ListDisclosures(ctx, "c@example.org", 10)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, "erased-def", ds[0].Actor)
	})
}

// leasing returns a new store and the same as a LeasingStore, and skips the test
// for a store that is not one.
func leasing(t *testing.T, newStore func(t *testing.T) privacy.Store) (privacy.Store, privacy.LeasingStore) {
	s := newStore(t)
	ls, ok := s.(privacy.LeasingStore)
	if !ok {
		t.Skip("the store is not a privacy.LeasingStore")
	}
	return s, ls
}
