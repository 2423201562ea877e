package tracking_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

func TestTrackerCounts(t *testing.T) {
	res := newResolver(map[string][]string{
		"192.0.2.10":   {"host-10.dsl.Example.NET."},
		"192.0.2.99":   {"host-99.dsl.example.net."},
		"198.51.100.7": {"a.b.example.co.uk."},
		"2001:db8::1":  {"laptop.lan.", "v6.example.org."},
	})
	tr, store := newTracker(t, tracking.TrackerConfig{
		Paths:    []string{"/", "/about", "/blog/{slug}", "/img", "/empty", "/api/data.json", "/range"},
		Resolver: res,
	})
	h := tr.Handler(site())

	for _, x := range []struct{ target, addr, ua string }{
		{"/about", "192.0.2.10:5000", firefox},
		{"/about?utm_source=mail&id=42", "192.0.2.99:5000", firefox}, // same /24, same network
		{"/blog/hello-world?page=2", "198.51.100.7:443", chrome},
		{"/blog/second-post", "[2001:db8::1]:443", safari},
		{"/secret-unlisted-page", "203.0.113.5:1", chrome}, // no reverse DNS
		{"/img", "192.0.2.10:5000", firefox},
		{"/empty", "192.0.2.10:5000", "NCSA_Mosaic/2.0 (Windows 3.1)"},
		{"/api/data.json", "192.0.2.10:5000", chrome},
		{"/missing", "192.0.2.10:5000", firefox},    // 404: not a view
		{"/range", "192.0.2.10:5000", firefox},      // 206: not a view
		{"/about", "66.249.66.1:1", googlebot},      // bot
		{"/about", "192.0.2.10:5000", ""},           // no user agent: bot
		{"/about", "192.0.2.10:5000", "curl/8.5.0"}, // tool: bot
		{"/about", "192.0.2.10:5000", "python-requests/2.31"},
	} {
		get(h, x.target, x.addr, x.ua)
	}
	prefetch := httptest.NewRequest(http.MethodGet, "/about", nil)
	prefetch.Header.Set("User-Agent", chrome)
	prefetch.Header.Set("Sec-Purpose", "prefetch;prerender")
	h.ServeHTTP(httptest.NewRecorder(), prefetch)
	post := httptest.NewRequest(http.MethodPost, "/about", strings.NewReader("x=1"))
	post.Header.Set("User-Agent", firefox)
	h.ServeHTTP(httptest.NewRecorder(), post)
	head := httptest.NewRequest(http.MethodHead, "/about", nil)
	head.Header.Set("User-Agent", firefox)
	h.ServeHTTP(httptest.NewRecorder(), head)

	require.NoError(t, tr.Close(context.Background()))

	assert.Equal(t, map[string]int64{
		"/about": 2, "/blog/{slug}": 2, tracking.Other: 1, "/img": 1, "/empty": 1, "/api/data.json": 1,
	}, totals(t, store, tracking.Paths))
	assert.Equal(t, map[string]int64{
		"example.net": 5, "example.co.uk": 1, "example.org": 1, tracking.Unresolved: 1,
	}, totals(t, store, tracking.Domains))
	assert.Equal(t, map[string]int64{
		"Firefox 128": 3, "Chrome 124": 3, "Safari 17": 1, "NCSA Mosaic 2": 1,
	}, totals(t, store, tracking.Browsers))
	assert.Equal(t, map[string]int64{
		"text/html": 5, "image/png": 1, "application/json": 1, tracking.NoType: 1,
	}, totals(t, store, tracking.MIMETypes))
	assert.Equal(t, map[string]int64{"": 5}, totals(t, store, tracking.Bots))

	assert.Equal(t, 1, res.calls["192.0.2.10"]+res.calls["192.0.2.99"], "one lookup per network")
	assert.Zero(t, res.calls["66.249.66.1"], "a bot's address is not looked up")
}

func TestTrackerHoursAndDays(t *testing.T) {
	clk := &clock{t: time.Date(2025, 5, 1, 23, 30, 0, 0, time.UTC)}
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Now: clk.Now, Resolver: newResolver(nil)})
	h := tr.Handler(site())
	get(h, "/", "192.0.2.1:1", firefox)
	get(h, "/", "192.0.2.1:1", firefox)
	clk.Set(time.Date(2025, 5, 2, 0, 10, 0, 0, time.UTC))
	get(h, "/", "192.0.2.1:1", firefox)
	require.NoError(t, tr.Close(context.Background()))

	paths, err := store.Counts(context.Background(), tracking.Paths, time.Time{}, clk.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	assert.Equal(t, []tracking.Count{
		{Dim: tracking.Paths, Period: tracking.Hour, Start: time.Date(2025, 5, 1, 23, 0, 0, 0, time.UTC), Value: "/", N: 2},
		{Dim: tracking.Paths, Period: tracking.Hour, Start: time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC), Value: "/", N: 1},
	}, paths, "paths are counted per hour")
	browsers, err := store.Counts(context.Background(), tracking.Browsers, time.Time{}, clk.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	assert.Equal(t, []tracking.Count{
		{Dim: tracking.Browsers, Period: tracking.Day, Start: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), Value: "Firefox 128", N: 2},
		{Dim: tracking.Browsers, Period: tracking.Day, Start: time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC), Value: "Firefox 128", N: 1},
	}, browsers, "other dimensions per day")
}

// failingStore fails its first n Adds (fails). With lostAnswer, each of those
// adds its batch and then reports the failure, as a store does whose connection is
// lost while the commit is under way.
type failingStore struct {
	tracking.Store
	fails      atomic.Int32
	lostAnswer bool
}

func (f *failingStore) Add(ctx context.Context, key string, counts []tracking.Count) error {
	fail := f.fails.Add(-1) >= 0
	if fail && !f.lostAnswer {
		return errors.New("database unavailable")
	}
	if err := f.Store.Add(ctx, key, counts); err != nil {
		return err
	}
	if fail {
		return errors.New("invalid connection")
	}
	return nil
}

func TestTrackerFlushKeepsCountsOnFailure(t *testing.T) {
	mem := memstore.New()
	store := &failingStore{Store: mem}
	store.fails.Store(2)
	tr, _ := newTracker(t, tracking.TrackerConfig{Store: store, Paths: []string{"/"}, Resolver: newResolver(nil)})
	h := tr.Handler(site())
	for range 3 {
		get(h, "/", "192.0.2.1:1", firefox)
	}
	require.Error(t, tr.Flush(context.Background()))
	get(h, "/", "192.0.2.1:1", firefox)
	require.Error(t, tr.Flush(context.Background()))
	assert.Empty(t, totals(t, mem, tracking.Paths))
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/": 4}, totals(t, mem, tracking.Paths), "kept across failed flushes, written once")
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/": 4}, totals(t, mem, tracking.Paths), "an empty flush adds nothing")
}

func TestTrackerLogsNoVisitor(t *testing.T) {
	mem := memstore.New()
	store := &failingStore{Store: mem}
	store.fails.Store(1)
	var logs syncBuffer
	tr, _ := newTracker(t, tracking.TrackerConfig{Store: store, Paths: []string{"/"}, FlushEvery: 10 * time.Millisecond,
		Resolver: newResolver(map[string][]string{"192.0.2.77": {"visitor.example.net."}}),
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	get(tr.Handler(site()), "/?email=someone@example.com", "192.0.2.77:4444", firefox)
	require.Eventually(t, func() bool { return totals(t, mem, tracking.Paths)["/"] == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, tr.Close(context.Background()))
	out := logs.String()
	require.Contains(t, out, "flushing page-view counts failed", "the failure was logged")
	for _, secret := range []string{"192.0.2.77", "4444", firefox, "Firefox", "someone@example.com", "email="} {
		assert.NotContains(t, out, secret)
	}
}

// syncBuffer is a bytes.Buffer safe for the flusher's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTrackerFlushesEveryInterval(t *testing.T) {
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: newResolver(nil), FlushEvery: 20 * time.Millisecond})
	get(tr.Handler(site()), "/", "192.0.2.1:1", firefox)
	require.Eventually(t, func() bool { return totals(t, store, tracking.Paths)["/"] == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestTrackerPassesResponsesThrough(t *testing.T) {
	tr, _ := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: newResolver(nil)})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Custom", "kept")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "first ")
		f, ok := w.(http.Flusher)
		require.True(t, ok, "the wrapper is a Flusher")
		f.Flush()
		_, _ = io.WriteString(w, "second")
	})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		bare := httptest.NewRecorder()
		handler.ServeHTTP(bare, httptest.NewRequest(method, "/", nil))
		tracked := httptest.NewRecorder()
		tr.Handler(handler).ServeHTTP(tracked, httptest.NewRequest(method, "/", nil))
		assert.Equal(t, bare.Code, tracked.Code)
		assert.Equal(t, bare.Body.String(), tracked.Body.String())
		assert.Equal(t, bare.Header(), tracked.Header(), "no header added or removed")
		assert.True(t, tracked.Flushed)
		assert.Empty(t, tracked.Header().Values("Set-Cookie"))
	}
}

func TestTrackerServeContentAndMux(t *testing.T) {
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/files/{name}"}, MuxPatterns: true, Resolver: newResolver(nil)})
	mux := http.NewServeMux()
	mux.HandleFunc("/files/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, r.PathValue("name"), time.Time{}, strings.NewReader(strings.Repeat("a,b\n", 1000)))
	})
	mux.HandleFunc("GET /posts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "post")
	})
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()
	for _, p := range []string{"/files/report.csv", "/posts/1", "/posts/2", "/nowhere"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		req.Header.Set("User-Agent", firefox)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if p == "/files/report.csv" {
			require.Len(t, body, 4000, "the file is served whole through the wrapper")
		}
		assert.Empty(t, resp.Header.Values("Set-Cookie"))
	}
	require.NoError(t, tr.Close(context.Background()))
	assert.Equal(t, map[string]int64{"/files/{name}": 1, "/posts/{id}": 2}, totals(t, store, tracking.Paths),
		"a path without a pattern is not found, so not counted")
	assert.Equal(t, map[string]int64{"text/csv": 1, "text/html": 2}, totals(t, store, tracking.MIMETypes))
	assert.Equal(t, map[string]int64{tracking.Unresolved: 3}, totals(t, store, tracking.Domains))
}

func TestTrackerSkipsUpgrades(t *testing.T) {
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/ws", "/"}, Resolver: newResolver(nil)})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: example\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<p>page</p>") })
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()
	for _, p := range []string{"/ws", "/"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		req.Header.Set("User-Agent", firefox)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.NoError(t, tr.Close(context.Background()))
	assert.Equal(t, map[string]int64{"/": 1}, totals(t, store, tracking.Paths), "a hijacked connection is not a page view")

	switching := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusSwitchingProtocols) })
	get(tr.Handler(switching), "/", "192.0.2.1:1", firefox)
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/": 1}, totals(t, store, tracking.Paths), "nor a 101")
}

func TestTrackerTrustedHeader(t *testing.T) {
	res := newResolver(map[string][]string{"198.51.100.7": {"proxy.example.com."}, "203.0.113.9": {"client.example.org."}})
	for _, tc := range []struct {
		name, header string
		want         string
	}{
		{"Ignored", "", "example.com"},
		{"Trusted", "x-forwarded-for", "example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: res, TrustedHeader: tc.header})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "198.51.100.7:1234"
			r.Header.Set("User-Agent", firefox)
			r.Header.Set("X-Forwarded-For", "10.9.9.9, 203.0.113.9")
			tr.Handler(site()).ServeHTTP(httptest.NewRecorder(), r)
			require.NoError(t, tr.Close(context.Background()))
			assert.Equal(t, map[string]int64{tc.want: 1}, totals(t, store, tracking.Domains))
		})
	}
}

func TestTrackerLookupTimeout(t *testing.T) {
	res := newResolver(map[string][]string{"192.0.2.1": {"slow.example.net."}})
	res.delay = time.Second
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: res, ResolveTimeout: 30 * time.Millisecond})
	h := tr.Handler(site())
	start := time.Now()
	get(h, "/", "192.0.2.1:1", firefox)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "the lookup is not on the request path")
	require.Eventually(t, func() bool { return res.lookups() == 1 }, time.Second, 5*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	get(h, "/", "192.0.2.1:1", firefox) // cached as unresolved
	require.NoError(t, tr.Close(context.Background()))
	assert.Equal(t, map[string]int64{tracking.Unresolved: 2}, totals(t, store, tracking.Domains))
	assert.Equal(t, 1, res.lookups())
}

func TestTrackerCloseCountsPendingLookups(t *testing.T) {
	res := newResolver(map[string][]string{})
	res.delay = time.Hour
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: res, ResolveTimeout: time.Hour})
	h := tr.Handler(site())
	for i := range 20 {
		get(h, "/", netip.AddrFrom4([4]byte{192, 0, byte(i), 1}).String()+":1", firefox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, tr.Close(ctx))
	assert.Less(t, time.Since(start), 2*time.Second, "Close is bounded by its context")
	assert.Equal(t, map[string]int64{tracking.Unresolved: 20}, totals(t, store, tracking.Domains), "every hit counted once")
	assert.Equal(t, map[string]int64{"/": 20}, totals(t, store, tracking.Paths))
}

func TestTrackerConcurrentHits(t *testing.T) {
	names := map[string][]string{}
	for i := range 50 {
		names[netip.AddrFrom4([4]byte{198, 51, byte(i), 1}).String()] = []string{"h.isp" + string(rune('a'+i%5)) + ".net."}
	}
	res := newResolver(names)
	res.delay = 2 * time.Millisecond
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/", "/about"}, Resolver: res, FlushEvery: 5 * time.Millisecond})
	h := tr.Handler(site())
	var wg sync.WaitGroup
	const workers, each = 8, 200
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				addr := netip.AddrFrom4([4]byte{198, 51, byte((w*each + i) % 50), 1}).String() + ":1"
				get(h, []string{"/", "/about"}[i%2], addr, []string{firefox, chrome}[w%2])
			}
		})
	}
	wg.Wait()
	require.NoError(t, tr.Close(context.Background()))
	for _, d := range []tracking.Dimension{tracking.Paths, tracking.Domains, tracking.Browsers, tracking.MIMETypes} {
		var n int64
		for _, v := range totals(t, store, d) {
			n += v
		}
		assert.Equal(t, int64(workers*each), n, "every hit counted once in %s", d)
	}
	for v := range totals(t, store, tracking.Domains) {
		assert.Contains(t, []string{"ispa.net", "ispb.net", "ispc.net", "ispd.net", "ispe.net"}, v)
	}
}

func TestNewTrackerErrors(t *testing.T) {
	store := memstore.New()
	for _, tc := range []struct {
		name string
		cfg  tracking.TrackerConfig
		want string
	}{
		{"ErrStoreRequired", tracking.TrackerConfig{}, "Store"},
		{"ErrPathRelative", tracking.TrackerConfig{Store: store, Paths: []string{"about"}}, "Paths"},
		{"ErrPathQuery", tracking.TrackerConfig{Store: store, Paths: []string{"/search?q=x"}}, "Paths"},
		{"ErrPathTwice", tracking.TrackerConfig{Store: store, Paths: []string{"/a", "/a"}}, "Paths"},
		{"ErrWildcardPartial", tracking.TrackerConfig{Store: store, Paths: []string{"/blog/post-{id}"}}, "Paths"},
		{"ErrWildcardName", tracking.TrackerConfig{Store: store, Paths: []string{"/blog/{}"}}, "Paths"},
		{"ErrRestNotLast", tracking.TrackerConfig{Store: store, Paths: []string{"/docs/{rest...}/x"}}, "Paths"},
		{"ErrPathTooLong", tracking.TrackerConfig{Store: store, Paths: []string{"/" + strings.Repeat("a", 300)}}, "Paths"},
		{"ErrPathControl", tracking.TrackerConfig{Store: store, Paths: []string{"/a\tb"}}, "Paths"},
		{"ErrNegativeFlush", tracking.TrackerConfig{Store: store, FlushEvery: -time.Second}, "FlushEvery"},
		{"ErrNegativeTimeout", tracking.TrackerConfig{Store: store, ResolveTimeout: -time.Second}, "ResolveTimeout"},
		{"ErrNegativeCache", tracking.TrackerConfig{Store: store, CacheSize: -1}, "CacheSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tracking.NewTracker(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, tr)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestTrackerParsesUserAgentsInTheBackground: a user agent not seen before is parsed
// off the request path, and its hit is counted by the next Flush all the same, as a
// view or as a bot.
func TestTrackerParsesUserAgentsInTheBackground(t *testing.T) {
	tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: newResolver(nil)})
	h := tr.Handler(site())
	for v := 100; v < 150; v++ {
		get(h, "/", "192.0.2.1:1", fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", v, v))
		get(h, "/", "192.0.2.1:1", fmt.Sprintf("ExampleBot/%d.0 (+https://bot.example)", v))
	}
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/": 50}, totals(t, store, tracking.Paths))
	assert.Equal(t, map[string]int64{"": 50}, totals(t, store, tracking.Bots))
	browsers := totals(t, store, tracking.Browsers)
	assert.Len(t, browsers, 50)
	assert.EqualValues(t, 1, browsers["Firefox 128"])
}

// TestTrackerByPath counts the posts of a ByPath pattern one by one through the
// middleware, with the site's own mux, and a post the site does not have not at all.
func TestTrackerByPath(t *testing.T) {
	tr, store := newTracker(t, tracking.TrackerConfig{MuxPatterns: true, ByPath: []string{"/blog/{slug}"}, Resolver: newResolver(nil)})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /blog/{slug}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("slug") == "missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("<p>post</p>"))
	})
	mux.HandleFunc("GET /about", func(w http.ResponseWriter, r *http.Request) {})
	// "{$}" ends a pattern that matches only the path itself: it counts as the path.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {})
	h := tr.Handler(mux)
	for _, p := range []string{"/blog/one", "/blog/two", "/blog/one", "/blog/missing", "/about", "/", "/docs/"} {
		get(h, p, "192.0.2.1:1", firefox)
	}
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/blog/one": 2, "/blog/two": 1, "/about": 1, "/": 1, "/docs/": 1}, totals(t, store, tracking.Paths))
}

func TestTrackerFlushCountsOnceAfterALostAnswer(t *testing.T) {
	mem := memstore.New()
	store := &failingStore{Store: mem, lostAnswer: true}
	store.fails.Store(1)
	tr, _ := newTracker(t, tracking.TrackerConfig{Store: store, Paths: []string{"/"}, Resolver: newResolver(nil)})
	h := tr.Handler(site())
	for range 3 {
		get(h, "/", "192.0.2.1:1", firefox)
	}
	require.Error(t, tr.Flush(context.Background()))
	get(h, "/", "192.0.2.1:1", firefox)
	require.NoError(t, tr.Flush(context.Background()))
	assert.Equal(t, map[string]int64{"/": 4}, totals(t, mem, tracking.Paths), "the batch whose answer was lost is counted once")
}
