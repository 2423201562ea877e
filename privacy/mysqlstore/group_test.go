package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
)

// TestGroupOneBadMessage: ten messages wait behind an insert in flight and then go
// in one insert, which fails for the one whose ref is too long: its caller gets
// the error, every other is stored under its own id, and a suppressed recipient's
// caller is refused as Enqueue alone would.
func TestGroupOneBadMessage(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Suppress(ctx, "gone@example.org", "550", time.Now()))
	s.group.inFlight = maxInFlight // inserts in flight: whoever comes queues
	to := func(i int) string {
		if i == 7 {
			return "gone@example.org"
		}
		return fmt.Sprintf("g%d@example.org", i)
	}
	ids := make([]int64, 10)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		msg := &privacy.Message{Purpose: "account", DataSubject: to(i), To: privacy.Address{Email: to(i)}, Subject: "s", Text: "t"}
		if i == 3 {
			msg.Ref = strings.Repeat("r", 101)
		}
		wg.Go(func() { ids[i], errs[i] = s.Enqueue(ctx, msg) })
	}
	waitQueued(t, s, 10)
	// The inserts in flight end: the first queued leads the next, for all ten.
	s.group.done()
	s.group.done()
	wg.Wait()

	for i := range 10 {
		switch i {
		case 3:
			assert.ErrorContains(t, errs[i], "Data too long", "the message too long for its column fails alone")
		case 7:
			var re *privacy.RefusalError
			require.ErrorAs(t, errs[i], &re)
			assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
		default:
			require.NoError(t, errs[i], "message %d", i)
			requireRecipient(t, s, ids[i], to(i))
		}
	}
	st, err := s.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 8, st.Queued)
	assert.Zero(t, s.group.inFlight, "the last leader found nothing queued")
}

// TestGroupSecondInsert: while one insert is in flight, callers queue until as
// many wait as it took, and the one that makes it so leads a second insert of
// them all; while two are, every caller queues, however many, until one ends.
func TestGroupSecondInsert(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	to := func(i int) string { return fmt.Sprintf("s%d@example.org", i) }
	enqueue := func(i int) { enqueueTo(t, s, &wg, to(i), &ids[i]) }
	queued := func(n int) { waitQueued(t, s, n) }

	s.group.inFlight, s.group.last = 1, 3 // an insert of three in flight (the test's)
	enqueue(0)
	enqueue(1)
	queued(2)
	enqueue(2) // the third: a second insert, of all three
	wg.Wait()
	for i := range 3 {
		requireRecipient(t, s, ids[i], to(i))
	}
	assert.Equal(t, 1, s.group.inFlight, "the second insert ended; the first is still in flight")

	s.group.inFlight, s.group.last = maxInFlight, 1
	for i := 3; i < 8; i++ {
		enqueue(i)
	}
	queued(5)
	s.group.done() // one of the two ends: the first queued leads the rest
	wg.Wait()
	for i := 3; i < 8; i++ {
		requireRecipient(t, s, ids[i], to(i))
	}
	assert.Equal(t, 1, s.group.inFlight)
	assert.Equal(t, 5, s.group.last, "the five went in one insert")
}

// TestPreparedInserts: a group insert of up to preparedRows messages runs as a
// statement prepared once for its number of rows, a larger one as text, and
// both give each caller its own id; a server out of prepared statements
// (max_prepared_stmt_count, error 1461) gets text from then on.
func TestPreparedInserts(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	for _, n := range []int{1, preparedRows, preparedRows + 1} {
		s.group.inFlight = maxInFlight
		var wg sync.WaitGroup
		ids := make([]int64, n)
		to := func(i int) string { return fmt.Sprintf("p%d-%d@example.org", n, i) }
		for i := range n {
			enqueueTo(t, s, &wg, to(i), &ids[i])
		}
		waitQueued(t, s, n)
		s.group.done()
		s.group.done()
		wg.Wait()
		for i := range n {
			requireRecipient(t, s, ids[i], to(i))
		}
		if n <= preparedRows {
			assert.NotNil(t, s.group.stmts.byRows[n], "%d rows: prepared", n)
		}
	}

	calls := 0
	refuse := func(*sqlx.Stmt) error {
		calls++
		return &mysql.MySQLError{Number: 1461, Message: "Can't create more than max_prepared_stmt_count statements"}
	}
	assert.ErrorIs(t, s.group.stmts.run(ctx, s.db, 1, refuse), errNotPrepared)
	assert.ErrorIs(t, s.group.stmts.run(ctx, s.db, 1, refuse), errNotPrepared)
	assert.Equal(t, 1, calls, "refused once, not asked again")
	id, err := s.Enqueue(ctx, &privacy.Message{Purpose: "account", DataSubject: "t@example.org", To: privacy.Address{Email: "t@example.org"}, Subject: "s", Text: "t"})
	require.NoError(t, err)
	requireRecipient(t, s, id, "t@example.org")
}

// enqueueTo enqueues a message to to from a goroutine of wg and sets *id.
func enqueueTo(t *testing.T, s *Store, wg *sync.WaitGroup, to string, id *int64) {
	wg.Go(func() {
		var err error
		*id, err = s.Enqueue(context.Background(), &privacy.Message{Purpose: "account", DataSubject: to, To: privacy.Address{Email: to}, Subject: "s", Text: "t"})
		assert.NoError(t, err)
	})
}

// enqueueWithin enqueues a message to late@example.org with a context that ends
// after d, and returns where its error comes.
func enqueueWithin(s *Store, d time.Duration) <-chan error {
	left := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := s.Enqueue(ctx, &privacy.Message{Purpose: "account", DataSubject: "late@example.org",
			To: privacy.Address{Email: "late@example.org"}, Subject: "s", Text: "t"})
		left <- err
	}()
	return left
}

// answer returns the error left gives, failing the test if none comes within 10 s:
// the caller still waits for an insert after its context ended.
func answer(t *testing.T, left <-chan error) error {
	t.Helper()
	select {
	case err := <-left:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the caller still waits for an insert after its context ended")
		return nil
	}
}

// waitQueued waits until n callers queue in s's group.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return len(s.group.queue) == n
	}, 10*time.Second, time.Millisecond)
}

// requireRecipient checks that the message stored under id is to to.
func requireRecipient(t *testing.T, s *Store, id int64, to string) {
	t.Helper()
	got, err := s.Recipient(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, to, got)
}

// TestGroupWaiterLeavesAtItsEnd: a caller queued behind inserts that do not end
// (a cluster holding its commits) returns when its own context ends, unavailable
// and not stored; those queued after it, and the next insert, go on without it.
func TestGroupWaiterLeavesAtItsEnd(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	s.group.inFlight = maxInFlight // two inserts that do not end until the test says so

	left := enqueueWithin(s, 100*time.Millisecond)
	var wg sync.WaitGroup
	var id int64
	waitQueued(t, s, 1)
	enqueueTo(t, s, &wg, "patient@example.org", &id)
	err := answer(t, left)
	require.ErrorIs(t, err, privacy.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	waitQueued(t, s, 1) // the patient caller alone

	s.group.done()
	wg.Wait()
	requireRecipient(t, s, id, "patient@example.org")
	st, err := s.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Queued, "the message whose caller left was not stored")
}

// TestGroupWaiterInAStalledInsert: a caller whose message another caller's insert
// has taken, stalled (the table locked), returns when its own context ends,
// unavailable; the insert then stores its message all the same, as a commit cut
// off may be (the 503's "not known to be stored").
func TestGroupWaiterInAStalledInsert(t *testing.T) {
	ctx := context.Background()
	db := mysqltest.New(t)
	s := New(db)
	require.NoError(t, s.Migrate(ctx))
	lock, err := db.Conn(ctx)
	require.NoError(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(ctx, `LOCK TABLES privacy_outbox WRITE`)
	require.NoError(t, err)

	s.group.inFlight = maxInFlight
	var wg sync.WaitGroup
	var leader int64
	enqueueTo(t, s, &wg, "leader@example.org", &leader)
	waitQueued(t, s, 1)
	left := enqueueWithin(s, 200*time.Millisecond)
	waitQueued(t, s, 2)
	s.group.done() // the first queued leads both, into the locked table
	require.ErrorIs(t, answer(t, left), privacy.ErrUnavailable)
	_, err = lock.ExecContext(ctx, `UNLOCK TABLES`)
	require.NoError(t, err)
	wg.Wait()
	requireRecipient(t, s, leader, "leader@example.org")
	st, err := s.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 2, st.Queued, "the message of the caller that left was stored by the insert it was in")
}
