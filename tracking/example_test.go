package tracking_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

// staticResolver stands in for net.DefaultResolver.
type staticResolver struct{}

func (staticResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return []string{"dsl-7.pool.example.net."}, nil
}

// A site counts page views with the middleware and reads them back in a report.
func ExampleTracker() {
	ctx := context.Background()
	store := memstore.New() // mysqlstore.New(db) when several processes share the counts

	tracker, err := tracking.NewTracker(tracking.TrackerConfig{
		Store:    store,
		Paths:    []string{"/", "/blog/{slug}"},
		Resolver: staticResolver{},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<p>Hello</p>")
	})
	site := tracker.Handler(mux)

	for i := range 6 {
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/blog/post-%d?ref=mail", i%2), nil)
		r.RemoteAddr = "192.0.2.1:49152"
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		site.ServeHTTP(httptest.NewRecorder(), r)
	}
	if err := tracker.Close(ctx); err != nil { // after http.Server.Shutdown
		panic(err)
	}

	svc, err := tracking.New(tracking.Config{Store: store})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	rep, err := svc.Report(ctx, tracking.Query{From: now.AddDate(0, 0, -1), To: now.AddDate(0, 0, 1)})
	if err != nil {
		panic(err)
	}
	fmt.Println("views:", rep.Views)
	for _, rows := range [][]tracking.Row{rep.Paths, rep.Domains, rep.Browsers, rep.MIMETypes} {
		fmt.Println(rows[0].Value, rows[0].Views)
	}
	// Output:
	// views: 6
	// /blog/{slug} 6
	// example.net 6
	// Firefox 128 6
	// text/html 6
}

// The reports are mounted where the host's staff pages are, under a prefix.
func ExampleNewHandler() {
	store := memstore.New()
	svc, err := tracking.New(tracking.Config{Store: store})
	if err != nil {
		panic(err)
	}
	// Staff only: the host's own authentication wraps it, or HandlerConfig.Role.
	h, err := tracking.NewHandler(svc, tracking.HandlerConfig{BaseURL: "/stats"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/stats/", h)

	for _, target := range []string{"/stats/", "/stats/api/report?from=2025-05-01&to=2025-05-31", "/stats/api/report?top=1000"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// 200 text/html; charset=utf-8
	// 200 application/json; charset=utf-8
	// 400 application/json; charset=utf-8
}
