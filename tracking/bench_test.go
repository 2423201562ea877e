package tracking_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/medama-io/go-useragent"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

// discardWriter is a ResponseWriter that allocates nothing, so the benchmarks measure
// the handler and the middleware, not the recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

var (
	htmlType = []string{"text/html; charset=utf-8"}
	pageBody = []byte("<!doctype html><title>Hello</title><p>Hello, world.</p>")
)

// page is the bare handler: as cheap as a handler can be, so the middleware's cost
// shows at its largest.
var page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = htmlType
	_, _ = w.Write(pageBody)
})

// benchRequests are requests from many visitors: 64 networks, four browsers, three
// kinds of path.
func benchRequests() []*http.Request {
	uas := []string{firefox, chrome, safari, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"}
	paths := []string{"/", "/blog/hello-world?utm_source=news", "/about"}
	var reqs []*http.Request
	for i := range 256 {
		r, _ := http.NewRequest(http.MethodGet, "http://example.com"+paths[i%len(paths)], nil)
		r.RemoteAddr = netip.AddrFrom4([4]byte{198, 51, byte(i % 64), byte(i)}).String() + ":40000"
		r.Header.Set("User-Agent", uas[i%len(uas)])
		r.Header.Set("Accept", "text/html")
		reqs = append(reqs, r)
	}
	return reqs
}

type benchResolver struct{}

func (benchResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return []string{"pool-" + addr + ".isp.example.net."}, nil
}

// BenchmarkMiddleware measures the counting path against the bare handler in the same
// run: Bare is the handler alone, Tracked the handler behind the middleware, with every
// visitor's network already resolved (the steady state).
func BenchmarkMiddleware(b *testing.B) {
	reqs := benchRequests()
	tr, err := tracking.NewTracker(tracking.TrackerConfig{
		Store:    memstore.New(),
		Paths:    []string{"/", "/about", "/blog/{slug}"},
		Resolver: benchResolver{},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close(context.Background())
	tracked := tr.Handler(page)
	w := &discardWriter{h: http.Header{}}
	for _, r := range reqs {
		tracked.ServeHTTP(w, r)
	}
	time.Sleep(100 * time.Millisecond) // the lookups settle

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"Bare", page}, {"Tracked", tracked}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				bc.h.ServeHTTP(w, reqs[i&255])
				i++
			}
		})
		b.Run(bc.name+"Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				i := 0
				for pb.Next() {
					bc.h.ServeHTTP(w, reqs[i&255])
					i++
				}
			})
		})
	}
}

// TestMiddlewareAllocations holds the counting path to the benchmark's promise: one
// allocation (the response-writer wrapper) per request, in the steady state.
func TestMiddlewareAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need warm caches")
	}
	reqs := benchRequests()
	tr, err := tracking.NewTracker(tracking.TrackerConfig{
		Store: memstore.New(), Paths: []string{"/", "/about", "/blog/{slug}"}, Resolver: benchResolver{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	h := tr.Handler(page)
	w := &discardWriter{h: http.Header{}}
	for _, r := range reqs {
		h.ServeHTTP(w, r)
	}
	time.Sleep(100 * time.Millisecond)
	for _, r := range reqs {
		h.ServeHTTP(w, r)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		h.ServeHTTP(w, reqs[i&255])
		i++
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per request, want 1 (the wrapper)", allocs)
	}
}

// BenchmarkClassify compares the parsers on the shared corpora (see corpus_test.go):
// the cost of one distinct string (parsed without cache, as the classifier goroutine
// does once per string), the cost of a remembered one, and the accuracy figures of
// TestClassifyCorpora as metrics: family-% and major-% of the browser strings,
// bots-% of the browser strings counted as bots, human-% of the crawler instances
// counted as page views.
func BenchmarkClassify(b *testing.B) {
	cases, crawlers := loadCorpora(b)
	var uas []string
	for _, c := range cases {
		uas = append(uas, c.UA)
	}
	uas = append(uas, crawlers...)
	report := func(b *testing.B, f corpusFigures) {
		b.ReportMetric(pct(f.familyOK, f.browsers), "family-%")
		b.ReportMetric(pct(f.majorOK, f.familyOK), "major-%")
		b.ReportMetric(pct(f.browserBots, f.browsers), "bots-%")
		b.ReportMetric(pct(f.crawlerHuman, f.crawlers), "human-%")
	}
	b.Run("uap-go", func(b *testing.B) {
		c := tracking.NewClassifier()
		f := measure(cases, crawlers, c.Parse)
		i := 0
		for b.Loop() {
			c.Parse(uas[i%len(uas)])
			i++
		}
		report(b, f)
	})
	b.Run("go-useragent", func(b *testing.B) {
		p := useragent.NewParser()
		f := measure(cases, crawlers, func(ua string) (string, bool) { return goUserAgentLabel(p, ua) })
		i := 0
		for b.Loop() {
			goUserAgentLabel(p, uas[i%len(uas)])
			i++
		}
		report(b, f)
	})
	b.Run("cached", func(b *testing.B) {
		c := tracking.NewClassifier()
		for _, ua := range uas[:256] {
			c.Classify(ua)
		}
		i := 0
		for b.Loop() {
			c.Classify(uas[i&255])
			i++
		}
	})
}

// goUserAgentLabel is the label tracking stored with go-useragent before issue 16:
// its family and major version, or a bot by its own judgement or by a token.
func goUserAgentLabel(p *useragent.Parser, ua string) (string, bool) {
	if len(ua) > 1024 || strings.TrimSpace(ua) == "" {
		return "", true
	}
	a := p.Parse(ua)
	lower := strings.ToLower(ua)
	for _, t := range []string{"spider", "crawl", "python", "wget", "scrapy", "libwww", "httpclient", "http-client", "+http", "headless", "lighthouse", "monitor", "preview", "fetch"} {
		if strings.Contains(lower, t) {
			return "", true
		}
	}
	if a.IsBot() {
		return "", true
	}
	if a.Browser() == "" {
		return tracking.Unknown, false
	}
	label := string(a.Browser())
	if v, _, _ := strings.Cut(a.BrowserVersion(), "."); v != "" && len(v) <= 3 && strings.Trim(v, "0123456789") == "" {
		label += " " + strings.TrimLeft(v, "0")
	}
	return label, false
}
