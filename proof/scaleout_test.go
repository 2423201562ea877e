package proof_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy/mailtest"
)

// TestTwoProcessesUnderLoad runs two site processes on one database while a
// campaign sends and visitors write to both and read both. Each process hands its
// mail to a relay of its own, so that the test sees which process sent what: the
// two share the work, and across both every member gets the campaign exactly once,
// every contact request is stored once and notified once, every comment is stored
// once, and the page views counted by both add up to exactly those answered.
func TestTwoProcessesUnderLoad(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	// A private MariaDB: the two processes open a connection for each request in
	// flight (TestDatabaseConnectionPool), more than the shared server's tests can spare.
	m := startMariaDB(t, "--max-connections=1000")
	dsn := m.CreateDB("site")
	twoProcessesUnderLoad(t, [2]string{dsn, dsn}, dsn)
}

// twoProcessesUnderLoad is TestTwoProcessesUnderLoad with process A on dsns[0],
// B on dsns[1], and the test's own checks on check.
func twoProcessesUnderLoad(t *testing.T, dsns [2]string, check string) {
	members, writes, readers, views := 2000, 30, 4, 150
	if full() {
		members, writes, readers, views = 10_000, 200, 8, 1000
	}
	relays := make([]*mailtest.Server, 2)
	for i := range relays {
		r, err := mailtest.Start()
		require.NoError(t, err)
		defer r.Close()
		relays[i] = r
	}
	staff(t, dsns[0], "editor@example.com", "editor")
	db := openDB(t, check)
	emails := seedSubscribers(t, db, "scale", members)
	// One after the other: the first applies the migrations, which a cluster
	// cannot serialise across nodes (README, "On a Galera cluster").
	sites := []*siteProc{startSite(t, siteOptions{DSN: dsns[0], Relay: relays[0]}), startSite(t, siteOptions{DSN: dsns[1], Relay: relays[1]})}
	token := signIn(t, sites[0].Base, "editor@example.com")
	stamp := formStamp(t, sites[1].Base) // a stamp from one process is good on the other: one secret
	comments := fetchCommentStamps(t, sites[1].Base, writes)

	began := time.Now()
	id := campaign(t, sites[0].Base, token, "Scale issue")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acked    = map[string][]string{}
		answered int
		retried  atomic.Int64
	)
	for i := range writes {
		for _, w := range writers(sites[i%2].Base, stamp, comments, fmt.Sprintf("p%d", i%2)) {
			wg.Go(func() {
				c := newClient(30 * time.Second)
				a, ref := w.write(c, i)
				// A 503 says come back after Retry-After, as a client does: all the
				// writes at once are more than a process's pool serves within
				// mysqldb.MaxWait on a cluster, whose commits take longer.
				for attempt := 1; a.Status == http.StatusServiceUnavailable && attempt < 10; attempt++ {
					retried.Add(1)
					after, err := strconv.Atoi(a.Header.Get("Retry-After"))
					require.NoError(t, err, "a 503's Retry-After")
					time.Sleep(time.Duration(after) * time.Second)
					a, ref = w.write(c, i)
				}
				if assert.NoError(t, a.Err) && assert.Equal(t, w.ok, a.Status, "%s %d: %s", w.kind, i, a) {
					mu.Lock()
					acked[w.kind] = append(acked[w.kind], ref)
					mu.Unlock()
				}
			})
		}
	}
	for _, s := range sites {
		for range readers {
			wg.Go(func() {
				c := newClient(30 * time.Second)
				for range views {
					a := get(c, s.Base+"/blog")
					if assert.NoError(t, a.Err) && assert.Equal(t, http.StatusOK, a.Status) {
						mu.Lock()
						answered++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()

	want := members + len(acked["contact"]) + len(acked["subscribe"]) // a campaign copy, a notification, a confirmation
	delivered := func() int { return len(relays[0].Messages()) + len(relays[1].Messages()) }
	require.True(t, eventually(180*time.Second, 50*time.Millisecond, func() bool { return delivered() >= want }),
		"%d of %d messages delivered", delivered(), want)
	took := time.Since(began)
	time.Sleep(time.Second) // a duplicate would show itself by now
	for _, s := range sites {
		s.Stop() // flushes each process's page views
	}

	got := map[string]int{}
	per := [2]int{}
	for i, r := range relays {
		for e, n := range copies(r, "Scale issue") {
			got[e] += n
			per[i] += n
		}
	}
	for _, e := range emails {
		assert.Equal(t, 1, got[e], "campaign copies to %s across both processes", e)
	}
	assert.Len(t, got, members)
	assert.Equal(t, want, delivered(), "every message exactly once")
	subjects := map[string]int{}
	for _, r := range relays {
		for _, m := range r.Messages() {
			subjects[m.Subject()]++
		}
	}
	for _, ref := range acked["contact"] {
		n := 0
		for s, k := range subjects {
			if strings.HasPrefix(s, "["+ref+"]") {
				n += k
			}
		}
		assert.Equal(t, 1, n, "notifications of contact request %s", ref)
		assert.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM contact_requests WHERE ref = ?`, ref))
	}
	assert.Equal(t, len(acked["contact"]), count(t, db, `SELECT COUNT(*) FROM contact_requests`))
	assert.Equal(t, len(acked["comment"]), count(t, db, `SELECT COUNT(*) FROM comments_comments`))
	assert.Equal(t, len(acked["subscribe"]), count(t, db, `SELECT COUNT(*) FROM newsletter_subscriptions WHERE email NOT LIKE 'scale%'`))
	assert.Equal(t, members, count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE ref = ? AND state = 1`, fmt.Sprintf("campaign:%d", id)))
	assert.Zero(t, count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state <> 1`), "nothing left queued or failed")
	stored := count(t, db, `SELECT COALESCE(SUM(views), 0) FROM tracking_paths WHERE path = '/blog'`)
	assert.Equal(t, answered, stored, "page views from both processes add up, each once")
	assert.Positive(t, per[0], "process A sent part of the campaign")
	assert.Positive(t, per[1], "process B sent part of the campaign")
	t.Logf("two processes (%s): campaign of %d sent %d by A and %d by B, none twice; %d contact, %d comments, %d subscriptions stored once (%d answers 503, each sent again after its Retry-After); %d page views answered and stored; all mail delivered %s after the campaign started (%.0f messages/s) (load %s)",
		t.Name(), members, per[0], per[1], len(acked["contact"]), len(acked["comment"]), len(acked["subscribe"]), retried.Load(), stored,
		took.Round(time.Millisecond), float64(want)/took.Seconds(), loadavg())
}
