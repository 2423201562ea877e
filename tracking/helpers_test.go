package tracking_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

// User agents of real browsers and bots.
const (
	firefox   = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	safari    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// fakeResolver answers reverse lookups from a table; an address it does not know has
// no name.
type fakeResolver struct {
	mu    sync.Mutex
	names map[string][]string
	calls map[string]int
	delay time.Duration
}

func newResolver(names map[string][]string) *fakeResolver {
	return &fakeResolver{names: names, calls: map[string]int{}}
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	f.mu.Lock()
	f.calls[addr]++
	names, ok := f.names[addr]
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}
	return names, nil
}

func (f *fakeResolver) lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// totals returns a dimension's views per value over all time.
func totals(t *testing.T, s tracking.Store, dim tracking.Dimension) map[string]int64 {
	t.Helper()
	counts, err := s.Counts(context.Background(), dim, time.Time{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	m := map[string]int64{}
	for _, c := range counts {
		m[c.Value] += c.N
	}
	return m
}

// get sends a GET for target through h from addr with the user agent ua.
func get(h http.Handler, target, addr, ua string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = addr
	if ua != "" {
		r.Header.Set("User-Agent", ua)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// site is a small site: pages, an image without a Content-Type, an empty page, a
// missing page.
func site() http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><p>hello</p>"))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		page(w, r)
	})
	mux.HandleFunc("/img", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/range", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.WriteHeader(http.StatusPartialContent)
	})
	mux.HandleFunc("/api/data.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "Application/JSON ; charset=utf-8")
		_, _ = w.Write([]byte(`{}`))
	})
	return mux
}

func newTracker(t *testing.T, cfg tracking.TrackerConfig) (*tracking.Tracker, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	if cfg.Store == nil {
		cfg.Store = store
	}
	tr, err := tracking.NewTracker(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr, store
}
