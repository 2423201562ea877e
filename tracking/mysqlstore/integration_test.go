package mysqlstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/mysqlstore"
)

// tableResolver answers reverse lookups from a table.
type tableResolver map[string][]string

func (r tableResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if names, ok := r[addr]; ok {
		return names, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

type visitor struct {
	addr   string // as the proxy reports it
	domain string // what it must count as
}

var visitors = []visitor{
	{"192.0.2.10", "example.net"},
	{"192.0.2.11", "example.net"},
	{"198.51.100.20", "example.co.uk"},
	{"203.0.113.30", tracking.Unresolved},
	{"2001:db8:1::40", "example.org"},
	{"2001:db8:2::41", tracking.Unresolved}, // a home network's name is no domain
}

var resolver = tableResolver{
	"192.0.2.10":     {"dsl-10.pool.example.net."},
	"192.0.2.11":     {"dsl-11.pool.example.net."},
	"198.51.100.20":  {"host.shop.example.co.uk."},
	"2001:db8:1::40": {"v6.example.org."},
	"2001:db8:2::41": {"jane-doe-laptop.lan."},
}

type agent struct {
	ua, browser string // browser "" for a bot
}

var agents = []agent{
	{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128"},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0 Visitor-7F3A9C", "Firefox 115"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome 124"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari 17"},
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""},
}

type page struct {
	target, path, mime string
}

var pages = []page{
	{"/", "/", "text/html"},
	{"/about", "/about", "text/html"},
	{"/blog/first-post?utm_source=Visitor-7F3A9C&email=jane%40example.com", "/blog/{slug}", "text/html"},
	{"/blog/second", "/blog/{slug}", "text/html"},
	{"/account/jane-doe/12345", tracking.Other, "text/html"},
	{"/docs/guide/install.txt", "/docs/{rest...}", "text/plain"},
}

func twoProcesses(t *testing.T) (dsn string, dbs [2]*sqlx.DB) {
	t.Helper()
	dsn = mysqltest.NewDSN(t)
	for i := range dbs {
		db, err := mysqldb.Open(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = mysqlstore.New(db).Migrate(context.Background()) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	return dsn, dbs
}

func site() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/docs/") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		_, _ = io.WriteString(w, "<p>page</p>")
	})
}

// TestTwoProcessesCountExactlyAndHoldNoVisitor sends known hits through two Trackers,
// each with its own connection pool, on one database: every count is exact after
// Close, and no table row, log line, report or response holds an address or a user
// agent, or sets a cookie.
func TestTwoProcessesCountExactlyAndHoldNoVisitor(t *testing.T) {
	_, dbs := twoProcesses(t)
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var servers [2]*httptest.Server
	var trackers [2]*tracking.Tracker
	for i, db := range dbs {
		tr, err := tracking.NewTracker(tracking.TrackerConfig{
			Store:         mysqlstore.New(db),
			Logger:        logger,
			Paths:         []string{"/", "/about", "/blog/{slug}", "/docs/{rest...}"},
			TrustedHeader: "X-Forwarded-For",
			Resolver:      resolver,
			FlushEvery:    50 * time.Millisecond, // flushes run while hits arrive
		})
		require.NoError(t, err)
		trackers[i] = tr
		servers[i] = httptest.NewServer(tr.Handler(site()))
		defer servers[i].Close()
	}

	const hits = 3000
	want := map[tracking.Dimension]map[string]int64{}
	for _, d := range tracking.Dimensions() {
		want[d] = map[string]int64{}
	}
	for i := range hits {
		v, a, p := visitors[i%len(visitors)], agents[(i/3)%len(agents)], pages[(i/7)%len(pages)]
		if a.browser == "" {
			want[tracking.Bots][""]++
			continue
		}
		want[tracking.Paths][p.path]++
		want[tracking.Domains][v.domain]++
		want[tracking.Browsers][a.browser]++
		want[tracking.MIMETypes][p.mime]++
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var cookies, failures sync.Map
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < hits; i += workers {
				v, a, p := visitors[i%len(visitors)], agents[(i/3)%len(agents)], pages[(i/7)%len(pages)]
				req, _ := http.NewRequest(http.MethodGet, servers[i%2].URL+p.target, nil)
				req.Header.Set("User-Agent", a.ua)
				req.Header.Set("X-Forwarded-For", v.addr)
				resp, err := client.Do(req)
				if err != nil {
					failures.Store(i, err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Store(i, resp.Status)
				}
				if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
					cookies.Store(i, c)
				}
			}
		})
	}
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("hit %v: %v", k, v); return true })
	cookies.Range(func(k, v any) bool { t.Errorf("hit %v set a cookie: %v", k, v); return true })

	for _, tr := range trackers {
		require.NoError(t, tr.Close(context.Background()))
	}

	for _, d := range tracking.Dimensions() {
		got := sumByValue(t, dbs[0], d)
		assert.Equal(t, want[d], got, "dimension %s: every count exact across two processes", d)
	}

	// The report agrees, and so does each dimension with the others.
	svc, err := tracking.New(tracking.Config{Store: mysqlstore.New(dbs[1])})
	require.NoError(t, err)
	now := time.Now()
	rep, err := svc.Report(context.Background(), tracking.Query{From: now.AddDate(0, 0, -1), To: now.AddDate(0, 0, 1), Top: 100})
	require.NoError(t, err)
	var total int64
	for _, n := range want[tracking.Paths] {
		total += n
	}
	assert.Equal(t, total, rep.Views)
	assert.Equal(t, want[tracking.Bots][""], rep.Bots)
	handler, err := tracking.NewHandler(svc, tracking.HandlerConfig{})
	require.NoError(t, err)
	var outputs []string
	for _, target := range []string{"/api/report", "/", "/api/page?path=%2Fblog%2F%7Bslug%7D"} {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		require.Equal(t, http.StatusOK, w.Code, target)
		assert.Empty(t, w.Header().Values("Set-Cookie"))
		outputs = append(outputs, w.Body.String())
	}

	// Nothing that could name a visitor, in any table, log line or report.
	secrets := []string{"Visitor-7F3A9C", "jane", "/account/", "utm_source"}
	for _, v := range visitors {
		secrets = append(secrets, v.addr)
	}
	for _, a := range agents {
		secrets = append(secrets, a.ua)
	}
	rows := scanTables(t, dbs[0])
	for _, secret := range secrets {
		for _, row := range rows {
			assert.NotContains(t, row, secret, "a tracking table holds %q", secret)
		}
		assert.NotContains(t, logs.String(), secret, "a log line holds %q", secret)
		for _, out := range outputs {
			assert.NotContains(t, out, secret, "a report holds %q", secret)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func sumByValue(t *testing.T, db *sqlx.DB, d tracking.Dimension) map[string]int64 {
	t.Helper()
	counts, err := mysqlstore.New(db).Counts(context.Background(), d, time.Time{}, time.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	m := map[string]int64{}
	for _, c := range counts {
		m[c.Value] += c.N
	}
	return m
}

// scanTables returns every row of every tracking table, each column cast to text,
// found through information_schema so a column added later is scanned too.
func scanTables(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var cols []struct {
		Table  string `db:"table_name"`
		Column string `db:"column_name"`
	}
	require.NoError(t, db.Select(&cols, `SELECT table_name AS table_name, column_name AS column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name LIKE 'tracking%' ORDER BY table_name, ordinal_position`))
	byTable := map[string][]string{}
	for _, c := range cols {
		byTable[c.Table] = append(byTable[c.Table], "COALESCE(CAST(`"+c.Column+"` AS CHAR), '')")
	}
	require.Contains(t, byTable, "tracking_paths")
	require.Contains(t, byTable, "tracking_domains")
	require.Contains(t, byTable, "tracking_browsers")
	require.Contains(t, byTable, "tracking_mime_types")
	require.Contains(t, byTable, "tracking_bots")
	var out []string
	for table, exprs := range byTable {
		var rows []string
		require.NoError(t, db.Select(&rows, "SELECT CONCAT_WS(' | ', "+strings.Join(exprs, ", ")+") FROM `"+table+"`"))
		out = append(out, rows...)
	}
	require.GreaterOrEqual(t, len(out), 16, "the scan read the counters")
	t.Logf("scanned %d rows in %d tables, e.g. %s", len(out), len(byTable), fmt.Sprint(out[:3]))
	return out
}
