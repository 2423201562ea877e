package proof_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
)

// TestCommentFlood is audit #13 finding 4 against the built site on MySQL: an
// address with three approved comments, so trusted to publish at once, posts 100
// comments of 10,000 '>' and then 100 more as large as a comment may be. The
// first are refused naming body (their HTML passes the per-comment cap); the
// others are published, and the post stays under 1 MB, paged; 20 concurrent views
// of it each answer within 200 ms; and the site's peak memory grows by a bounded
// amount. Before the fix the post was 27 MB, the views took 12-22 s and the
// resident memory went from 212 MB to 2.1 GB.
func TestCommentFlood(t *testing.T) {
	endToEnd(t)
	dsn := mysqltest.NewDSN(t)
	staff(t, dsn, "mod@example.com", "moderator")
	site := startSite(t, siteOptions{DSN: dsn})
	token := signIn(t, site.Base, "mod@example.com")
	stamps := fetchCommentStamps(t, site.Base, 210)
	comment := func(body string) answer {
		return postJSON(newClient(30*time.Second), site.Base+"/comments/t/"+commentThread, map[string]string{"name": "Flood",
			"email": "flood@example.org", "body": body, "ts": stamps.next()}, "")
	}
	for i := range 3 {
		a := comment(fmt.Sprintf("An ordinary comment, number %d.", i))
		require.Equal(t, http.StatusCreated, a.Status, a.String())
		var c struct {
			Comment struct {
				ID int64 `json:"id"`
			} `json:"comment"`
		}
		require.NoError(t, json.Unmarshal(a.Body, &c))
		a = postJSON(newClient(30*time.Second), fmt.Sprintf("%s/comments/moderate/%d/approve", site.Base, c.Comment.ID), map[string]string{}, token)
		require.Equal(t, http.StatusOK, a.Status, "approve: %s", a)
	}
	rss0 := memory(t, site.PID(), "VmRSS")
	resetPeak(t, site.PID())

	statuses := map[int]int{}
	for range 100 {
		a := comment(strings.Repeat(">", 10_000))
		statuses[a.Status]++
		if a.Status == http.StatusBadRequest {
			assert.Contains(t, string(a.Body), `"field":"body"`)
		}
	}
	assert.Equal(t, map[int]int{http.StatusBadRequest: 100}, statuses, "10,000 '>' renders past the per-comment cap")
	published := 0
	for i := range 100 {
		// 3,000 "< " is 15,000 bytes of HTML, just under the 16 KiB cap.
		if a := comment(fmt.Sprintf("%d %s", i, strings.Repeat("< ", 3_000))); a.Status == http.StatusCreated {
			published++
		} else {
			t.Errorf("a comment at the cap: %s", a)
		}
	}

	page := do(newClient(30*time.Second), request{Method: "GET", URL: site.Base + "/blog/" + commentThread})
	require.Equal(t, http.StatusOK, page.Status)
	assert.Less(t, len(page.Body), 1<<20, "the post with its first page of comments")
	feed := do(newClient(30*time.Second), request{Method: "GET", URL: site.Base + "/comments/feed/" + commentThread})
	require.Equal(t, http.StatusOK, feed.Status)
	assert.Less(t, len(feed.Body), 1<<20, "the feed")

	var (
		mu    sync.Mutex
		times []time.Duration
		wg    sync.WaitGroup
	)
	for range 20 {
		wg.Go(func() {
			c := newClient(30 * time.Second)
			start := time.Now()
			a := do(c, request{Method: "GET", URL: site.Base + "/blog/" + commentThread})
			d := time.Since(start)
			assert.Equal(t, http.StatusOK, a.Status)
			mu.Lock()
			times = append(times, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(times)
	slowest := times[len(times)-1]
	assert.Less(t, slowest, 200*time.Millisecond, "each of 20 concurrent views")
	hwm := memory(t, site.PID(), "VmHWM")
	assert.Less(t, hwm-rss0, int64(128<<10), "peak memory grows by less than 128 MiB")
	t.Logf("flood: 100 of 10,000 '>' refused %v; %d at the cap published; post %.1f KB, feed %.1f KB; 20 concurrent views: median %s, slowest %s; RSS %d KiB before, peak %d KiB (load %s)",
		statuses, published, float64(len(page.Body))/1000, float64(len(feed.Body))/1000, times[len(times)/2].Round(time.Millisecond),
		slowest.Round(time.Millisecond), rss0, hwm, loadavg())
}
