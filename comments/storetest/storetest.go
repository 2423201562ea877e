package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) comments.Store) {
	t.Run("Comments", func(t *testing.T) { testComments(t, newStore) })
	t.Run("Moderation", func(t *testing.T) { testModeration(t, newStore) })
	t.Run("Duplicate", func(t *testing.T) { testDuplicate(t, newStore) })
	t.Run("Erase", func(t *testing.T) { testErase(t, newStore) })
	t.Run("Subscribers", func(t *testing.T) { testSubscribers(t, newStore) })
	t.Run("FollowUpAllowed", func(t *testing.T) { testAllowed(t, newStore) })
	t.Run("ThreadVersion", func(t *testing.T) { testThreadVersion(t, newStore) })
	t.Run("Stamps", func(t *testing.T) { testStamps(t, newStore) })
	t.Run("AddressesIgnoreCase", func(t *testing.T) { testAddressCase(t, newStore(t)) })
}

func testStamps(t *testing.T, newStore func(t *testing.T) comments.Store) {
	until := now.Add(24 * time.Hour)
	t.Run("SpentUntilExpiry", func(t *testing.T) {
		s := newStore(t)
		h := hash("stamp one")
		used, err := s.StampUsed(ctx, h, now)
		require.NoError(t, err)
		assert.False(t, used, "before use")
		require.NoError(t, s.UseStamp(ctx, h, until, now))
		used, err = s.StampUsed(ctx, h, now)
		require.NoError(t, err)
		assert.True(t, used, "after use")
		assert.ErrorIs(t, s.UseStamp(ctx, h, until, now.Add(time.Hour)), privacy.ErrConflict, "used twice")
		used, err = s.StampUsed(ctx, hash("stamp two"), now)
		require.NoError(t, err)
		assert.False(t, used, "another stamp")
		used, err = s.StampUsed(ctx, h, until)
		require.NoError(t, err)
		assert.False(t, used, "once expired")
		require.NoError(t, s.UseStamp(ctx, h, until.Add(time.Hour), until), "an expired record does not block")
		assert.ErrorIs(t, s.UseStamp(ctx, h, until.Add(time.Hour), until), privacy.ErrConflict)
	})
	t.Run("Purge", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.UseStamp(ctx, hash("old"), now.Add(time.Minute), now))
		require.NoError(t, s.UseStamp(ctx, hash("new"), until, now))
		n, err := s.PurgeStamps(ctx, now.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		used, err := s.StampUsed(ctx, hash("new"), now.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, used, "an unexpired record is kept")
	})
	t.Run("ConcurrentUsesOneWins", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		var ok, conflict atomic.Int64
		for range 8 {
			wg.Go(func() {
				err := s.UseStamp(ctx, hash("raced"), until, now)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, privacy.ErrConflict):
					conflict.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), ok.Load())
		assert.Equal(t, int64(7), conflict.Load())
	})
	t.Run("InsideCreate", func(t *testing.T) {
		s := newStore(t)
		c := comment("stamped", "ann@example.org", comments.StatusApproved)
		require.NoError(t, createThen(s, c, func(ctx context.Context) error { return s.UseStamp(ctx, hash("in create"), until, now) }))
		c2 := comment("stamped", "ann@example.org", comments.StatusApproved)
		err := createThen(s, c2, func(ctx context.Context) error { return s.UseStamp(ctx, hash("in create"), until, now) })
		assert.ErrorIs(t, err, privacy.ErrConflict)
		cs, err := s.Thread(ctx, "stamped")
		require.NoError(t, err)
		assert.Equal(t, []int64{c.ID}, ids(cs), "the second comment is not stored")
	})

}

var (
	ctx  = context.Background()
	now  = time.Date(2026, 11, 3, 10, 0, 0, 123456000, time.UTC)
	seq  atomic.Int64
	errX = errors.New("then failed")
)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// comment returns a new comment with a unique body and manage hash.
func comment(thread, email string, status comments.Status) *comments.Comment {
	n := seq.Add(1)
	body := fmt.Sprintf("Comment number %d", n)
	return &comments.Comment{Thread: thread, Name: "Ann Example", Email: email, Source: body, HTML: "<p>" + body + "</p>",
		Digest: comments.Digest(body), Status: status, Hue: 3, Manage: hash(fmt.Sprint("manage", n)), Created: now.Add(time.Duration(n) * time.Millisecond)}
}

func create(t *testing.T, s comments.Store, c *comments.Comment) *comments.Comment {
	t.Helper()
	require.NoError(t, s.CreateComment(ctx, c))
	require.NotZero(t, c.ID)
	return c
}

func ids(cs []comments.Comment) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testComments(t *testing.T, newStore func(t *testing.T) comments.Store) {
	t.Run("CreateAndRead", func(t *testing.T) {
		s := newStore(t)
		c := comment("blog/hello", "ann@example.org", comments.StatusApproved)
		c.FollowUp = true
		create(t, s, c)
		got, err := s.Comment(ctx, c.ID)
		require.NoError(t, err)
		assert.Equal(t, *c, got)
		got, err = s.CommentByManage(ctx, c.Manage)
		require.NoError(t, err)
		assert.Equal(t, c.ID, got.ID)

		_, err = s.Comment(ctx, c.ID+1000)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		_, err = s.CommentByManage(ctx, hash("nope"))
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("UnitOfWorkFailsStoresNothing", func(t *testing.T) {
		s := newStore(t)
		c := comment("t", "ann@example.org", comments.StatusApproved)
		var seen int64
		err := createThen(s, c, func(ctx context.Context) error {
			got, err := s.Comment(ctx, c.ID)
			require.NoError(t, err, "then sees the new comment")
			seen = got.ID
			return errX
		})
		require.ErrorIs(t, err, errX)
		assert.NotZero(t, seen)
		_, err = s.Comment(ctx, seen)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		th, err := s.Thread(ctx, "t")
		require.NoError(t, err)
		assert.Empty(t, th)
	})

	t.Run("ManageHashUnique", func(t *testing.T) {
		s := newStore(t)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		b := comment("t", "bob@example.org", comments.StatusPending)
		b.Manage = a.Manage
		assert.ErrorIs(t, s.CreateComment(ctx, b), privacy.ErrConflict)
	})

	t.Run("ThreadShowsPublishedOldestFirst", func(t *testing.T) {
		s := newStore(t)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		create(t, s, comment("t", "ann@example.org", comments.StatusRejected))
		b := create(t, s, comment("t", "bob@example.org", comments.StatusApproved))
		create(t, s, comment("other", "bob@example.org", comments.StatusApproved))
		r := comment("t", "cy@example.org", comments.StatusApproved)
		r.ParentID = b.ID
		create(t, s, r)
		require.NoError(t, s.DeleteComment(ctx, b.ID)) // a tombstone: r replies to it
		th, err := s.Thread(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, []int64{a.ID, b.ID, r.ID}, ids(th))
		assert.Equal(t, a.HTML, th[0].HTML)
		assert.Equal(t, a.Name, th[0].Name)
		assert.Equal(t, a.Hue, th[0].Hue)
		assert.Equal(t, a.Created, th[0].Created)
		for _, c := range th {
			assert.Empty(t, c.Email, "a thread read holds no address")
			assert.Empty(t, c.Source)
			assert.Empty(t, c.Digest)
			assert.Nil(t, c.Manage)
			assert.False(t, c.FollowUp)
			assert.True(t, c.Moderated.IsZero())
		}
		assert.Equal(t, comments.StatusDeleted, th[1].Status)
		assert.Empty(t, th[1].Email)
		assert.Empty(t, th[1].Name)
		assert.Empty(t, th[1].Source)
		assert.Nil(t, th[1].Manage)
	})

	t.Run("DeleteRemovesOrTombstones", func(t *testing.T) {
		s := newStore(t)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		require.NoError(t, s.DeleteComment(ctx, a.ID))
		_, err := s.Comment(ctx, a.ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a comment nobody replied to is removed")
		assert.ErrorIs(t, s.DeleteComment(ctx, a.ID), privacy.ErrNotFound)

		p := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		r := comment("t", "bob@example.org", comments.StatusApproved)
		r.ParentID = p.ID
		create(t, s, r)
		require.NoError(t, s.DeleteComment(ctx, p.ID))
		got, err := s.Comment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, comments.StatusDeleted, got.Status)
		_, err = s.CommentByManage(ctx, p.Manage)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a tombstone's manage link is gone")
		assert.ErrorIs(t, s.DeleteComment(ctx, p.ID), privacy.ErrNotFound, "a tombstone cannot be deleted again")
	})

	t.Run("EditAndSetHTML", func(t *testing.T) {
		s := newStore(t)
		c := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		at := now.Add(time.Minute)
		require.NoError(t, s.EditComment(ctx, c.ID, "new *text*", "<p>new <em>text</em></p>", comments.Digest("new *text*"), at))
		got, err := s.Comment(ctx, c.ID)
		require.NoError(t, err)
		assert.Equal(t, "new *text*", got.Source)
		assert.Equal(t, "<p>new <em>text</em></p>", got.HTML)
		assert.Equal(t, comments.Digest("new *text*"), got.Digest)
		assert.Equal(t, at, got.Edited)
		require.NoError(t, s.SetHTML(ctx, c.ID, "<p>again</p>"))
		got, _ = s.Comment(ctx, c.ID)
		assert.Equal(t, "<p>again</p>", got.HTML)
		assert.ErrorIs(t, s.EditComment(ctx, c.ID+1000, "x", "x", "x", at), privacy.ErrNotFound)
		assert.ErrorIs(t, s.SetHTML(ctx, c.ID+1000, "x"), privacy.ErrNotFound)
	})

	t.Run("CommentsPaged", func(t *testing.T) {
		s := newStore(t)
		var all []int64
		for i := range 5 {
			all = append(all, create(t, s, comment(fmt.Sprint("t", i%2), "ann@example.org", comments.StatusPending)).ID)
		}
		a, err := s.Comments(ctx, 0, 3)
		require.NoError(t, err)
		assert.Equal(t, all[:3], ids(a))
		b, err := s.Comments(ctx, a[2].ID, 3)
		require.NoError(t, err)
		assert.Equal(t, all[3:], ids(b))
	})
}

func testModeration(t *testing.T, newStore func(t *testing.T) comments.Store) {
	t.Run("SetStatus", func(t *testing.T) {
		s := newStore(t)
		c := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		at := now.Add(time.Hour)
		require.NoError(t, setStatus(s, c.ID, []comments.Status{comments.StatusPending}, comments.StatusApproved, at))
		got, _ := s.Comment(ctx, c.ID)
		assert.Equal(t, comments.StatusApproved, got.Status)
		assert.Equal(t, at, got.Moderated)
		err := setStatus(s, c.ID, []comments.Status{comments.StatusPending}, comments.StatusApproved, at)
		assert.ErrorIs(t, err, privacy.ErrConflict)
		err = setStatus(s, c.ID+1000, []comments.Status{comments.StatusPending}, comments.StatusApproved, at)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("SetStatusInFailedUnitChangesNothing", func(t *testing.T) {
		s := newStore(t)
		c := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		err := setStatusThen(s, c.ID, []comments.Status{comments.StatusPending}, comments.StatusApproved, now, func(ctx context.Context) error {
			n, err := s.Approved(ctx, "ann@example.org")
			require.NoError(t, err)
			assert.Equal(t, 1, n, "then sees the new status")
			return errX
		})
		require.ErrorIs(t, err, errX)
		got, _ := s.Comment(ctx, c.ID)
		assert.Equal(t, comments.StatusPending, got.Status)
		assert.True(t, got.Moderated.IsZero())
	})

	t.Run("Approved", func(t *testing.T) {
		s := newStore(t)
		create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		create(t, s, comment("t", "ann@example.org", comments.StatusRejected))
		n, err := s.Approved(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		create(t, s, comment("u", "ann@example.org", comments.StatusApproved))
		create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		create(t, s, comment("t", "bob@example.org", comments.StatusApproved))
		n, _ = s.Approved(ctx, "ann@example.org")
		assert.Equal(t, 2, n, "approved comments from the address in every thread")
		n, _ = s.Approved(ctx, "Ann@example.org")
		assert.Equal(t, 2, n, "addresses compare case-insensitively (privacy.AddressKey)")
	})

	t.Run("ThreadSize", func(t *testing.T) {
		s := newStore(t)
		n, size, err := s.ThreadSize(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		assert.Zero(t, size)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		b := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		create(t, s, comment("t", "ann@example.org", comments.StatusRejected))
		create(t, s, comment("u", "ann@example.org", comments.StatusApproved))
		n, size, err = s.ThreadSize(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, 2, n, "pending and approved comments in the thread only")
		assert.Equal(t, int64(len(a.HTML)+len(b.HTML)), size, "bytes of their HTML")
	})

	t.Run("Queue", func(t *testing.T) {
		s := newStore(t)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		b := create(t, s, comment("u", "bob@example.org", comments.StatusPending))
		c := create(t, s, comment("t", "cy@example.org", comments.StatusPending))
		q, err := s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending})
		require.NoError(t, err)
		assert.Equal(t, []int64{a.ID, b.ID, c.ID}, ids(q))
		q, _ = s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending, Thread: "t"})
		assert.Equal(t, []int64{a.ID, c.ID}, ids(q))
		q, _ = s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending, Limit: 1})
		assert.Equal(t, []int64{a.ID}, ids(q))
		q, _ = s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending, Limit: 1, Offset: 1})
		assert.Equal(t, []int64{b.ID}, ids(q), "the second page of one")
		q, _ = s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending, Thread: "t", Limit: 5, Offset: 1})
		assert.Equal(t, []int64{c.ID}, ids(q), "a later page of one thread")
		q, _ = s.Queue(ctx, comments.QueueFilter{Status: comments.StatusPending, Offset: 3})
		assert.Empty(t, q, "past the end")
	})

	t.Run("PurgeRejected", func(t *testing.T) {
		s := newStore(t)
		old := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		fresh := create(t, s, comment("t", "bob@example.org", comments.StatusPending))
		kept := create(t, s, comment("t", "cy@example.org", comments.StatusApproved))
		require.NoError(t, setStatus(s, old.ID, []comments.Status{comments.StatusPending}, comments.StatusRejected, now))
		require.NoError(t, setStatus(s, fresh.ID, []comments.Status{comments.StatusPending}, comments.StatusRejected, now.Add(48*time.Hour)))
		n, err := s.PurgeRejected(ctx, now.Add(24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = s.Comment(ctx, old.ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		_, err = s.Comment(ctx, fresh.ID)
		assert.NoError(t, err)
		_, err = s.Comment(ctx, kept.ID)
		assert.NoError(t, err)
	})
}

func testDuplicate(t *testing.T, newStore func(t *testing.T) comments.Store) {
	s := newStore(t)
	c := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
	gone := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
	require.NoError(t, s.DeleteComment(ctx, gone.ID))
	tests := []struct {
		name string
		q    comments.DuplicateQuery
		want bool
	}{
		{"SameAuthorThreadText", comments.DuplicateQuery{Thread: "t", Email: "ann@example.org", Digest: c.Digest}, true},
		{"SameAuthorLongAgo", comments.DuplicateQuery{Thread: "t", Email: "ann@example.org", Digest: c.Digest, Since: c.Created.Add(time.Hour)}, true},
		{"OtherThreadNoWindow", comments.DuplicateQuery{Thread: "u", Email: "ann@example.org", Digest: c.Digest}, false},
		{"OtherAuthorNoWindow", comments.DuplicateQuery{Thread: "t", Email: "bob@example.org", Digest: c.Digest}, false},
		{"AnyoneWithinWindow", comments.DuplicateQuery{Thread: "u", Email: "bob@example.org", Digest: c.Digest, Since: c.Created}, true},
		{"AnyoneAfterWindow", comments.DuplicateQuery{Thread: "u", Email: "bob@example.org", Digest: c.Digest, Since: c.Created.Add(time.Microsecond)}, false},
		{"OtherText", comments.DuplicateQuery{Thread: "t", Email: "ann@example.org", Digest: comments.Digest("something else")}, false},
		{"DeletedNeverMatches", comments.DuplicateQuery{Thread: "t", Email: "ann@example.org", Digest: gone.Digest, Since: now.Add(-time.Hour)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Duplicate(ctx, tc.q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func testErase(t *testing.T, newStore func(t *testing.T) comments.Store) {
	setup := func(t *testing.T) (comments.Store, []*comments.Comment) {
		s := newStore(t)
		pub := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		pending := create(t, s, comment("t", "ann@example.org", comments.StatusPending))
		replied := create(t, s, comment("u", "ann@example.org", comments.StatusApproved))
		other := comment("u", "bob@example.org", comments.StatusApproved)
		other.ParentID = replied.ID
		create(t, s, other)
		own := comment("u", "ann@example.org", comments.StatusApproved)
		own.ParentID = pub.ID
		create(t, s, own)
		_, err := requestConfirmation(s, comments.Subscriber{Email: "ann@example.org", ConfirmHash: hash("c"), ConfirmExpires: now.Add(time.Hour),
			StopHash: hash("s"), Created: now})
		require.NoError(t, err)
		return s, []*comments.Comment{pub, pending, replied, other, own}
	}

	t.Run("CommentsBy", func(t *testing.T) {
		s, cs := setup(t)
		got, err := s.CommentsBy(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, []int64{cs[0].ID, cs[1].ID, cs[2].ID, cs[4].ID}, ids(got))
	})

	t.Run("Remove", func(t *testing.T) {
		s, cs := setup(t)
		removed, kept, err := s.EraseCommenter(ctx, "ann@example.org", false)
		require.NoError(t, err)
		assert.Equal(t, 4, removed)
		assert.Equal(t, 0, kept)
		left, err := s.CommentsBy(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Empty(t, left)
		got, err := s.Comment(ctx, cs[2].ID)
		require.NoError(t, err, "a comment with another's reply stays as a tombstone")
		assert.Equal(t, comments.StatusDeleted, got.Status)
		assert.Empty(t, got.Email)
		assert.Empty(t, got.Source)
		_, err = s.Comment(ctx, cs[0].ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a comment whose only reply was the person's own is removed")
		_, err = s.Comment(ctx, cs[3].ID)
		assert.NoError(t, err, "another person's comment stays")
		_, err = s.Subscriber(ctx, "ann@example.org")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("KeepText", func(t *testing.T) {
		s, cs := setup(t)
		removed, kept, err := s.EraseCommenter(ctx, "ann@example.org", true)
		require.NoError(t, err)
		assert.Equal(t, 1, removed, "the pending comment is removed")
		assert.Equal(t, 3, kept)
		left, _ := s.CommentsBy(ctx, "ann@example.org")
		assert.Empty(t, left)
		for _, c := range []*comments.Comment{cs[0], cs[2], cs[4]} {
			got, err := s.Comment(ctx, c.ID)
			require.NoError(t, err)
			assert.Equal(t, comments.StatusApproved, got.Status)
			assert.Equal(t, c.Source, got.Source, "the text is kept")
			assert.Empty(t, got.Name)
			assert.Empty(t, got.Email)
			assert.Zero(t, got.Hue)
			assert.Nil(t, got.Manage)
			assert.False(t, got.FollowUp)
		}
		_, err = s.Comment(ctx, cs[1].ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("RepliesAllTheWayUp", func(t *testing.T) {
		// ann's a <- ann's b <- bob's c: b keeps c's place and a keeps b's. ann's
		// pending p <- ann's published q: with the text kept, q stays and p with it.
		s := newStore(t)
		a := create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		b := comment("t", "ann@example.org", comments.StatusApproved)
		b.ParentID = a.ID
		create(t, s, b)
		c := comment("t", "bob@example.org", comments.StatusApproved)
		c.ParentID = b.ID
		create(t, s, c)
		p := create(t, s, comment("u", "ann@example.org", comments.StatusPending))
		q := comment("u", "ann@example.org", comments.StatusApproved)
		q.ParentID = p.ID
		create(t, s, q)
		lone := create(t, s, comment("u", "ann@example.org", comments.StatusRejected))

		removed, kept, err := s.EraseCommenter(ctx, "ann@example.org", true)
		require.NoError(t, err)
		assert.Equal(t, 2, removed, "p made a tombstone, the rejected one removed")
		assert.Equal(t, 3, kept, "a, b and q")
		got, err := s.Comment(ctx, p.ID)
		require.NoError(t, err, "a comment a kept one replies to stays")
		assert.Equal(t, comments.StatusDeleted, got.Status)
		assert.Empty(t, got.Source)
		_, err = s.Comment(ctx, lone.ID)
		assert.ErrorIs(t, err, privacy.ErrNotFound)

		s = newStore(t)
		a = create(t, s, comment("t", "ann@example.org", comments.StatusApproved))
		b = comment("t", "ann@example.org", comments.StatusPending)
		b.ParentID = a.ID
		create(t, s, b)
		c = comment("t", "bob@example.org", comments.StatusApproved)
		c.ParentID = b.ID
		create(t, s, c)
		removed, kept, err = s.EraseCommenter(ctx, "ann@example.org", false)
		require.NoError(t, err)
		assert.Equal(t, 2, removed)
		assert.Zero(t, kept)
		for _, id := range []int64{a.ID, b.ID} {
			got, err := s.Comment(ctx, id)
			require.NoError(t, err, "comment %d stays for bob's reply below it", id)
			assert.Equal(t, comments.StatusDeleted, got.Status)
			assert.Empty(t, got.Email)
		}
		th, err := s.Thread(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, []int64{a.ID, b.ID, c.ID}, ids(th), "the thread shows both tombstones above bob's reply")
	})
}

// testAddressCase: every look-up by address compares privacy.AddressKey, and an
// address has one follow-up record whatever its case (audit #13 finding 10).
func testAddressCase(t *testing.T, s comments.Store) {
	c := create(t, s, comment("t", "Zed@example.org", comments.StatusApproved))
	mine, err := s.CommentsBy(ctx, "zed@example.org")
	require.NoError(t, err)
	require.Len(t, mine, 1, "CommentsBy")
	assert.Equal(t, "Zed@example.org", mine[0].Email, "kept as typed")
	dup, err := s.Duplicate(ctx, comments.DuplicateQuery{Thread: "t", Email: "ZED@example.org", Digest: c.Digest})
	require.NoError(t, err)
	assert.True(t, dup, "Duplicate")

	create(t, s, comment("u", "Zed@example.org", comments.StatusPending))
	ok, err := requestConfirmation(s, sub("Zed@example.org", "z1", now.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = requestConfirmation(s, sub("zed@example.org", "z2", now.Add(time.Hour)))
	require.NoError(t, err)
	assert.False(t, ok, "another spelling is the same pending record")
	got, err := s.Subscriber(ctx, "zED@example.org")
	require.NoError(t, err, "Subscriber")
	assert.Equal(t, "Zed@example.org", got.Email)
	assert.Equal(t, hash("confirmz1"), got.ConfirmHash)

	removed, kept, err := s.EraseCommenter(ctx, "zed@EXAMPLE.org", false)
	require.NoError(t, err)
	assert.Equal(t, 2, removed+kept, "EraseCommenter")
	_, err = s.Subscriber(ctx, "Zed@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "EraseCommenter removes the follow-up record")
}

func sub(email, token string, expires time.Time) comments.Subscriber {
	return comments.Subscriber{Email: email, ConfirmHash: hash("confirm" + token), ConfirmExpires: expires, StopHash: hash("stop" + email), Created: now}
}

func testSubscribers(t *testing.T, newStore func(t *testing.T) comments.Store) {
	t.Run("RequestOncePerWindow", func(t *testing.T) {
		s := newStore(t)
		ok, err := requestConfirmation(s, sub("ann@example.org", "1", now.Add(time.Hour)))
		require.NoError(t, err)
		assert.True(t, ok)
		got, err := s.Subscriber(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, hash("confirm1"), got.ConfirmHash)
		assert.Equal(t, now.Add(time.Hour), got.ConfirmExpires)
		assert.True(t, got.Pending(now))

		ok, err = requestConfirmation(s, sub("ann@example.org", "2", now.Add(time.Hour)))
		require.NoError(t, err)
		assert.False(t, ok, "a pending request is not repeated")

		later := sub("ann@example.org", "3", now.Add(3*time.Hour))
		later.Created = now.Add(2 * time.Hour)
		ok, err = requestConfirmation(s, later)
		require.NoError(t, err)
		assert.True(t, ok, "an expired request is replaced")
		got, _ = s.SubscriberByConfirm(ctx, hash("confirm3"))
		assert.Equal(t, "ann@example.org", got.Email)
		_, err = s.SubscriberByConfirm(ctx, hash("confirm1"))
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("UnitOfWorkFailsUndoes", func(t *testing.T) {
		s := newStore(t)
		err := s.Do(ctx, func(ctx context.Context) error {
			ok, err := requestConfirmationIn(ctx, s, sub("ann@example.org", "1", now.Add(time.Hour)))
			require.NoError(t, err)
			assert.True(t, ok)
			return errX
		})
		require.ErrorIs(t, err, errX)
		_, err = s.Subscriber(ctx, "ann@example.org")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("DecideFailsWritesNothing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.UpdateSubscriber(ctx, comments.SubscriberKey{Email: "ann@example.org"}, func(cur comments.Subscriber) (comments.Subscriber, error) {
			assert.Zero(t, cur, "none yet")
			return sub("ann@example.org", "1", now.Add(time.Hour)), errX
		})
		require.ErrorIs(t, err, errX)
		_, err = s.Subscriber(ctx, "ann@example.org")
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a refused insert leaves no row")
		ok, err := requestConfirmation(s, sub("ann@example.org", "1", now.Add(time.Hour)))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = s.UpdateSubscriber(ctx, comments.SubscriberKey{StopHash: hash("stopann@example.org")}, func(cur comments.Subscriber) (comments.Subscriber, error) {
			assert.Equal(t, "ann@example.org", cur.Email, "found by its stop hash")
			return cur.SetStopped(true, now), errX
		})
		require.ErrorIs(t, err, errX)
		got, err := s.Subscriber(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.True(t, got.Stopped.IsZero(), "a refused update changes nothing")
		_, err = s.UpdateSubscriber(ctx, comments.SubscriberKey{ConfirmHash: hash("unknown")}, func(comments.Subscriber) (comments.Subscriber, error) {
			t.Error("decide ran for an unknown hash")
			return comments.Subscriber{}, nil
		})
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("RemovedInsideCreate", func(t *testing.T) {
		// The service takes back a confirmation whose mail was refused and goes on
		// storing the comment, in one unit of work.
		s := newStore(t)
		c := comment("t", "ann@example.org", comments.StatusPending)
		c.FollowUp = true
		err := createThen(s, c, func(ctx context.Context) error {
			if _, err := requestConfirmationIn(ctx, s, sub("ann@example.org", "1", now.Add(time.Hour))); err != nil {
				return err
			}
			_, err := s.UpdateSubscriber(ctx, comments.SubscriberKey{Email: "ann@example.org"}, func(comments.Subscriber) (comments.Subscriber, error) {
				return comments.Subscriber{}, nil
			})
			return err
		})
		require.NoError(t, err)
		_, err = s.Comment(ctx, c.ID)
		assert.NoError(t, err)
		_, err = s.Subscriber(ctx, "ann@example.org")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("ConcurrentRequestsIssueOne", func(t *testing.T) {
		s := newStore(t)
		var issued atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				ok, err := requestConfirmation(s, sub("ann@example.org", fmt.Sprint(i), now.Add(time.Hour)))
				assert.NoError(t, err)
				if ok {
					issued.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), issued.Load())
	})

	t.Run("Confirm", func(t *testing.T) {
		s := newStore(t)
		_, err := requestConfirmation(s, sub("ann@example.org", "1", now.Add(time.Hour)))
		require.NoError(t, err)
		_, err = confirm(s, hash("confirm1"), now.Add(time.Hour))
		assert.ErrorIs(t, err, privacy.ErrGone, "expired at its expiry")
		_, err = confirm(s, hash("confirm-other"), now)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		got, err := confirm(s, hash("confirm1"), now.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, now.Add(time.Minute), got.Confirmed)
		assert.True(t, got.Active())
		_, err = confirm(s, hash("confirm1"), now.Add(time.Minute))
		assert.ErrorIs(t, err, privacy.ErrNotFound, "a confirmation token works once")
		ok, err := requestConfirmation(s, sub("ann@example.org", "2", now.Add(time.Hour)))
		require.NoError(t, err)
		assert.False(t, ok, "a confirmed address is not asked again")
	})

	t.Run("StopAndResume", func(t *testing.T) {
		s := newStore(t)
		_, err := requestConfirmation(s, sub("ann@example.org", "1", now.Add(time.Hour)))
		require.NoError(t, err)
		got, err := setStopped(s, hash("stopann@example.org"), true, now.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, now.Add(time.Minute), got.Stopped)
		assert.Nil(t, got.ConfirmHash, "stopping cancels the pending confirmation")
		_, err = confirm(s, hash("confirm1"), now.Add(2*time.Minute))
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		got, err = setStopped(s, hash("stopann@example.org"), true, now.Add(3*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, now.Add(time.Minute), got.Stopped, "stopping twice keeps the first time")
		ok, err := requestConfirmation(s, sub("ann@example.org", "2", now.Add(4*time.Hour)))
		require.NoError(t, err)
		assert.False(t, ok, "a stopped address gets no new confirmation")
		byStop, err := s.SubscriberByStop(ctx, hash("stopann@example.org"))
		require.NoError(t, err)
		assert.Equal(t, "ann@example.org", byStop.Email)

		got, err = setStopped(s, hash("stopann@example.org"), false, now.Add(5*time.Minute))
		require.NoError(t, err)
		assert.True(t, got.Stopped.IsZero())
		assert.Equal(t, now.Add(5*time.Minute), got.Confirmed, "resuming through the mailed link confirms")
		_, err = setStopped(s, hash("stop-unknown"), true, now)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})

	t.Run("Purge", func(t *testing.T) {
		s := newStore(t)
		create(t, s, comment("t", "kept@example.org", comments.StatusApproved))
		for _, a := range []string{"expired@example.org", "edge@example.org", "pending@example.org", "stopped@example.org", "kept@example.org", "orphan@example.org"} {
			exp := now.Add(time.Hour)
			switch a {
			case "expired@example.org", "stopped@example.org":
				exp = now.Add(-time.Minute)
			case "edge@example.org":
				exp = now // a request is expired at its expiry
			}
			s2 := sub(a, a, exp)
			s2.Created = now.Add(-2 * time.Hour)
			_, err := requestConfirmation(s, s2)
			require.NoError(t, err)
		}
		_, err := setStopped(s, hash("stopstopped@example.org"), true, now)
		require.NoError(t, err)
		for _, a := range []string{"kept@example.org", "orphan@example.org"} {
			_, err := confirm(s, hash("confirm"+a), now)
			require.NoError(t, err)
		}
		n, err := s.PurgeSubscribers(ctx, now)
		require.NoError(t, err)
		assert.Equal(t, 3, n, "the expired requests and the confirmed address with no comment left")
		for a, want := range map[string]bool{"expired@example.org": false, "edge@example.org": false, "orphan@example.org": false,
			"pending@example.org": true, "stopped@example.org": true, "kept@example.org": true} {
			_, err := s.Subscriber(ctx, a)
			assert.Equal(t, want, err == nil, a)
		}
	})
}

func testAllowed(t *testing.T, newStore func(t *testing.T) comments.Store) {
	type setup func(t *testing.T, s comments.Store, email string)
	asked := func(status comments.Status) setup {
		return func(t *testing.T, s comments.Store, email string) {
			c := comment("t", email, status)
			c.FollowUp = true
			create(t, s, c)
		}
	}
	silent := func(t *testing.T, s comments.Store, email string) {
		create(t, s, comment("t", email, comments.StatusApproved))
	}
	request := func(expires time.Time) setup {
		return func(t *testing.T, s comments.Store, email string) {
			_, err := requestConfirmation(s, sub(email, email, expires))
			require.NoError(t, err)
		}
	}
	confirm := func(t *testing.T, s comments.Store, email string) {
		_, err := confirm(s, hash("confirm"+email), now)
		require.NoError(t, err)
	}
	stop := func(t *testing.T, s comments.Store, email string) {
		_, err := setStopped(s, hash("stop"+email), true, now)
		require.NoError(t, err)
	}
	soon, past := now.Add(time.Hour), now.Add(-time.Second)
	tests := []struct {
		name  string
		steps []setup
		want  bool
	}{
		{"Unknown", nil, false},
		{"AskedNoRequest", []setup{asked(comments.StatusApproved)}, false},
		{"PendingRequest", []setup{asked(comments.StatusPending), request(soon)}, true},
		{"ExpiredRequest", []setup{asked(comments.StatusApproved), request(past)}, false},
		{"Confirmed", []setup{asked(comments.StatusApproved), request(soon), confirm}, true},
		{"ConfirmedNotAsked", []setup{silent, request(soon), confirm}, false},
		{"ConfirmedAskedOnRejected", []setup{asked(comments.StatusRejected), request(soon), confirm}, false},
		{"StoppedWhilePending", []setup{asked(comments.StatusApproved), request(soon), stop}, false},
		{"StoppedAfterConfirm", []setup{asked(comments.StatusApproved), request(soon), confirm, stop}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			email := "ann@example.org"
			for _, step := range tc.steps {
				step(t, s, email)
			}
			got, err := allowed(s, email, now)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("SeesUncommittedRequest", func(t *testing.T) {
		s := newStore(t)
		c := comment("t", "ann@example.org", comments.StatusPending)
		c.FollowUp = true
		var inside bool
		err := createThen(s, c, func(ctx context.Context) error {
			if _, err := requestConfirmationIn(ctx, s, sub("ann@example.org", "x", soon)); err != nil {
				return err
			}
			var err error
			inside, err = allowedIn(ctx, s, "ann@example.org", now)
			return err
		})
		require.NoError(t, err)
		assert.True(t, inside, "the mail guard, asked inside the transaction, sees the new comment and request")
	})
}

// versions watches one thread the way a caching reader does: the version first,
// then the comments. It fails the test if a version it saw before comes back with
// other comments, which would make a cache keyed by it serve a stale thread.
type versions struct {
	t      *testing.T
	s      comments.Store
	thread string
	seen   map[int64][]comments.Comment
}

func (w *versions) see(ctx context.Context) int64 {
	w.t.Helper()
	v, err := w.s.ThreadVersion(ctx, w.thread)
	require.NoError(w.t, err)
	th, err := w.s.Thread(ctx, w.thread)
	require.NoError(w.t, err)
	if prev, ok := w.seen[v]; ok {
		assert.Equal(w.t, prev, th, "version %d came back with other comments", v)
	} else {
		w.seen[v] = th
	}
	return v
}

// changes runs fn and fails unless the version changed.
func (w *versions) changes(what string, fn func()) {
	w.t.Helper()
	before := w.see(ctx)
	fn()
	assert.NotEqual(w.t, before, w.see(ctx), "%s changes what the thread shows, but not its version", what)
}

// keeps runs fn and fails unless the version stayed.
func (w *versions) keeps(what string, fn func()) {
	w.t.Helper()
	before := w.see(ctx)
	fn()
	assert.Equal(w.t, before, w.see(ctx), "%s does not change what the thread shows, but changed its version", what)
}

func testThreadVersion(t *testing.T, newStore func(t *testing.T) comments.Store) {
	t.Run("EveryChangeShownChangesIt", func(t *testing.T) {
		s := newStore(t)
		w := &versions{t: t, s: s, thread: "t", seen: map[int64][]comments.Comment{}}
		require.Zero(t, w.see(ctx), "a thread never changed")
		w.keeps("reading", func() {})
		w.keeps("a pending comment", func() { create(t, s, comment("t", "ann@example.org", comments.StatusPending)) })
		w.keeps("a comment on another thread", func() { create(t, s, comment("u", "ann@example.org", comments.StatusApproved)) })

		var a, r *comments.Comment
		w.changes("a published comment", func() { a = create(t, s, comment("t", "ann@example.org", comments.StatusApproved)) })
		w.changes("an edit", func() {
			require.NoError(t, s.EditComment(ctx, a.ID, "edited", "<p>edited</p>", comments.Digest("edited"), now.Add(time.Minute)))
		})
		w.changes("new HTML", func() { require.NoError(t, s.SetHTML(ctx, a.ID, "<p>re-rendered</p>")) })
		w.changes("a rejection", func() {
			require.NoError(t, setStatus(s, a.ID, []comments.Status{comments.StatusApproved}, comments.StatusRejected, now))
		})
		w.keeps("an edit of a hidden comment", func() {
			require.NoError(t, s.EditComment(ctx, a.ID, "hidden", "<p>hidden</p>", comments.Digest("hidden"), now.Add(time.Minute)))
		})
		w.changes("an approval", func() {
			require.NoError(t, setStatus(s, a.ID, []comments.Status{comments.StatusRejected}, comments.StatusApproved, now))
		})
		w.changes("a reply", func() {
			r = comment("t", "bob@example.org", comments.StatusApproved)
			r.ParentID = a.ID
			create(t, s, r)
		})
		w.changes("rejecting a comment with a reply", func() {
			require.NoError(t, setStatus(s, a.ID, []comments.Status{comments.StatusApproved}, comments.StatusRejected, now))
		})
		w.changes("purging a rejected comment with a reply, which leaves a tombstone", func() {
			n, err := s.PurgeRejected(ctx, now.Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
		w.changes("deleting a published comment", func() { require.NoError(t, s.DeleteComment(ctx, r.ID)) })

		w.keeps("deleting a pending comment", func() {
			p := create(t, s, comment("t", "cy@example.org", comments.StatusPending))
			require.NoError(t, s.DeleteComment(ctx, p.ID))
		})
		var d *comments.Comment
		w.changes("publishing", func() { d = create(t, s, comment("t", "dee@example.org", comments.StatusApproved)) })
		w.changes("rejecting", func() {
			require.NoError(t, setStatus(s, d.ID, []comments.Status{comments.StatusApproved}, comments.StatusRejected, now))
		})
		w.keeps("purging a rejected comment without replies", func() {
			n, err := s.PurgeRejected(ctx, now.Add(time.Hour))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
		w.keeps("follow-up state", func() {
			_, err := requestConfirmation(s, sub("ann@example.org", "1", now.Add(time.Hour)))
			require.NoError(t, err)
			_, err = confirm(s, hash("confirm1"), now)
			require.NoError(t, err)
		})

		w.changes("publishing", func() { create(t, s, comment("t", "eve@example.org", comments.StatusApproved)) })
		w.changes("erasing a commenter, keeping the text", func() {
			_, kept, err := s.EraseCommenter(ctx, "eve@example.org", true)
			require.NoError(t, err)
			require.Equal(t, 1, kept)
		})
		w.changes("publishing", func() { create(t, s, comment("t", "fay@example.org", comments.StatusApproved)) })
		w.changes("erasing a commenter", func() {
			removed, _, err := s.EraseCommenter(ctx, "fay@example.org", false)
			require.NoError(t, err)
			require.Equal(t, 1, removed)
		})
		w.keeps("erasing a commenter with nothing on the thread", func() {
			_, _, err := s.EraseCommenter(ctx, "nobody@example.org", false)
			require.NoError(t, err)
		})
	})

	t.Run("InsideATransaction", func(t *testing.T) {
		// Readers outside the writer's transaction see the new version exactly
		// when they see the new comments: before, during or after then runs, and
		// after then fails and the change is undone.
		s := newStore(t)
		// The readers stand for other requests, each with a connection of its own.
		var outside error
		_ = createThen(s, comment("t", "ann@example.org", comments.StatusApproved), func(context.Context) error {
			_, outside = s.ThreadVersion(ctx, "t")
			return errX
		})
		if errors.Is(outside, privacy.ErrUnavailable) {
			t.Skip("a reader outside the transaction needs a second connection, and the store's pool has one")
		}
		require.NoError(t, outside)
		w := &versions{t: t, s: s, thread: "t", seen: map[int64][]comments.Comment{}}
		before := w.see(ctx)
		c := comment("t", "ann@example.org", comments.StatusApproved)
		require.ErrorIs(t, createThen(s, c, func(context.Context) error { w.see(ctx); return errX }), errX)
		w.see(ctx)
		c = comment("t", "ann@example.org", comments.StatusApproved)
		require.NoError(t, createThen(s, c, func(context.Context) error { w.see(ctx); return nil }))
		assert.NotEqual(t, before, w.see(ctx))
		err := setStatusThen(s, c.ID, []comments.Status{comments.StatusApproved}, comments.StatusRejected, now,
			func(context.Context) error { w.see(ctx); return errX })
		require.ErrorIs(t, err, errX)
		w.see(ctx)
		th, err := s.Thread(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, []int64{c.ID}, ids(th))
	})
}

// createThen stores c and runs then in one unit of work, as the Service stores a
// comment and queues the mail it causes.
func createThen(s comments.Store, c *comments.Comment, then func(ctx context.Context) error) error {
	return s.Do(ctx, func(ctx context.Context) error {
		if err := s.CreateComment(ctx, c); err != nil {
			return err
		}
		return then(ctx)
	})
}

// setStatus moves id to to from one of from, as a moderator's decision does.
func setStatus(s comments.Store, id int64, from []comments.Status, to comments.Status, at time.Time) error {
	return setStatusIn(ctx, s, id, from, to, at)
}

func setStatusIn(ctx context.Context, s comments.Store, id int64, from []comments.Status, to comments.Status, at time.Time) error {
	return s.SetStatus(ctx, id, at, func(cur comments.Status) (comments.Status, error) {
		if !slices.Contains(from, cur) {
			return cur, privacy.Errorf(privacy.ErrConflict, "the comment is %s", cur)
		}
		return to, nil
	})
}

// setStatusThen runs setStatus and then in one unit of work.
func setStatusThen(s comments.Store, id int64, from []comments.Status, to comments.Status, at time.Time, then func(ctx context.Context) error) error {
	return s.Do(ctx, func(ctx context.Context) error {
		if err := setStatusIn(ctx, s, id, from, to, at); err != nil {
			return err
		}
		return then(ctx)
	})
}

// requestConfirmation records sub's request unless the address may not be asked
// (comments.Subscriber.MayAsk), as the Service does, and reports whether it did.
func requestConfirmation(s comments.Store, sub comments.Subscriber) (bool, error) {
	return requestConfirmationIn(ctx, s, sub)
}

func requestConfirmationIn(ctx context.Context, s comments.Store, sub comments.Subscriber) (bool, error) {
	issued := false
	_, err := s.UpdateSubscriber(ctx, comments.SubscriberKey{Email: sub.Email}, func(cur comments.Subscriber) (comments.Subscriber, error) {
		issued = cur.MayAsk(sub.Created)
		if !issued {
			return cur, nil
		}
		return sub, nil
	})
	return issued && err == nil, err
}

// confirm confirms the request whose token hashes to h, as the Service does.
func confirm(s comments.Store, h []byte, now time.Time) (comments.Subscriber, error) {
	return s.UpdateSubscriber(ctx, comments.SubscriberKey{ConfirmHash: h}, func(cur comments.Subscriber) (comments.Subscriber, error) {
		return cur.Confirm(now)
	})
}

// setStopped stops or resumes the address whose stop token hashes to h.
func setStopped(s comments.Store, h []byte, stopped bool, now time.Time) (comments.Subscriber, error) {
	return s.UpdateSubscriber(ctx, comments.SubscriberKey{StopHash: h}, func(cur comments.Subscriber) (comments.Subscriber, error) {
		return cur.SetStopped(stopped, now), nil
	})
}

// allowed answers as the follow-up mail guard does, from what the store reads.
func allowed(s comments.Store, email string, now time.Time) (bool, error) {
	return allowedIn(ctx, s, email, now)
}

func allowedIn(ctx context.Context, s comments.Store, email string, now time.Time) (bool, error) {
	sub, err := s.Subscriber(ctx, email)
	if errors.Is(err, privacy.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	statuses, err := s.FollowUpStatuses(ctx, email)
	if err != nil {
		return false, err
	}
	return comments.FollowUpAllowed(sub, statuses, now), nil
}
