package proof_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// flushEvery is the site's tracking flush interval (tracking.TrackerConfig's default).
const flushEvery = 10 * time.Second

// TestSiteKilled kills the site (SIGKILL) in the middle of a newsletter campaign
// while visitors read the blog, and starts it again on the same database:
//
//   - every member gets the campaign at least once, and the duplicates are no more
//     than the messages the dead process held claimed (in flight) when it died;
//   - the page views it had counted in memory since its last flush are lost, no
//     more than one flush interval's worth, and none is counted twice.
//
// The dead process's claims stay leased to it for 2 minutes (the Dispatcher's
// Lease); the test ends those leases now rather than wait them out (see
// expireLeases), except with CONSENTKIT_PROOF_FULL=1, which waits the real 2
// minutes.
func TestSiteKilled(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	members := 3000
	if full() {
		members = 10_000
	}
	dsn := mysqltest.NewDSN(t)
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	staff(t, dsn, "editor@example.com", "editor")
	db := openDB(t, dsn)
	emails := seedSubscribers(t, db, "killed", members)
	site := startSite(t, siteOptions{DSN: dsn, Relay: relay})
	token := signIn(t, site.Base, "editor@example.com")

	// Readers, each from its own address, until the kill.
	var (
		mu   sync.Mutex
		hits []time.Time // when each counted page view was answered
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := newClient(5 * time.Second)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if a := get(c, site.Base+"/blog"); a.Status == http.StatusOK {
					mu.Lock()
					hits = append(hits, time.Now())
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	stored := func() int {
		return count(t, db, `SELECT COALESCE(SUM(views), 0) FROM tracking_paths WHERE path = '/blog'`)
	}
	require.True(t, eventually(30*time.Second, 20*time.Millisecond, func() bool { return stored() > 0 }), "no flush within 30 s")
	flushed := time.Now()

	id := campaign(t, site.Base, token, "Killed issue")
	require.True(t, eventually(120*time.Second, 5*time.Millisecond, func() bool { return len(relay.Messages()) >= members/3 }),
		"the campaign did not reach a third of its members")
	site.Kill()
	killed := time.Now()
	close(stop)
	wg.Wait()
	atKill := len(relay.Messages())
	inFlight := count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state = 0 AND owner IS NOT NULL`)
	enqueued := count(t, db, `SELECT enqueued FROM newsletter_campaigns WHERE id = ?`, id)
	sent := len(hits)
	lastInterval := 0
	for _, h := range hits {
		if h.After(killed.Add(-flushEvery - time.Second)) {
			lastInterval++
		}
	}

	if full() {
		time.Sleep(2*time.Minute + time.Second)
	} else {
		expireLeases(t, db)
	}
	restarted := time.Now()
	site = startSite(t, siteOptions{DSN: dsn, Relay: relay, Addr: site.Addr})
	all := eventually(180*time.Second, 50*time.Millisecond, func() bool {
		return len(copies(relay, "Killed issue")) == members && count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state = 0`) == 0
	})
	finished := time.Since(restarted)
	time.Sleep(time.Second) // a late duplicate would show itself by now
	p := campaignProgress(t, site.Base, token, id)
	site.Stop()

	got := copies(relay, "Killed issue")
	dups := 0
	for _, e := range emails {
		assert.GreaterOrEqual(t, got[e], 1, "%s got no copy", e)
		dups += max(got[e]-1, 0)
	}
	require.True(t, all, "only %d of %d members got the campaign, %d messages still queued", len(got), members,
		count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state = 0`))
	assert.LessOrEqual(t, dups, inFlight, "duplicates are at most the messages in flight at the kill")
	assert.Equal(t, members, p.Sent, "the outbox counts each member's message sent once: %+v", p)
	assert.Zero(t, p.Failed)

	persisted := stored()
	lost := sent - persisted
	assert.GreaterOrEqual(t, lost, 0, "no page view counted twice: %d answered, %d stored", sent, persisted)
	assert.LessOrEqual(t, lost, lastInterval, "at most one flush interval of page views lost")
	// The flushes follow the first one every flushEvery, give or take the poll.
	since := killed.Sub(flushed) % flushEvery
	sinceFlush := 0
	for _, h := range hits {
		if h.After(killed.Add(-since)) {
			sinceFlush++
		}
	}
	t.Logf("campaign of %d: killed after %d delivered (%d enqueued, %d claimed in flight); after restart every member had it within %s; %d duplicates",
		members, atKill, enqueued, inFlight, finished.Round(time.Millisecond), dups)
	t.Logf("tracking: %d page views answered, %d stored, %d lost (%.1f%%): the %d answered since the last flush, %s before the kill, give or take the flush's own time; at most one interval's %d (load %s)",
		sent, persisted, lost, 100*float64(lost)/float64(max(sent, 1)), sinceFlush, since.Round(100*time.Millisecond), lastInterval, loadavg())
}
