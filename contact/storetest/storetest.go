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
	t.Run("ThenFailureStoresNothing", func(t *testing.T) { testThenFailure(t, newStore(t)) })
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
	require.NoError(t, s.Create(context.Background(), r, nil))
}

func testCreateGet(t *testing.T, s contact.Store) {
	ctx := context.Background()
	r := request("K7Q4-M2XH", "Ann@example.org", base)
	r.AckSent = true
	var sawInThen contact.Request
	require.NoError(t, s.Create(ctx, r, func(ctx context.Context) error {
		// A notification enqueued here must find the request it is about.
		var err error
		sawInThen, err = s.Get(ctx, r.Ref)
		return err
	}))
	assert.NotZero(t, r.ID)
	assert.Equal(t, r.Ref, sawInThen.Ref, "then must see the uncommitted request")

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
		err := s.Create(ctx, dup, func(context.Context) error { t.Error("then ran for a refused insert"); return nil })
		assert.ErrorIs(t, err, privacy.ErrConflict)
		got, err := s.Get(ctx, "K7Q4-M2XH")
		require.NoError(t, err)
		assert.Equal(t, "Ann@example.org", got.Email, "the first request is untouched")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.Get(ctx, "ZZZZ-ZZZZ")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})
}

func testThenFailure(t *testing.T, s contact.Store) {
	ctx := context.Background()
	boom := errors.New("notification failed")
	r := request("AAAA-0001", "ann@example.org", base)
	err := s.Create(ctx, r, func(ctx context.Context) error {
		ok, err := s.Answerable(ctx, "ann@example.org", base)
		require.NoError(t, err)
		assert.True(t, ok, "the purpose check inside then must see the new request")
		return boom
	})
	require.ErrorIs(t, err, boom)
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

	err = s.AddReply(ctx, "AAAA-0001", &contact.Reply{Text: "hello", At: base.Add(time.Minute)}, func(context.Context) error { return boom })
	require.ErrorIs(t, err, boom)
	got, err := s.Get(ctx, "AAAA-0001")
	require.NoError(t, err)
	assert.Empty(t, got.Thread, "a reply whose mail failed is not kept")
	assert.Zero(t, got.Replies)
	assert.True(t, got.Updated.Equal(base), "Updated=%v, want %v", got.Updated, base)
}

func testList(t *testing.T, s contact.Store) {
	ctx := context.Background()
	for i := range 5 {
		mustCreate(t, s, request(fmt.Sprintf("LIST-000%d", i), fmt.Sprintf("l%d@example.org", i), base.Add(time.Duration(i)*time.Minute)))
	}
	require.NoError(t, s.Close(ctx, "LIST-0001", base.Add(time.Hour)))
	require.NoError(t, s.Close(ctx, "LIST-0003", base.Add(time.Hour)))
	require.NoError(t, s.AddReply(ctx, "LIST-0004", &contact.Reply{Text: "r", At: base.Add(time.Hour)}, nil))

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
	var seen bool
	first := contact.Reply{StaffID: "7", Staff: "staff@example.com", Text: "First answer\nwith two lines", At: base.Add(time.Minute)}
	require.NoError(t, s.AddReply(ctx, "THRD-0001", &first, func(ctx context.Context) error {
		got, err := s.Get(ctx, "THRD-0001")
		seen = err == nil && len(got.Thread) == 1
		return err
	}))
	assert.True(t, seen, "then must see the uncommitted reply")
	assert.NotZero(t, first.ID)
	second := contact.Reply{StaffID: "8", Staff: "other@example.com", Text: "Second", At: base.Add(2 * time.Minute)}
	require.NoError(t, s.AddReply(ctx, "THRD-0001", &second, nil))
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

	err = s.AddReply(ctx, "NONE-0000", &contact.Reply{Text: "x", At: base}, nil)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	require.NoError(t, s.Close(ctx, "THRD-0002", base.Add(time.Hour)))
	err = s.AddReply(ctx, "THRD-0002", &contact.Reply{Text: "late", At: base.Add(2 * time.Hour)},
		func(context.Context) error { t.Error("then ran for a closed request"); return nil })
	assert.ErrorIs(t, err, privacy.ErrConflict)
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
	require.NoError(t, s.AddReply(ctx, "REOP-0001", &contact.Reply{Text: "again", At: at}, nil), "a reopened request takes replies")

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
	require.NoError(t, s.AddReply(ctx, "EXPO-0001", &contact.Reply{Text: "answer", At: base.Add(time.Hour)}, nil))
	require.NoError(t, s.AddReply(ctx, "EXPO-0002", &contact.Reply{Text: "for bob", At: base.Add(time.Hour)}, nil))
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
	require.NoError(t, s.AddReply(ctx, "PURG-0001", &contact.Reply{Text: "answer", At: base.Add(time.Minute)}, nil))
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
			assert.NoError(t, s.AddReply(ctx, "CONC-0001", &contact.Reply{Text: fmt.Sprint("reply ", i), At: base.Add(time.Minute)}, nil))
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
