package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) newsletter.Store) {
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, newStore) })
	t.Run("Campaigns", func(t *testing.T) { testCampaigns(t, newStore) })
	t.Run("EnqueueBatch", func(t *testing.T) { testEnqueueBatch(t, newStore) })
	t.Run("SyncCursor", func(t *testing.T) { testSyncCursor(t, newStore) })
	t.Run("AddressesIgnoreCase", func(t *testing.T) { testAddressCase(t, newStore(t)) })
}

// testAddressCase: every look-up by address compares privacy.AddressKey, and an
// address has one subscription per list whatever its case (audit #13 finding 10).
func testAddressCase(t *testing.T, s newsletter.Store) {
	ctx := context.Background()
	first := put(t, s, "Zed@example.org", pending("Zed@example.org", newsletter.ListNewsletter, hash(7)))[0]
	got, err := s.Subscription(ctx, "zed@example.org", newsletter.ListNewsletter)
	require.NoError(t, err, "Subscription")
	assert.Equal(t, first.ID, got.ID)
	assert.Equal(t, "Zed@example.org", got.Email, "kept as typed")
	all, err := s.Subscriptions(ctx, "ZED@example.org")
	require.NoError(t, err)
	assert.Len(t, all, 1, "Subscriptions")

	var seen []newsletter.Subscription
	out, err := s.UpdateSubscriptions(ctx, "zEd@example.org", func(cur []newsletter.Subscription) ([]newsletter.Subscription, error) {
		seen = cur
		if len(cur) == 0 {
			return nil, nil
		}
		cur[0].Status, cur[0].ConfirmedAt = newsletter.StatusConfirmed, now
		return cur[:1], nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 1, "UpdateSubscriptions sees the row of another spelling")
	require.Len(t, out, 1)
	got, _ = s.SubscriptionByID(ctx, first.ID)
	assert.Equal(t, newsletter.StatusConfirmed, got.Status, "and may write it")

	_, err = s.UpdateSubscriptions(ctx, "zed@example.org", func([]newsletter.Subscription) ([]newsletter.Subscription, error) {
		return []newsletter.Subscription{pending("zed@example.org", newsletter.ListNewsletter, hash(8))}, nil
	})
	assert.ErrorIs(t, err, privacy.ErrConflict, "a second row for the list under another spelling")

	n, err := s.EraseSubscriptions(ctx, "ZED@EXAMPLE.ORG")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "EraseSubscriptions")
}

var now = time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)

func hash(b byte) []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = b
	}
	return h
}

func pending(email string, l newsletter.List, h []byte) newsletter.Subscription {
	return newsletter.Subscription{Email: email, List: l, Status: newsletter.StatusPending, Source: newsletter.SourceForm,
		PolicyVersion: "2026-11-01", CreatedAt: now, ConfirmHash: h, ConfirmSentAt: now, ConfirmExpires: now.Add(time.Hour)}
}

// put writes subs for email (ID 0 inserts) and returns the written rows.
func put(t *testing.T, s newsletter.Store, email string, subs ...newsletter.Subscription) []newsletter.Subscription {
	t.Helper()
	out, err := s.UpdateSubscriptions(context.Background(), email, func([]newsletter.Subscription) ([]newsletter.Subscription, error) {
		return subs, nil
	})
	require.NoError(t, err)
	return out
}

func confirmed(t *testing.T, s newsletter.Store, email string, l newsletter.List) newsletter.Subscription {
	t.Helper()
	sub := newsletter.Subscription{Email: email, List: l, Status: newsletter.StatusConfirmed, Source: newsletter.SourceForm,
		PolicyVersion: "2026-11-01", CreatedAt: now, ConfirmedAt: now}
	return put(t, s, email, sub)[0]
}

func testSubscriptions(t *testing.T, newStore func(t *testing.T) newsletter.Store) {
	ctx := context.Background()

	t.Run("InsertAndRead", func(t *testing.T) {
		s := newStore(t)
		out := put(t, s, "ann@example.org", pending("ann@example.org", newsletter.ListPromotions, hash(1)), pending("ann@example.org", newsletter.ListNewsletter, hash(1)))
		require.Len(t, out, 2)
		assert.NotZero(t, out[0].ID)
		assert.NotEqual(t, out[0].ID, out[1].ID)

		got, err := s.Subscription(ctx, "ann@example.org", newsletter.ListPromotions)
		require.NoError(t, err)
		assert.Equal(t, out[0].ID, got.ID)
		assert.Equal(t, newsletter.StatusPending, got.Status)
		assert.Equal(t, newsletter.SourceForm, got.Source)
		assert.Equal(t, "2026-11-01", got.PolicyVersion)
		assert.Equal(t, hash(1), got.ConfirmHash)
		assert.True(t, now.Equal(got.CreatedAt), "CreatedAt=%v, want %v", got.CreatedAt, now)
		assert.True(t, now.Add(time.Hour).Equal(got.ConfirmExpires), "ConfirmExpires=%v", got.ConfirmExpires)
		assert.True(t, got.ConfirmedAt.IsZero() && got.LeftAt.IsZero())

		all, err := s.Subscriptions(ctx, "ann@example.org")
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, newsletter.ListNewsletter, all[0].List, "ordered by list")

		byID, err := s.SubscriptionByID(ctx, out[1].ID)
		require.NoError(t, err)
		assert.Equal(t, newsletter.ListNewsletter, byID.List)

		byHash, err := s.SubscriptionsByConfirmHash(ctx, hash(1))
		require.NoError(t, err)
		assert.Len(t, byHash, 2)
		none, err := s.SubscriptionsByConfirmHash(ctx, hash(2))
		require.NoError(t, err)
		assert.Empty(t, none)

		_, err = s.Subscription(ctx, "bob@example.org", newsletter.ListNewsletter)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		_, err = s.SubscriptionByID(ctx, out[1].ID+1000)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		empty, err := s.Subscriptions(ctx, "bob@example.org")
		require.NoError(t, err)
		assert.Empty(t, empty)
	})

	t.Run("SubscriptionsTo", func(t *testing.T) {
		s := newStore(t)
		ann := put(t, s, "Ann@example.org", pending("Ann@example.org", newsletter.ListNewsletter, hash(1)), pending("Ann@example.org", newsletter.ListPromotions, hash(1)))
		bob := confirmed(t, s, "bob@example.org", newsletter.ListNewsletter)
		confirmed(t, s, "cat@example.org", newsletter.ListPromotions)
		got, err := s.SubscriptionsTo(ctx, newsletter.ListNewsletter, []string{"ann@EXAMPLE.org", "bob@example.org", "cat@example.org", "nobody@example.org"})
		require.NoError(t, err)
		ids := map[int64]string{}
		for _, g := range got {
			ids[g.ID] = g.Email
			assert.Equal(t, newsletter.ListNewsletter, g.List)
		}
		assert.Equal(t, map[int64]string{ann[0].ID: "Ann@example.org", bob.ID: "bob@example.org"}, ids,
			"each address's subscription to the list, whatever its spelling, and no other")
		none, err := s.SubscriptionsTo(ctx, newsletter.ListNewsletter, nil)
		require.NoError(t, err)
		assert.Empty(t, none)
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		sub := put(t, s, "ann@example.org", pending("ann@example.org", newsletter.ListNewsletter, hash(1)))[0]
		var seen []newsletter.Subscription
		_, err := s.UpdateSubscriptions(ctx, "ann@example.org", func(cur []newsletter.Subscription) ([]newsletter.Subscription, error) {
			seen = cur
			c := cur[0]
			c.Status, c.ConfirmedAt, c.ConfirmHash, c.ConfirmSentAt, c.ConfirmExpires = newsletter.StatusConfirmed, now.Add(time.Minute), nil, time.Time{}, time.Time{}
			return []newsletter.Subscription{c}, nil
		})
		require.NoError(t, err)
		require.Len(t, seen, 1, "decide sees the current rows")
		assert.Equal(t, sub.ID, seen[0].ID)
		got, err := s.Subscription(ctx, "ann@example.org", newsletter.ListNewsletter)
		require.NoError(t, err)
		assert.Equal(t, newsletter.StatusConfirmed, got.Status)
		assert.Empty(t, got.ConfirmHash)
		assert.True(t, got.ConfirmExpires.IsZero())
		assert.True(t, now.Add(time.Minute).Equal(got.ConfirmedAt))
		byHash, err := s.SubscriptionsByConfirmHash(ctx, hash(1))
		require.NoError(t, err)
		assert.Empty(t, byHash, "a cleared hash no longer finds the row")
	})

	t.Run("UnitOfWorkSeesRowsAndFailureWritesNothing", func(t *testing.T) {
		s := newStore(t)
		sub := put(t, s, "ann@example.org", pending("ann@example.org", newsletter.ListNewsletter, hash(1)))[0]
		boom := errors.New("boom")
		err := s.Do(ctx, func(ctx context.Context) error {
			written, err := s.UpdateSubscriptions(ctx, "ann@example.org", func(cur []newsletter.Subscription) ([]newsletter.Subscription, error) {
				c := cur[0]
				c.Status = newsletter.StatusConfirmed
				return []newsletter.Subscription{c, pending("ann@example.org", newsletter.ListPromotions, hash(3))}, nil
			})
			if err != nil {
				return err
			}
			got, err := s.Subscription(ctx, "ann@example.org", newsletter.ListNewsletter)
			require.NoError(t, err)
			assert.Equal(t, newsletter.StatusConfirmed, got.Status, "the unit of work sees its change")
			_, err = s.Subscription(ctx, "ann@example.org", newsletter.ListPromotions)
			require.NoError(t, err, "the unit of work sees the inserted row")
			require.Len(t, written, 2)
			assert.NotZero(t, written[1].ID)
			// A nested Do joins the unit, and its failure fails the whole.
			return s.Do(ctx, func(context.Context) error { return boom })
		})
		require.ErrorIs(t, err, boom)
		got, err := s.Subscription(ctx, "ann@example.org", newsletter.ListNewsletter)
		require.NoError(t, err)
		assert.Equal(t, newsletter.StatusPending, got.Status, "the update is undone")
		assert.Equal(t, sub.ID, got.ID)
		_, err = s.Subscription(ctx, "ann@example.org", newsletter.ListPromotions)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "the insert is undone")
		assert.NotEmpty(t, s.Database())

		err = s.Do(ctx, func(ctx context.Context) error {
			if _, err := s.EraseSubscriptions(ctx, "ann@example.org"); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		got, err = s.Subscription(ctx, "ann@example.org", newsletter.ListNewsletter)
		require.NoError(t, err, "an erasure in a failed unit of work is undone")
		assert.Equal(t, sub.ID, got.ID)
	})

	t.Run("DecideError", func(t *testing.T) {
		s := newStore(t)
		boom := privacy.Errorf(privacy.ErrGone, "gone")
		_, err := s.UpdateSubscriptions(ctx, "ann@example.org", func([]newsletter.Subscription) ([]newsletter.Subscription, error) {
			return nil, boom
		})
		assert.ErrorIs(t, err, privacy.ErrGone)
	})

	t.Run("InsertExistingConflicts", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "ann@example.org", pending("ann@example.org", newsletter.ListNewsletter, hash(1)))
		_, err := s.UpdateSubscriptions(ctx, "ann@example.org", func([]newsletter.Subscription) ([]newsletter.Subscription, error) {
			return []newsletter.Subscription{pending("ann@example.org", newsletter.ListNewsletter, hash(2))}, nil
		})
		assert.ErrorIs(t, err, privacy.ErrConflict)
		all, err := s.Subscriptions(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})

	t.Run("OtherAddressRefused", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UpdateSubscriptions(ctx, "ann@example.org", func([]newsletter.Subscription) ([]newsletter.Subscription, error) {
			return []newsletter.Subscription{pending("bob@example.org", newsletter.ListNewsletter, hash(2))}, nil
		})
		assert.ErrorIs(t, err, privacy.ErrInvalid)
		all, err := s.Subscriptions(ctx, "bob@example.org")
		require.NoError(t, err)
		assert.Empty(t, all)
	})

	t.Run("ConcurrentFirstSubscribe", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = s.UpdateSubscriptions(ctx, "race@example.org", func(cur []newsletter.Subscription) ([]newsletter.Subscription, error) {
					if len(cur) > 0 {
						return nil, nil
					}
					return []newsletter.Subscription{pending("race@example.org", newsletter.ListNewsletter, hash(byte(i)))}, nil
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			assert.NoError(t, err)
		}
		all, err := s.Subscriptions(ctx, "race@example.org")
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})

	t.Run("ConcurrentFirstSubscribeInUnitsOfWork", func(t *testing.T) {
		// As the Service calls it: the racing insert's loser retries inside the
		// unit of work it joined.
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				errs[i] = s.Do(ctx, func(ctx context.Context) error {
					_, err := s.UpdateSubscriptions(ctx, "race@example.org", func(cur []newsletter.Subscription) ([]newsletter.Subscription, error) {
						if len(cur) > 0 {
							return nil, nil
						}
						return []newsletter.Subscription{pending("race@example.org", newsletter.ListNewsletter, hash(byte(i)))}, nil
					})
					return err
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			assert.NoError(t, err)
		}
		all, err := s.Subscriptions(ctx, "race@example.org")
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})

	t.Run("EraseAndCount", func(t *testing.T) {
		s := newStore(t)
		confirmed(t, s, "ann@example.org", newsletter.ListNewsletter)
		confirmed(t, s, "ann@example.org", newsletter.ListPromotions)
		confirmed(t, s, "bob@example.org", newsletter.ListNewsletter)
		put(t, s, "cy@example.org", pending("cy@example.org", newsletter.ListNewsletter, hash(4)))
		n, err := s.CountConfirmed(ctx, newsletter.ListNewsletter)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = s.EraseSubscriptions(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		all, err := s.Subscriptions(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Empty(t, all)
		n, err = s.CountConfirmed(ctx, newsletter.ListNewsletter)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "bob is untouched")
	})

	t.Run("Purge", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "expired@example.org", pending("expired@example.org", newsletter.ListNewsletter, hash(1))) // expires now+1h
		fresh := pending("fresh@example.org", newsletter.ListNewsletter, hash(2))
		fresh.ConfirmExpires = now.Add(48 * time.Hour)
		put(t, s, "fresh@example.org", fresh)
		confirmed(t, s, "member@example.org", newsletter.ListNewsletter)
		left := newsletter.Subscription{Email: "left@example.org", List: newsletter.ListNewsletter, Status: newsletter.StatusUnsubscribed,
			Source: newsletter.SourceForm, PolicyVersion: "v", CreatedAt: now, LeftAt: now}
		put(t, s, "left@example.org", left)

		n, err := s.PurgeSubscriptions(ctx, now.Add(2*time.Hour), time.Time{})
		require.NoError(t, err)
		assert.Equal(t, 1, n, "only the expired confirmation; no retention for the unsubscribed")
		_, err = s.Subscription(ctx, "expired@example.org", newsletter.ListNewsletter)
		assert.ErrorIs(t, err, privacy.ErrNotFound)

		n, err = s.PurgeSubscriptions(ctx, now.Add(2*time.Hour), now.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the unsubscribed one, past retention")
		for _, a := range []string{"fresh@example.org", "member@example.org"} {
			_, err = s.Subscription(ctx, a, newsletter.ListNewsletter)
			assert.NoError(t, err, a)
		}
	})
}

func draft(l newsletter.List, subject string) *newsletter.Campaign {
	return &newsletter.Campaign{List: l, Subject: subject, Markdown: "# Hi", HTML: "<h1>Hi</h1>", Text: "Hi\n",
		Status: newsletter.CampaignDraft, CreatedBy: "u1", CreatedAt: now, UpdatedAt: now}
}

func testCampaigns(t *testing.T, newStore func(t *testing.T) newsletter.Store) {
	ctx := context.Background()

	t.Run("CreateGetList", func(t *testing.T) {
		s := newStore(t)
		a, b := draft(newsletter.ListNewsletter, "A"), draft(newsletter.ListPromotions, "B")
		require.NoError(t, s.CreateCampaign(ctx, a))
		require.NoError(t, s.CreateCampaign(ctx, b))
		assert.NotZero(t, a.ID)
		assert.Greater(t, b.ID, a.ID)
		got, err := s.Campaign(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, "A", got.Subject)
		assert.Equal(t, "<h1>Hi</h1>", got.HTML)
		assert.Equal(t, "Hi\n", got.Text)
		assert.Equal(t, newsletter.CampaignDraft, got.Status)
		assert.True(t, got.SendAt.IsZero())
		assert.True(t, now.Equal(got.CreatedAt))
		list, err := s.Campaigns(ctx, 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, b.ID, list[0].ID, "newest first")
		list, err = s.Campaigns(ctx, 1)
		require.NoError(t, err)
		assert.Len(t, list, 1)
		_, err = s.Campaign(ctx, b.ID+100)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		c := draft(newsletter.ListNewsletter, "A")
		require.NoError(t, s.CreateCampaign(ctx, c))
		boom := privacy.Errorf(privacy.ErrConflict, "no")
		_, err := s.UpdateCampaign(ctx, c.ID, func(c *newsletter.Campaign) error { c.Subject = "changed"; return boom })
		assert.ErrorIs(t, err, privacy.ErrConflict)
		got, _ := s.Campaign(ctx, c.ID)
		assert.Equal(t, "A", got.Subject, "a failing fn changes nothing")
		up, err := s.UpdateCampaign(ctx, c.ID, func(c *newsletter.Campaign) error {
			c.Subject, c.Status, c.SendAt = "B", newsletter.CampaignScheduled, now.Add(time.Hour)
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, "B", up.Subject)
		got, _ = s.Campaign(ctx, c.ID)
		assert.Equal(t, newsletter.CampaignScheduled, got.Status)
		assert.True(t, now.Add(time.Hour).Equal(got.SendAt))
		_, err = s.UpdateCampaign(ctx, c.ID+100, func(*newsletter.Campaign) error { return nil })
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("UnitOfWork", func(t *testing.T) {
		s := newStore(t)
		kept := draft(newsletter.ListNewsletter, "Kept")
		require.NoError(t, s.CreateCampaign(ctx, kept))
		members(t, s, newsletter.ListNewsletter, "m", 2)
		put(t, s, "p@example.org", pending("p@example.org", newsletter.ListNewsletter, hash(9)))
		id := sending(t, s, newsletter.ListNewsletter)
		var cursor int64
		require.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, cur int64) (int64, error) { cursor = cur; return cur, nil }))
		created := draft(newsletter.ListPromotions, "Undone")
		boom := errors.New("boom")
		err := s.Do(ctx, func(ctx context.Context) error {
			if err := s.CreateCampaign(ctx, created); err != nil {
				return err
			}
			if _, err := s.UpdateCampaign(ctx, kept.ID, func(c *newsletter.Campaign) error { c.Subject = "changed"; return nil }); err != nil {
				return err
			}
			b, err := s.EnqueueBatch(ctx, id, 10, now, func(_ context.Context, rs []newsletter.Recipient) (int, error) { return len(rs), nil })
			if err != nil {
				return err
			}
			assert.Equal(t, 2, b.Enqueued)
			if err := s.WithSyncCursor(ctx, func(_ context.Context, cur int64) (int64, error) { return cur + 5, nil }); err != nil {
				return err
			}
			n, err := s.PurgeSubscriptions(ctx, now.Add(24*time.Hour), time.Time{})
			if err != nil {
				return err
			}
			assert.Equal(t, 1, n)
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = s.Campaign(ctx, created.ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a campaign created in a failed unit of work is undone")
		got, err := s.Campaign(ctx, kept.ID)
		require.NoError(t, err)
		assert.Equal(t, "Kept", got.Subject, "an update in a failed unit of work is undone")
		got, err = s.Campaign(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, newsletter.CampaignSending, got.Status, "a batch in a failed unit of work is undone with its messages")
		assert.Zero(t, got.Cursor)
		assert.Zero(t, got.Enqueued)
		require.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, cur int64) (int64, error) {
			assert.Equal(t, cursor, cur, "the sync cursor moved in a failed unit of work is undone")
			return cur, nil
		}))
		_, err = s.Subscription(ctx, "p@example.org", newsletter.ListNewsletter)
		assert.NoError(t, err, "a purge in a failed unit of work is undone")
	})

	t.Run("Due", func(t *testing.T) {
		s := newStore(t)
		mk := func(st newsletter.CampaignStatus, at time.Time) int64 {
			c := draft(newsletter.ListNewsletter, string(st))
			c.Status, c.SendAt = st, at
			require.NoError(t, s.CreateCampaign(ctx, c))
			return c.ID
		}
		mk(newsletter.CampaignDraft, time.Time{})
		mk(newsletter.CampaignScheduled, now.Add(time.Hour))
		past := mk(newsletter.CampaignScheduled, now.Add(-time.Hour))
		sending := mk(newsletter.CampaignSending, now.Add(-time.Hour))
		mk(newsletter.CampaignSent, now.Add(-time.Hour))
		mk(newsletter.CampaignCancelled, now.Add(-time.Hour))
		due, err := s.DueCampaigns(ctx, now)
		require.NoError(t, err)
		var ids []int64
		for _, c := range due {
			ids = append(ids, c.ID)
		}
		assert.Equal(t, []int64{past, sending}, ids)
	})
}

// members subscribes n confirmed members to l and returns their subscription ids.
func members(t *testing.T, s newsletter.Store, l newsletter.List, prefix string, n int) []int64 {
	var ids []int64
	for i := range n {
		ids = append(ids, confirmed(t, s, fmt.Sprintf("%s%d@example.org", prefix, i), l).ID)
	}
	return ids
}

func sending(t *testing.T, s newsletter.Store, l newsletter.List) int64 {
	c := draft(l, "Issue")
	c.Status = newsletter.CampaignSending
	require.NoError(t, s.CreateCampaign(context.Background(), c))
	return c.ID
}

type recorder struct {
	mu   sync.Mutex
	sent map[int64]int
	skip map[int64]bool
	fail map[int64]bool
}

// send enqueues all of rs but those in skip, or, when one is in fail, none (once).
func (r *recorder) send(_ context.Context, rs []newsletter.Recipient) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range rs {
		if r.fail[rc.ID] {
			delete(r.fail, rc.ID) // fail once
			return 0, errors.New("outbox down")
		}
	}
	if r.sent == nil {
		r.sent = map[int64]int{}
	}
	n := 0
	for _, rc := range rs {
		if !r.skip[rc.ID] {
			r.sent[rc.ID]++
			n++
		}
	}
	return n, nil
}

func testEnqueueBatch(t *testing.T, newStore func(t *testing.T) newsletter.Store) {
	ctx := context.Background()

	t.Run("OnlyConfirmedMembersOfTheList", func(t *testing.T) {
		s := newStore(t)
		want := members(t, s, newsletter.ListNewsletter, "m", 7)
		members(t, s, newsletter.ListPromotions, "p", 2)
		put(t, s, "pending@example.org", pending("pending@example.org", newsletter.ListNewsletter, hash(9)))
		put(t, s, "left@example.org", newsletter.Subscription{Email: "left@example.org", List: newsletter.ListNewsletter,
			Status: newsletter.StatusUnsubscribed, Source: "x", PolicyVersion: "v", CreatedAt: now, LeftAt: now})
		id := sending(t, s, newsletter.ListNewsletter)
		rec := &recorder{skip: map[int64]bool{want[1]: true}}
		var seen []int64
		send := func(ctx context.Context, rs []newsletter.Recipient) (int, error) {
			for _, r := range rs {
				seen = append(seen, r.ID)
				assert.Contains(t, r.Email, "@example.org")
			}
			return rec.send(ctx, rs)
		}
		b, err := s.EnqueueBatch(ctx, id, 3, now, send)
		require.NoError(t, err)
		assert.Equal(t, newsletter.Batch{Enqueued: 2, Skipped: 1, Status: newsletter.CampaignSending}, b)
		c, _ := s.Campaign(ctx, id)
		assert.Equal(t, want[2], c.Cursor, "the cursor is the last id handled")
		b, err = s.EnqueueBatch(ctx, id, 3, now, send)
		require.NoError(t, err)
		assert.Equal(t, 3, b.Enqueued)
		assert.Equal(t, newsletter.CampaignSending, b.Status)
		b, err = s.EnqueueBatch(ctx, id, 3, now.Add(time.Minute), send)
		require.NoError(t, err)
		assert.Equal(t, newsletter.Batch{Enqueued: 1, Status: newsletter.CampaignSent}, b, "fewer than limit: done")
		assert.Equal(t, want, seen, "confirmed members of the list, in id order, once each")
		c, _ = s.Campaign(ctx, id)
		assert.Equal(t, newsletter.CampaignSent, c.Status)
		assert.Equal(t, 6, c.Enqueued)
		assert.Equal(t, 1, c.Skipped)
		assert.True(t, now.Add(time.Minute).Equal(c.FinishedAt), "FinishedAt=%v", c.FinishedAt)

		b, err = s.EnqueueBatch(ctx, id, 3, now, func(context.Context, []newsletter.Recipient) (int, error) {
			t.Error("a sent campaign sends no more")
			return 0, nil
		})
		require.NoError(t, err)
		assert.Equal(t, newsletter.CampaignSent, b.Status)
	})

	t.Run("NotSending", func(t *testing.T) {
		s := newStore(t)
		members(t, s, newsletter.ListNewsletter, "m", 2)
		for _, st := range []newsletter.CampaignStatus{newsletter.CampaignDraft, newsletter.CampaignScheduled, newsletter.CampaignCancelled} {
			c := draft(newsletter.ListNewsletter, "x")
			c.Status = st
			require.NoError(t, s.CreateCampaign(ctx, c))
			b, err := s.EnqueueBatch(ctx, c.ID, 10, now, func(_ context.Context, rs []newsletter.Recipient) (int, error) {
				t.Errorf("a %s campaign must not send", st)
				return len(rs), nil
			})
			require.NoError(t, err)
			assert.Equal(t, st, b.Status)
		}
		_, err := s.EnqueueBatch(ctx, 9999, 10, now, nil)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("SendFailureLosesNoRecipient", func(t *testing.T) {
		s := newStore(t)
		want := members(t, s, newsletter.ListNewsletter, "m", 6)
		id := sending(t, s, newsletter.ListNewsletter)
		rec := &recorder{fail: map[int64]bool{want[3]: true}}
		_, err := s.EnqueueBatch(ctx, id, 4, now, rec.send)
		require.Error(t, err)
		c, _ := s.Campaign(ctx, id)
		assert.Zero(t, c.Cursor, "a failed batch leaves the cursor")
		assert.Zero(t, c.Enqueued)
		for {
			b, err := s.EnqueueBatch(ctx, id, 4, now, rec.send)
			require.NoError(t, err)
			if b.Status != newsletter.CampaignSending {
				break
			}
		}
		for _, id := range want {
			assert.Equal(t, 1, rec.sent[id], "subscription %d enqueued once", id)
		}
		c, _ = s.Campaign(ctx, id)
		assert.Equal(t, 6, c.Enqueued)
	})

	t.Run("ConcurrentSendersEnqueueEachOnce", func(t *testing.T) {
		s := newStore(t)
		want := members(t, s, newsletter.ListNewsletter, "m", 40)
		id := sending(t, s, newsletter.ListNewsletter)
		rec := &recorder{}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for {
					b, err := s.EnqueueBatch(ctx, id, 4, now, rec.send)
					if !assert.NoError(t, err) || b.Status != newsletter.CampaignSending {
						return
					}
				}
			})
		}
		wg.Wait()
		require.Len(t, rec.sent, len(want))
		for _, id := range want {
			assert.Equal(t, 1, rec.sent[id], "subscription %d", id)
		}
		c, _ := s.Campaign(ctx, id)
		assert.Equal(t, 40, c.Enqueued)
		assert.Equal(t, newsletter.CampaignSent, c.Status)
	})

	t.Run("CancelStops", func(t *testing.T) {
		s := newStore(t)
		members(t, s, newsletter.ListNewsletter, "m", 5)
		id := sending(t, s, newsletter.ListNewsletter)
		rec := &recorder{}
		_, err := s.EnqueueBatch(ctx, id, 2, now, rec.send)
		require.NoError(t, err)
		_, err = s.UpdateCampaign(ctx, id, func(c *newsletter.Campaign) error { c.Status = newsletter.CampaignCancelled; return nil })
		require.NoError(t, err)
		b, err := s.EnqueueBatch(ctx, id, 2, now, rec.send)
		require.NoError(t, err)
		assert.Equal(t, newsletter.CampaignCancelled, b.Status)
		assert.Len(t, rec.sent, 2)
	})
}

func testSyncCursor(t *testing.T, newStore func(t *testing.T) newsletter.Store) {
	ctx := context.Background()
	s := newStore(t)
	cursor := func() int64 {
		var got int64
		require.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, c int64) (int64, error) { got = c; return c, nil }))
		return got
	}
	assert.Equal(t, int64(0), cursor())
	require.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, c int64) (int64, error) { return 5, nil }))
	assert.Equal(t, int64(5), cursor())
	boom := errors.New("boom")
	require.ErrorIs(t, s.WithSyncCursor(ctx, func(_ context.Context, c int64) (int64, error) { return 9, boom }), boom)
	assert.Equal(t, int64(5), cursor(), "a failure leaves the cursor")
	require.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, c int64) (int64, error) { return 2, nil }))
	assert.Equal(t, int64(5), cursor(), "the cursor never moves back")

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				assert.NoError(t, s.WithSyncCursor(ctx, func(_ context.Context, c int64) (int64, error) { return c + 1, nil }))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(25), cursor(), "callers take turns")
}
