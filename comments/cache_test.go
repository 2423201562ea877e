package comments_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

// twoProcesses returns two envs that share one database (MySQL: each its own
// connection pool, stores and thread cache, as two processes of a site have) or,
// in memory, one pair of stores; they share a clock.
func twoProcesses(t *testing.T, kind string, opts ...option) (a, b *env) {
	t.Helper()
	if kind == "mem" {
		cs, ps := commentsmem.New(), privacymem.New()
		a = newEnvOn(t, cs, ps, nil, nil, opts...)
		return a, newEnvOn(t, cs, ps, nil, a.clock, opts...)
	}
	dsn := mysqltest.NewDSN(t)
	open := func() *env {
		db, err := privacymysql.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		var clk *clock
		if a != nil {
			clk = a.clock
		}
		return newEnvOn(t, nil, nil, db, clk, opts...)
	}
	a = open()
	return a, open()
}

// shows reads the thread from e as a visitor would (the page, its JSON and its
// feed) and reports, for each text, whether all three show it.
func (e *env) shows(t *testing.T, texts ...string) map[string]bool {
	t.Helper()
	page := body(t, e.get(t, "/t/"+topic, ""))
	js := body(t, e.get(t, "/t/"+topic, "application/json"))
	feed := body(t, e.get(t, "/feed/"+topic, ""))
	out := map[string]bool{}
	for _, s := range texts {
		inPage, inJSON, inFeed := strings.Contains(page, s), strings.Contains(js, s), strings.Contains(feed, s)
		if inPage != inJSON || inPage != inFeed {
			t.Errorf("%s: the page (%v), the JSON (%v) and the feed (%v) disagree on %q", e.kind, inPage, inJSON, inFeed, s)
		}
		out[s] = inPage
	}
	out[tombstone] = strings.Contains(page, tombstone)
	return out
}

const tombstone = "This comment was deleted."

// TestThreadCacheTwoProcesses has two processes, each with its own cache, serve
// one thread while either of them changes it: after every change, committed by
// one, both show the thread as it now is, never as they cached it before.
func TestThreadCacheTwoProcesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		a, b := twoProcesses(t, kind, func(c *comments.Config, _ *comments.HandlerConfig) { c.Erase, c.TrustAfter = comments.EraseKeepText, 1 })
		texts := []string{"Annabel"}
		// expect checks that both processes show exactly the texts in want.
		expect := func(step string, want ...string) {
			t.Helper()
			for _, e := range []*env{a, b} {
				got := e.shows(t, texts...)
				for _, s := range append(texts, tombstone) {
					assert.Equal(t, slices.Contains(want, s), got[s], "%s: after %s, showing %q", e.kind, step, s)
				}
			}
		}
		post := func(e *env, name, email, text string, parent int64) comments.Posted {
			texts = append(texts, text)
			return e.post(t, comments.Input{Name: name, Email: email, Body: text, ParentID: parent})
		}
		expect("nothing")

		first := post(b, "Annabel Lee", ann, "First by Ann", 0)
		require.Equal(t, comments.StatusPending, first.Status)
		expect("a held comment")
		require.NoError(t, a.svc.Approve(moderator(), first.Comment.ID))
		expect("an approval", "Annabel", "First by Ann")

		second := post(a, "Annabel Lee", ann, "Second by Ann", 0)
		require.Equal(t, comments.StatusApproved, second.Status)
		expect("a post", "Annabel", "First by Ann", "Second by Ann")

		texts = append(texts, "Edited by Ann")
		_, err := b.svc.Edit(ctx, second.ManageToken, "Edited by Ann")
		require.NoError(t, err)
		expect("an edit", "Annabel", "First by Ann", "Edited by Ann")

		require.NoError(t, b.svc.Reject(moderator(), first.Comment.ID))
		expect("a rejection", "Annabel", "Edited by Ann")
		require.NoError(t, a.svc.Approve(moderator(), first.Comment.ID))
		expect("an approval", "Annabel", "First by Ann", "Edited by Ann")

		require.NoError(t, a.svc.Delete(ctx, second.ManageToken))
		expect("a delete by its author", "Annabel", "First by Ann")

		post(a, "Annabel Lee", ann, "Third by Ann", 0)
		expect("a post", "Annabel", "First by Ann", "Third by Ann")
		third, err := b.svc.Queue(moderator(), comments.QueueFilter{Status: comments.StatusApproved})
		require.NoError(t, err)
		require.Len(t, third, 2)
		require.NoError(t, b.svc.Remove(moderator(), third[1].ID))
		expect("a moderator's delete", "Annabel", "First by Ann")

		reply := post(b, "Bob", bob, "Reply by Bob", first.Comment.ID)
		require.NoError(t, b.svc.Approve(moderator(), reply.Comment.ID))
		expect("a reply", "Annabel", "First by Ann", "Reply by Bob")

		_, err = a.svc.Erase(ctx, ann)
		require.NoError(t, err)
		expect("an erasure that keeps the text", "First by Ann", "Reply by Bob")

		// Rejected a month ago, the parent of a published reply is purged to a
		// tombstone, which shows.
		require.NoError(t, b.svc.Reject(moderator(), first.Comment.ID))
		expect("a rejection", "Reply by Bob")
		a.clock.Add(31 * 24 * time.Hour)
		_, err = b.svc.Purge(ctx, a.clock.Now())
		require.NoError(t, err)
		expect("a purge", "Reply by Bob", tombstone)

		texts = append(texts, "re-rendered")
		require.NoError(t, a.store.SetHTML(ctx, reply.Comment.ID, "<p>re-rendered</p>"))
		expect("new HTML", "re-rendered", tombstone)

		for _, e := range []*env{a, b} {
			st := e.svc.CacheStats()
			assert.Equal(t, 1, st.Threads, e.kind)
			assert.Greater(t, st.Hits, int64(0), "%s: the cache answered views of the unchanged thread", e.kind)
		}
	})
}

// TestThreadNeverStaleUnderLoad has one process post comment after comment
// while many visitors view the thread from another, each process with its own
// cache (and, on MySQL, its own pool, whose version reads are shared between
// the views arriving together): every view that arrived after a comment was
// posted shows it, as the page and as JSON.
func TestThreadNeverStaleUnderLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		a, b := twoProcesses(t, kind, withModeration(comments.ModerateNone))
		const posts, viewers = 40, 8
		var posted atomic.Int64
		countRE := regexp.MustCompile(`(\d+) comments?</h2>|"count":(\d+)`)
		stop := make(chan struct{})
		var views atomic.Int64
		var wg sync.WaitGroup
		for i := range viewers {
			accept := ""
			if i%2 == 1 {
				accept = "application/json"
			}
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					before := posted.Load()
					page := body(t, b.get(t, "/t/"+topic, accept))
					m := countRE.FindStringSubmatch(page)
					if !assert.NotNil(t, m, "no count in %q", page) {
						return
					}
					n, err := strconv.ParseInt(m[1]+m[2], 10, 64)
					require.NoError(t, err)
					views.Add(1)
					if n < before {
						t.Errorf("%s: a view (%q) arriving after %d comments were posted shows %d", kind, accept, before, n)
						return
					}
				}
			})
		}
		for i := range posts {
			a.post(t, comments.Input{Name: "Ann", Email: ann, Body: fmt.Sprintf("Comment %d", i)})
			posted.Store(int64(i + 1))
			// Some views arrive between one post and the next.
			seen := views.Load()
			require.Eventually(t, func() bool { return views.Load() >= seen+2*viewers }, 10*time.Second, time.Millisecond)
		}
		close(stop)
		wg.Wait()
		t.Logf("%s: %d views while %d comments were posted", kind, views.Load(), posts)
		assert.Contains(t, body(t, b.get(t, "/t/"+topic, "")), fmt.Sprintf("%d comments", posts))
	})
}

// counting counts thread reads, and can hold them until released.
type counting struct {
	comments.Store
	reads atomic.Int64
	hold  chan struct{} // when set, Thread waits for it to close
}

func (c *counting) Thread(ctx context.Context, thread string) ([]comments.Comment, error) {
	c.reads.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.Store.Thread(ctx, thread)
}

func withStore(s comments.Store) option {
	return func(c *comments.Config, _ *comments.HandlerConfig) { c.Store = s }
}

func withCache(bytes int) option {
	return func(c *comments.Config, _ *comments.HandlerConfig) { c.ThreadCache = bytes }
}

// TestThreadCacheBound fills a small cache: it never holds more than its bound,
// drops the thread shown least recently first, and caches no thread larger than
// the bound.
func TestThreadCacheBound(t *testing.T) {
	store := &counting{Store: commentsmem.New()}
	seed := newEnv(t, "mem", withModeration(comments.ModerateNone), withStore(store))
	for i := range 4 {
		seed.post(t, comments.Input{Thread: fmt.Sprint("t", i), Name: "Ann", Email: ann, Body: fmt.Sprint("Comment ", i)})
	}
	seed.post(t, comments.Input{Thread: "big", Name: "Ann", Email: ann, Body: strings.Repeat("word ", 1500)})
	// One thread of one short comment takes the same estimate as any other.
	// Its estimate holds the bytes its page is served from, made on the first view.
	probe := newEnv(t, "mem", withStore(store))
	require.Equal(t, http.StatusOK, probe.get(t, "/t/t0", "").Code)
	one := probe.svc.CacheStats().Bytes
	require.Greater(t, one, int64(0))

	// Room for three, give or take the bytes their compressed pages differ by.
	bound := 3*one + one/4
	e := newEnv(t, "mem", withStore(store), withCache(int(bound)))
	view := func(thread string) int64 {
		t.Helper()
		before := store.reads.Load()
		require.Equal(t, http.StatusOK, e.get(t, "/t/"+thread, "").Code)
		st := e.svc.CacheStats()
		assert.LessOrEqual(t, st.Bytes, bound, "the cache stays within its bound")
		return store.reads.Load() - before
	}
	assert.Equal(t, int64(1), view("t0"))
	assert.Equal(t, int64(0), view("t0"), "an unchanged thread is not read again")
	assert.Equal(t, int64(1), view("t1"))
	assert.Equal(t, int64(1), view("t2"))
	assert.Equal(t, int64(0), view("t0"))
	assert.Equal(t, int64(1), view("t3"), "a fourth thread evicts the least recently shown, t1")
	assert.Equal(t, 3, e.svc.CacheStats().Threads)
	assert.Equal(t, int64(0), view("t0"))
	assert.Equal(t, int64(0), view("t2"))
	assert.Equal(t, int64(1), view("t1"))

	assert.Equal(t, int64(1), view("big"))
	assert.Equal(t, int64(1), view("big"), "a thread larger than the bound is read for every view")
	assert.Equal(t, int64(0), view("t1"), "and evicts nothing")

	off := newEnv(t, "mem", withStore(store), withCache(-1))
	for range 2 {
		before := store.reads.Load()
		require.Equal(t, http.StatusOK, off.get(t, "/t/t0", "").Code)
		assert.Equal(t, int64(1), store.reads.Load()-before, "no cache: every view reads the thread")
	}
	assert.Equal(t, comments.CacheStats{}, off.svc.CacheStats())
}

// TestThreadCacheLoadsOnce has many visitors open a thread that changed at once:
// the store is read once, and every visitor gets the page.
func TestThreadCacheLoadsOnce(t *testing.T) {
	store := &counting{Store: commentsmem.New()}
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), withStore(store))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello."})
	store.hold = make(chan struct{})
	const visitors = 8
	var wg sync.WaitGroup
	for range visitors {
		wg.Go(func() {
			w := e.get(t, "/t/"+topic, "")
			assert.Equal(t, http.StatusOK, w.Code)
			assert.Contains(t, w.Body.String(), "Hello.")
		})
	}
	require.Eventually(t, func() bool {
		st := e.svc.CacheStats()
		return st.Hits+st.Misses == visitors
	}, 5*time.Second, time.Millisecond, "every visitor asked the cache")
	close(store.hold)
	wg.Wait()
	assert.Equal(t, int64(1), store.reads.Load())
}

// TestThreadCacheConcurrent posts, edits and views one thread from many
// goroutines (run it with -race): the last view shows every comment posted.
func TestThreadCacheConcurrent(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				th, err := e.svc.Thread(ctx, topic)
				assert.NoError(t, err)
				if len(th.Comments) > 0 {
					th.Comments[0].Name = "scribbled" // the caller's copy, not the cache's
				}
			}
		})
	}
	var posters sync.WaitGroup
	for i := range 4 {
		posters.Go(func() {
			for j := range 10 {
				p, err := e.svc.Post(ctx, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: fmt.Sprintf("Comment %d-%d", i, j)})
				if !assert.NoError(t, err) {
					return
				}
				_, err = e.svc.Edit(ctx, p.ManageToken, fmt.Sprintf("Edited %d-%d", i, j))
				assert.NoError(t, err)
			}
		})
	}
	posters.Wait()
	close(stop)
	wg.Wait()
	page := body(t, e.get(t, "/t/"+topic, ""))
	assert.Contains(t, page, "40 comments")
	assert.NotContains(t, page, "scribbled")
	for i := range 4 {
		for j := range 10 {
			assert.Contains(t, page, fmt.Sprintf("Edited %d-%d", i, j))
		}
	}
}

// TestThreadCacheHoldsNoAddress checks that what a process caches of a thread is
// only what every visitor sees: no commenter's address.
func TestThreadCacheHoldsNoAddress(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		for i, addr := range []string{ann, bob, cy, dee, eve} {
			e.post(t, comments.Input{Name: fmt.Sprint("Reader ", i), Email: addr, Body: fmt.Sprint("Comment ", i), FollowUp: true})
		}
		e.get(t, "/t/"+topic, "")
		e.get(t, "/t/"+topic, "application/json")
		e.get(t, "/feed/"+topic, "")
		cached := comments.CachedText(e.svc)
		assert.Contains(t, cached, "Comment 4")
		assertNoAddress(t, cached, "the thread cache")
	})
}

// TestThreadCacheSize checks the cache's size estimate for a thread of 1,000
// comments read from MySQL (every string fresh from the driver) against the heap
// the cached thread takes: the bound in Config.ThreadCache must not understate it.
func TestThreadCacheSize(t *testing.T) {
	e := newEnv(t, "mysql", withModeration(comments.ModerateNone))
	seedThread(t, e, "bench", 1000)
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	_, err := e.svc.Atom(ctx, "bench") // fills the cache without a page to hold
	require.NoError(t, err)
	taken := int64(heap()) - int64(before)
	est := e.svc.CacheStats().Bytes
	t.Logf("estimated %d bytes, heap grew %d", est, taken)
	assert.GreaterOrEqual(t, est, taken, "the estimate understates the heap a cached thread takes")
	assert.Less(t, est, 2*taken, "the estimate is far too cautious")
}
