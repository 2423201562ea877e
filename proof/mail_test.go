package proof_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// register asks for an account over the JSON API; the site mails a verification link.
func register(c *http.Client, base, email string) answer {
	return postJSON(c, base+"/accounts/register", map[string]string{"email": email, "password": password, "birth_date": "1990-01-01"}, "")
}

// TestSMTPOutage takes the mail relay away while a newsletter campaign sends and
// visitors register, in three ways in turn: it answers 451 to every message, it
// drops the connection in the middle of each message, and it is not there at all
// (connection refused). Nothing is delivered meanwhile; once a relay answers again
// at the same address, every member gets the campaign and every registrant the
// verification mail, each exactly once, and the outbox ends empty with no failure.
//
// The site retries a temporary failure after 30 s (the Dispatcher's MinBackoff), so
// the test lasts about 45 s; it waits out the real backoff rather than moving the
// outbox's clock.
func TestSMTPOutage(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	members, perPhase := 300, 8
	if full() {
		members, perPhase = 5000, 50
	}
	dsn := mysqltest.NewDSN(t)
	relay, err := mailtest.Start()
	require.NoError(t, err)
	relayAddr := relay.Addr
	staff(t, dsn, "editor@example.com", "editor") // also creates the tables
	db := openDB(t, dsn)
	emails := seedSubscribers(t, db, "outage", members)
	site := startSite(t, siteOptions{DSN: dsn, Relay: relay})
	token := signIn(t, site.Base, "editor@example.com")

	var (
		mu          sync.Mutex
		registrants []string
	)
	registerWave := func(phase string) {
		var wg sync.WaitGroup
		for i := range perPhase {
			email := fmt.Sprintf("%s%02d@example.org", phase, i)
			wg.Go(func() {
				c := newClient(30 * time.Second)
				a := register(c, site.Base, email)
				// Registrations at once may find every hash slot busy: the site says
				// so (503, Retry-After), and a client tries again.
				for try := 0; a.Status == http.StatusServiceUnavailable && try < 20; try++ {
					wait, _ := strconv.Atoi(a.Header.Get("Retry-After"))
					time.Sleep(time.Duration(max(wait, 1)) * time.Second)
					a = register(c, site.Base, email)
				}
				if assert.NoError(t, a.Err) && assert.Equal(t, http.StatusAccepted, a.Status, "register %s: %s", email, a) {
					mu.Lock()
					registrants = append(registrants, email)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	// tried waits until every queued message has been attempted and failed at least
	// once: the outbox holds want messages, all due later, none sent.
	tried := func(want int) {
		t.Helper()
		ok := eventually(60*time.Second, 100*time.Millisecond, func() bool {
			return count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state = 0 AND attempts > 0 AND owner IS NULL`) == want
		})
		require.True(t, ok, "the outbox did not try all %d messages: %d tried", want,
			count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state = 0 AND attempts > 0`))
	}

	began := time.Now()
	relay.SetMode(mailtest.TempFail)
	id := campaign(t, site.Base, token, "Outage issue")
	registerWave("tempfail")
	// While 2,000 of its messages wait in the outbox (newsletter.Config.MaxQueued),
	// a campaign enqueues no more: the rest follow once the relay is back.
	enqueued := min(members, 2000)
	require.True(t, eventually(60*time.Second, 100*time.Millisecond, func() bool {
		return campaignProgress(t, site.Base, token, id).Enqueued == enqueued
	}), "the campaign was not enqueued")
	tried(enqueued + perPhase)

	relay.SetMode(mailtest.Drop)
	registerWave("dropped")
	tried(enqueued + 2*perPhase)

	require.NoError(t, relay.Close())
	registerWave("refused")
	tried(enqueued + 3*perPhase)
	assert.Equal(t, enqueued, campaignProgress(t, site.Base, token, id).Enqueued, "the campaign waits for its backlog")
	assert.Empty(t, relay.Messages(), "nothing was accepted while the relay failed")
	assert.Zero(t, count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state <> 0`), "no message sent or given up during the outage")

	relay, err = mailtest.StartAt(relayAddr)
	require.NoError(t, err)
	defer relay.Close()
	back := time.Now()
	total := members + len(registrants)
	relay.Wait(total, 150*time.Second)
	drained := time.Since(back)
	time.Sleep(time.Second) // a duplicate would show itself by now

	got := copies(relay, "Outage issue")
	for _, e := range emails {
		assert.Equal(t, 1, got[e], "campaign copies to %s", e)
	}
	assert.Len(t, got, members, "the campaign went to its members only")
	for _, e := range registrants {
		n := 0
		for _, m := range relay.To(e) {
			if strings.Contains(m.Text, "/accounts/verify?token=") {
				n++
			}
		}
		assert.Equal(t, 1, n, "verification mails to %s", e)
	}
	assert.Len(t, relay.Messages(), total, "every message exactly once")
	assert.Zero(t, count(t, db, `SELECT COUNT(*) FROM privacy_outbox WHERE state <> 1`), "every message sent, none failed or left queued")
	p := campaignProgress(t, site.Base, token, id)
	assert.Equal(t, progress{Status: "sent", Total: members, Enqueued: members, Sent: members}, p)
	site.Stop()
	assert.Empty(t, site.Errors(), "the site logged no error")
	t.Logf("outage of %s during a campaign to %d members (%d enqueued meanwhile) and %d registrations (451, dropped, refused); all %d messages delivered %s after the relay came back (load %s)",
		back.Sub(began).Round(time.Millisecond), members, enqueued, len(registrants), total, drained.Round(time.Millisecond), loadavg())
}
