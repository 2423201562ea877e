// Package storetest is the conformance suite every contact.Store must pass, so the
// memory and MySQL stores are proven to behave the same:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
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

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/privacy"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) contact.Store) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("UnitOfWork", func(t *testing.T) { testUnitOfWork(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("Thread", func(t *testing.T) { testThread(t, newStore(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, newStore(t)) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, newStore(t)) })
	t.Run("Answerable", func(t *testing.T) { testAnswerable(t, newStore(t)) })
	t.Run("AckedSince", func(t *testing.T) { testAckedSince(t, newStore(t)) })
	t.Run("ExportErase", func(t *testing.T) { testExportErase(t, newStore(t)) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, newStore(t)) })
	t.Run("ConcurrentReplies", func(t *testing.T) { testConcurrentReplies(t, newStore(t)) })
}

// base is a fixed clock: times are microseconds, as the stores keep them.
var base = time.Date(2026, 11, 2, 9, 30, 0, 123456000, time.UTC)

func request(ref, email string, at time.Time) *contact.Request {
	return &contact.Request{Ref: ref, Name: "Ann Example", Email: email, Subject: "Question about " + ref,
		Message: "Line one\nLine two: ünïcödé ✓", Category: "Support", Status: contact.StatusOpen, Created: at, Updated: at}
}

func mustCreate(t *testing.T, s contact.Store, r *contact.Request) {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), r))
}

// addReply appends rep to ref's thread whatever the request's state.
func addReply(ctx context.Context, s contact.Store, ref string, rep contact.Reply) (contact.Reply, error) {
	return s.AddReply(ctx, ref, func(contact.Request) (contact.Reply, error) { return rep, nil })
}

func mustReply(t *testing.T, s contact.Store, ref string, rep contact.Reply) contact.Reply {
	t.Helper()
	got, err := addReply(context.Background(), s, ref, rep)
	require.NoError(t, err)
	return got
}

func testCreateGet(t *testing.T, s contact.Store) {
	ctx := context.Background()
	r := request("K7Q4-M2XH", "Ann@example.org", base)
	r.AckSent = true
	require.NoError(t, s.Create(ctx, r))
	assert.NotZero(t, r.ID)

	got, err := s.Get(ctx, "K7Q4-M2XH")
	require.NoError(t, err)
	assert.Equal(t, r.ID, got.ID)
	assert.Equal(t, "Ann Example", got.Name)
	assert.Equal(t, "Ann@example.org", got.Email, "the address is kept as given")
	assert.Equal(t, r.Subject, got.Subject)
	assert.Equal(t, r.Message, got.Message)
	assert.Equal(t, "Support", got.Category)
	assert.Equal(t, contact.StatusOpen, got.Status)
	assert.True(t, got.AckSent)
	assert.True(t, got.Created.Equal(base), "Created=%v, want %v", got.Created, base)
	assert.True(t, got.Updated.Equal(base))
	assert.True(t, got.Closed.IsZero())
	assert.Zero(t, got.Replies)
	assert.Empty(t, got.Thread)

	t.Run("ErrConflict", func(t *testing.T) {
		dup := request("K7Q4-M2XH", "bob@example.org", base)
		assert.ErrorIs(t, s.Create(ctx, dup), privacy.ErrConflict)
		// Inside a unit of work that then fails, the refused insert undoes nothing.
		failed := errors.New("the change failed")
		err := s.Do(ctx, func(ctx context.Context) error {
			if err := s.Create(ctx, request("K7Q4-M2XH", "bob@example.org", base)); !errors.Is(err, privacy.ErrConflict) {
				return fmt.Errorf("Create=%v, want ErrConflict", err)
			}
			return failed
		})
		require.ErrorIs(t, err, failed)
		got, err := s.Get(ctx, "K7Q4-M2XH")
		require.NoError(t, err)
		assert.Equal(t, "Ann@example.org", got.Email, "the first request is untouched")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.Get(ctx, "ZZZZ-ZZZZ")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})
}

func testUnitOfWork(t *testing.T, s contact.Store) {
	ctx := context.Background()
	failed := errors.New("notification failed")
	assert.NotEmpty(t, s.Database())
	r := request("AAAA-0001", "ann@example.org", base)
	err := s.Do(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, r); err != nil {
			return err
		}
		// A notification queued here must find the request it is about.
		got, err := s.Get(ctx, "AAAA-0001")
		if err != nil {
			return err
		}
		assert.Equal(t, r.ID, got.ID, "the unit of work sees its uncommitted request")
		ok, err := s.Answerable(ctx, "ann@example.org", base)
		if err != nil {
			return err
		}
		assert.True(t, ok, "the purpose check inside the unit of work sees the new request")
		if _, err := addReply(ctx, s, "AAAA-0001", contact.Reply{Text: "hello", At: base.Add(time.Minute)}); err != nil {
			return err
		}
		// A nested Do joins the unit, and its failure fails the whole.
		return s.Do(ctx, func(ctx context.Context) error { return failed })
	})
	require.ErrorIs(t, err, failed)
	_, err = s.Get(ctx, "AAAA-0001")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a request whose notification failed is not kept")
	ok, err := s.Answerable(ctx, "ann@example.org", base)
	require.NoError(t, err)
	assert.False(t, ok)
	rs, err := s.List(ctx, contact.Filter{})
	require.NoError(t, err)
	assert.Empty(t, rs)

	// The reference is free again.
	mustCreate(t, s, request("AAAA-0001", "ann@example.org", base))
	mustReply(t, s, "AAAA-0001", contact.Reply{Text: "kept", At: base.Add(time.Minute)})
	err = s.Do(ctx, func(ctx context.Context) error {
		rep, err := addReply(ctx, s, "AAAA-0001", contact.Reply{Text: "undone", At: base.Add(time.Hour)})
		if err != nil {
			return err
		}
		assert.NotZero(t, rep.ID)
		return failed
	})
	require.ErrorIs(t, err, failed)
	got, err := s.Get(ctx, "AAAA-0001")
	require.NoError(t, err)
	require.Len(t, got.Thread, 1, "a reply whose mail failed is not kept")
	assert.Equal(t, "kept", got.Thread[0].Text)
	assert.Equal(t, 1, got.Replies)
	assert.True(t, got.Updated.Equal(base.Add(time.Minute)), "Updated=%v, want %v", got.Updated, base.Add(time.Minute))

	require.NoError(t, s.Do(ctx, func(ctx context.Context) error {
		if err := s.Create(ctx, request("AAAA-0002", "bob@example.org", base)); err != nil {
			return err
		}
		_, err := addReply(ctx, s, "AAAA-0002", contact.Reply{Text: "committed", At: base.Add(time.Minute)})
		return err
	}))
	got, err = s.Get(ctx, "AAAA-0002")
	require.NoError(t, err)
	require.Len(t, got.Thread, 1, "a unit of work that succeeds commits every write")

	err = s.Do(ctx, func(ctx context.Context) error {
		if err := s.Close(ctx, "AAAA-0002", base.Add(time.Hour)); err != nil {
			return err
		}
		if n, err := s.EraseEmail(ctx, "ann@example.org"); err != nil || n != 1 {
			return fmt.Errorf("EraseEmail=%d, %v; want 1", n, err)
		}
		return failed
	})
	require.ErrorIs(t, err, failed)
	got, err = s.Get(ctx, "AAAA-0002")
	require.NoError(t, err)
	assert.Equal(t, contact.StatusOpen, got.Status, "a close in a failed unit of work is undone")
	assert.True(t, got.Closed.IsZero())
	got, err = s.Get(ctx, "AAAA-0001")
	require.NoError(t, err, "an erasure in a failed unit of work is undone")
	assert.Len(t, got.Thread, 1)

	closed := base.Add(2 * time.Hour)
	require.NoError(t, s.Close(ctx, "AAAA-0002", closed))
	err = s.Do(ctx, func(ctx context.Context) error {
		if err := s.Reopen(ctx, "AAAA-0002", base.Add(3*time.Hour)); err != nil {
			return err
		}
		return failed
	})
	require.ErrorIs(t, err, failed)
	got, err = s.Get(ctx, "AAAA-0002")
	require.NoError(t, err)
	assert.Equal(t, contact.StatusClosed, got.Status, "a reopening in a failed unit of work is undone")
	assert.True(t, got.Closed.Equal(closed), "Closed=%v, want %v", got.Closed, closed)
	assert.True(t, got.Updated.Equal(closed), "Updated=%v, want %v", got.Updated, closed)
}

func testList(t *testing.T, s contact.Store) {
	ctx := context.Background()
	for i := range 5 {
		mustCreate(t, s, request(fmt.Sprintf("LIST-000%d", i), fmt.Sprintf("l%d@example.org", i), base.Add(time.Duration(i)*time.Minute)))
	}
	require.NoError(t, s.Close(ctx, "LIST-0001", base.Add(time.Hour)))
	require.NoError(t, s.Close(ctx, "LIST-0003", base.Add(time.Hour)))
	mustReply(t, s, "LIST-0004", contact.Reply{Text: "r", At: base.Add(time.Hour)})

	refs := func(rs []contact.Request) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.Ref)
		}
		return out
	}
	all, err := s.List(ctx, contact.Filter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"LIST-0004", "LIST-0003", "LIST-0002", "LIST-0001", "LIST-0000"}, refs(all), "newest first")
	assert.Equal(t, 1, all[0].Replies)
	assert.Nil(t, all[0].Thread, "lists carry no thread")
	assert.Empty(t, all[0].Message, "lists carry no message")
	assert.Equal(t, "l4@example.org", all[0].Email)

	open, err := s.List(ctx, contact.Filter{Status: contact.StatusOpen})
	require.NoError(t, err)
	assert.Equal(t, []string{"LIST-0004", "LIST-0002", "LIST-0000"}, refs(open))
	closed, err := s.List(ctx, contact.Filter{Status: contact.StatusClosed})
	require.NoError(t, err)
	assert.Equal(t, []string{"LIST-0003", "LIST-0001"}, refs(closed))
	assert.True(t, closed[0].Closed.Equal(base.Add(time.Hour)))

	page, err := s.List(ctx, contact.Filter{Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"LIST-0003", "LIST-0002"}, refs(page))
	past, err := s.List(ctx, contact.Filter{Offset: 10})
	require.NoError(t, err)
	assert.Empty(t, past)
}

func testThread(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("THRD-0001", "ann@example.org", base))
	mustCreate(t, s, request("THRD-0002", "bob@example.org", base))
	var seen contact.Request
	first, err := s.AddReply(ctx, "THRD-0001", func(cur contact.Request) (contact.Reply, error) {
		seen = cur
		return contact.Reply{StaffID: "7", Staff: "staff@example.com", Text: "First answer\nwith two lines", At: base.Add(time.Minute)}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "THRD-0001", seen.Ref, "decide is given the request")
	assert.Equal(t, contact.StatusOpen, seen.Status)
	assert.Equal(t, "ann@example.org", seen.Email)
	assert.NotZero(t, first.ID)
	assert.Equal(t, "First answer\nwith two lines", first.Text, "the reply decide returned is stored")
	second := mustReply(t, s, "THRD-0001", contact.Reply{StaffID: "8", Staff: "other@example.com", Text: "Second", At: base.Add(2 * time.Minute)})
	assert.Greater(t, second.ID, first.ID)

	got, err := s.Get(ctx, "THRD-0001")
	require.NoError(t, err)
	require.Len(t, got.Thread, 2)
	assert.Equal(t, 2, got.Replies)
	assert.Equal(t, first.ID, got.Thread[0].ID, "oldest first")
	assert.Equal(t, "First answer\nwith two lines", got.Thread[0].Text)
	assert.Equal(t, "7", got.Thread[0].StaffID)
	assert.Equal(t, "staff@example.com", got.Thread[0].Staff)
	assert.True(t, got.Thread[0].At.Equal(first.At))
	assert.True(t, got.Updated.Equal(second.At), "a reply updates the request")

	other, err := s.Get(ctx, "THRD-0002")
	require.NoError(t, err)
	assert.Empty(t, other.Thread, "replies stay in their own thread")

	_, err = s.AddReply(ctx, "NONE-0000", func(contact.Request) (contact.Reply, error) {
		t.Error("decide ran for a missing request")
		return contact.Reply{}, nil
	})
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	// The store keeps no rule of its own: decide sees the closed request and refuses.
	require.NoError(t, s.Close(ctx, "THRD-0002", base.Add(time.Hour)))
	refused := errors.New("closed")
	_, err = s.AddReply(ctx, "THRD-0002", func(cur contact.Request) (contact.Reply, error) {
		assert.Equal(t, contact.StatusClosed, cur.Status)
		return contact.Reply{}, refused
	})
	assert.ErrorIs(t, err, refused)
	other, err = s.Get(ctx, "THRD-0002")
	require.NoError(t, err)
	assert.Empty(t, other.Thread, "a refused reply writes nothing")
	assert.True(t, other.Updated.Equal(base.Add(time.Hour)))
}

func testClose(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("CLOS-0001", "ann@example.org", base))
	at := base.Add(3 * time.Hour)
	require.NoError(t, s.Close(ctx, "CLOS-0001", at))
	got, err := s.Get(ctx, "CLOS-0001")
	require.NoError(t, err)
	assert.Equal(t, contact.StatusClosed, got.Status)
	assert.True(t, got.Closed.Equal(at), "Closed=%v, want %v", got.Closed, at)
	assert.True(t, got.Updated.Equal(at))

	require.NoError(t, s.Close(ctx, "CLOS-0001", at.Add(time.Hour)), "closing twice is not an error")
	got, err = s.Get(ctx, "CLOS-0001")
	require.NoError(t, err)
	assert.True(t, got.Closed.Equal(at), "closing again keeps the first closing time")

	assert.ErrorIs(t, s.Close(ctx, "NONE-0000", at), privacy.ErrNotFound)
}

func testReopen(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("REOP-0001", "ann@example.org", base))
	require.NoError(t, s.Close(ctx, "REOP-0001", base.Add(time.Hour)))
	at := base.Add(2 * time.Hour)
	require.NoError(t, s.Reopen(ctx, "REOP-0001", at))
	got, err := s.Get(ctx, "REOP-0001")
	require.NoError(t, err)
	assert.Equal(t, contact.StatusOpen, got.Status)
	assert.True(t, got.Closed.IsZero(), "a reopened request keeps no closing time: %v", got.Closed)
	assert.True(t, got.Updated.Equal(at))
	open, err := s.List(ctx, contact.Filter{Status: contact.StatusOpen})
	require.NoError(t, err)
	require.Len(t, open, 1, "the reopened request is listed as open")

	require.NoError(t, s.Reopen(ctx, "REOP-0001", at.Add(time.Hour)), "reopening an open request is not an error")
	got, err = s.Get(ctx, "REOP-0001")
	require.NoError(t, err)
	assert.True(t, got.Updated.Equal(at), "reopening an open request changes nothing")
	_, err = s.AddReply(ctx, "REOP-0001", func(cur contact.Request) (contact.Reply, error) {
		assert.Equal(t, contact.StatusOpen, cur.Status, "AddReply's decide sees the request reopened")
		return contact.Reply{Text: "again", At: at}, nil
	})
	require.NoError(t, err)

	assert.ErrorIs(t, s.Reopen(ctx, "NONE-0000", at), privacy.ErrNotFound)
}

func testAnswerable(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("ANSW-0001", "open@example.org", base))
	mustCreate(t, s, request("ANSW-0002", "closed@example.org", base))
	closedAt := base.Add(time.Hour)
	require.NoError(t, s.Close(ctx, "ANSW-0002", closedAt))

	cases := []struct {
		name        string
		email       string
		closedSince time.Time
		want        bool
	}{
		{"Open", "open@example.org", base.Add(1000 * time.Hour), true},
		{"ClosedRecently", "closed@example.org", closedAt, true},
		{"ClosedLongAgo", "closed@example.org", closedAt.Add(time.Microsecond), false},
		{"Stranger", "stranger@example.org", time.Time{}, false},
		{"ExactMatchOnly", "OPEN@example.org", time.Time{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := s.Answerable(ctx, tc.email, tc.closedSince)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ok)
		})
	}
}

func testAckedSince(t *testing.T, s contact.Store) {
	ctx := context.Background()
	acked := request("ACKD-0001", "Ann@example.org", base)
	acked.AckSent = true
	mustCreate(t, s, acked)
	mustCreate(t, s, request("ACKD-0002", "bob@example.org", base.Add(time.Hour)))

	ok, err := s.AckedSince(ctx, "ann@example.org", base)
	require.NoError(t, err)
	assert.True(t, ok, "matched without regard to case")
	ok, err = s.AckedSince(ctx, "ann@example.org", base.Add(time.Microsecond))
	require.NoError(t, err)
	assert.False(t, ok, "an acknowledgement before since does not count")
	ok, err = s.AckedSince(ctx, "bob@example.org", base)
	require.NoError(t, err)
	assert.False(t, ok, "a request without acknowledgement does not count")
}

func testExportErase(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("EXPO-0001", "ann@example.org", base))
	mustCreate(t, s, request("EXPO-0002", "bob@example.org", base))
	mustCreate(t, s, request("EXPO-0003", "ANN@example.org", base.Add(time.Minute)))
	mustReply(t, s, "EXPO-0001", contact.Reply{Text: "answer", At: base.Add(time.Hour)})
	mustReply(t, s, "EXPO-0002", contact.Reply{Text: "for bob", At: base.Add(time.Hour)})
	require.NoError(t, s.Close(ctx, "EXPO-0003", base.Add(time.Hour)))

	rs, err := s.ByEmail(ctx, "ann@example.org")
	require.NoError(t, err)
	require.Len(t, rs, 2, "every spelling of the address")
	assert.Equal(t, "EXPO-0001", rs[0].Ref, "oldest first")
	assert.Equal(t, "EXPO-0003", rs[1].Ref)
	require.Len(t, rs[0].Thread, 1)
	assert.Equal(t, "answer", rs[0].Thread[0].Text)
	assert.Equal(t, contact.StatusClosed, rs[1].Status)
	assert.NotEmpty(t, rs[0].Message)

	none, err := s.ByEmail(ctx, "stranger@example.org")
	require.NoError(t, err)
	assert.Empty(t, none)

	n, err := s.EraseEmail(ctx, "ann@example.org")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	rs, err = s.ByEmail(ctx, "ann@example.org")
	require.NoError(t, err)
	assert.Empty(t, rs)
	_, err = s.Get(ctx, "EXPO-0001")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	bob, err := s.Get(ctx, "EXPO-0002")
	require.NoError(t, err)
	assert.Len(t, bob.Thread, 1, "others' requests and threads are untouched")

	n, err = s.EraseEmail(ctx, "ann@example.org")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func testPurge(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("PURG-0001", "old@example.org", base))
	mustCreate(t, s, request("PURG-0002", "recent@example.org", base))
	mustCreate(t, s, request("PURG-0003", "open@example.org", base.Add(-1000*time.Hour)))
	mustReply(t, s, "PURG-0001", contact.Reply{Text: "answer", At: base.Add(time.Minute)})
	require.NoError(t, s.Close(ctx, "PURG-0001", base.Add(time.Hour)))
	require.NoError(t, s.Close(ctx, "PURG-0002", base.Add(2*time.Hour)))

	n, err := s.Purge(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "closed exactly at t is kept")
	n, err = s.Purge(ctx, base.Add(90*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Get(ctx, "PURG-0001")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	rs, err := s.ByEmail(ctx, "old@example.org")
	require.NoError(t, err)
	assert.Empty(t, rs)
	_, err = s.Get(ctx, "PURG-0002")
	assert.NoError(t, err)
	_, err = s.Get(ctx, "PURG-0003")
	assert.NoError(t, err, "open requests never expire")

	n, err = s.Purge(ctx, base.Add(10000*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func testConcurrentReplies(t *testing.T, s contact.Store) {
	ctx := context.Background()
	mustCreate(t, s, request("CONC-0001", "ann@example.org", base))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := addReply(ctx, s, "CONC-0001", contact.Reply{Text: fmt.Sprint("reply ", i), At: base.Add(time.Minute)})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := s.Get(ctx, "CONC-0001")
	require.NoError(t, err)
	assert.Len(t, got.Thread, 8)
	ids := map[int64]bool{}
	for _, r := range got.Thread {
		ids[r.ID] = true
	}
	assert.Len(t, ids, 8, "every reply has its own id")
}
