package mysqlstore_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentkit/consentkit/internal/httpload"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/mysqlstore"
)

// poolResolver gives every address a name in one of a few ISPs' domains.
type poolResolver struct{}

func (poolResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return []string{"pool-" + strings.NewReplacer(".", "-", ":", "-").Replace(addr) + ".isp" + strconv.Itoa(len(addr)%7) + ".example"}, nil
}

// BenchmarkLoad serves one page with and without the middleware, in alternating
// slices of the same run, to 32 keep-alive connections from a load generator in a
// child process (see TestMain), on 127.0.0.1 only. It reports both throughputs and their ratio, the hits
// persisted to MySQL (which must equal the hits sent), hits persisted per second, and
// the process's memory. Run it alone:
//
//	go test -run '^$' -bench BenchmarkLoad -benchtime=1x ./tracking/mysqlstore/
//
// CONSENTKIT_LOAD_SLICE (default 1s) and CONSENTKIT_LOAD_ROUNDS (default 6) bound it;
// CONSENTKIT_LOAD_WRK=1 uses wrk as the generator instead. Hits sent are what the
// server answered (with the Go generator, also what the generator counted).
func BenchmarkLoad(b *testing.B) {
	slice, rounds := time.Second, 6
	if v, err := time.ParseDuration(os.Getenv("CONSENTKIT_LOAD_SLICE")); err == nil && v > 0 {
		slice = v
	}
	if v, err := strconv.Atoi(os.Getenv("CONSENTKIT_LOAD_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	const conns = 32
	db := mysqltest.New(b)
	store := mysqlstore.New(db)
	if err := store.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	tr, err := tracking.NewTracker(tracking.TrackerConfig{
		Store:         store,
		Paths:         []string{"/", "/about", "/blog/{slug}", "/docs/{rest...}"},
		TrustedHeader: "X-Forwarded-For",
		Resolver:      poolResolver{},
	})
	if err != nil {
		b.Fatal(err)
	}
	// What the servers answered, counted on their side: with wrk, which stops without
	// waiting for the answers in flight, this is what was sent.
	var bareServed, trackedServed atomic.Int64
	bare, stopBare := serve(b, served(&bareServed, site()))
	tracked, stopTracked := serve(b, served(&trackedServed, tr.Handler(site())))
	generator, name := loadFromProcess, "go"
	if os.Getenv("CONSENTKIT_LOAD_WRK") != "" {
		generator, name = loadFromWrk, "wrk"
	}

	b.ResetTimer()
	var bareHits, trackedHits int64
	var bareTime, trackedTime time.Duration
	for range rounds {
		n, d, err := generator(bare, conns, slice)
		if err != nil {
			b.Fatal(err)
		}
		bareHits, bareTime = bareHits+n, bareTime+d
		n, d, err = generator(tracked, conns, slice)
		if err != nil {
			b.Fatal(err)
		}
		trackedHits, trackedTime = trackedHits+n, trackedTime+d
	}
	b.StopTimer()
	rss, peak := procMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	// As a host would: stop serving (wrk leaves requests in flight), then Close.
	stopBare()
	stopTracked()
	if err := tr.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	var persisted, bots int64
	if err := db.Get(&persisted, `SELECT COALESCE(SUM(views), 0) FROM tracking_paths`); err != nil {
		b.Fatal(err)
	}
	if err := db.Get(&bots, `SELECT COALESCE(SUM(views), 0) FROM tracking_bots`); err != nil {
		b.Fatal(err)
	}
	if name == "go" && (trackedServed.Load() != trackedHits || bareServed.Load() != bareHits) {
		b.Errorf("the servers answered %d and %d requests, the generator counted %d and %d", bareServed.Load(), trackedServed.Load(), bareHits, trackedHits)
	}
	trackedHits, bareHits = trackedServed.Load(), bareServed.Load()
	if persisted != trackedHits || bots != 0 {
		b.Errorf("persisted %d page views and %d bots, want %d and 0: every hit sent, once", persisted, bots, trackedHits)
	}
	for _, table := range []string{"tracking_domains", "tracking_browsers", "tracking_mime_types"} {
		var n int64
		if err := db.Get(&n, `SELECT COALESCE(SUM(views), 0) FROM `+table); err != nil {
			b.Fatal(err)
		}
		if n != trackedHits {
			b.Errorf("%s holds %d views, want %d", table, n, trackedHits)
		}
	}

	bareRate := float64(bareHits) / bareTime.Seconds()
	trackedRate := float64(trackedHits) / trackedTime.Seconds()
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(trackedRate, "tracked-req/s")
	b.ReportMetric(trackedRate/bareRate, "ratio")
	b.ReportMetric(float64(persisted)/trackedTime.Seconds(), "persisted-hits/s")
	b.ReportMetric(float64(rss)/(1<<20), "server-rss-MB")
	b.ReportMetric(float64(peak)/(1<<20), "server-peak-rss-MB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "server-heap-MB")
	b.Logf("%s generator: bare %d hits in %v; tracked %d hits in %v; persisted %d (bots %d); rss %d MiB (peak %d MiB), heap in use %d MiB, sys %d MiB",
		name, bareHits, bareTime, trackedHits, trackedTime, persisted, bots, rss>>20, peak>>20, ms.HeapInuse>>20, ms.Sys>>20)
}

// The load generator runs in a process of its own, this test binary started again
// with CONSENTKIT_LOADGEN set, so that it takes no CPU from the server's process and
// the memory measured is the server's.
func TestMain(m *testing.M) {
	if addr := os.Getenv("CONSENTKIT_LOADGEN"); addr != "" {
		conns, _ := strconv.Atoi(os.Getenv("CONSENTKIT_LOADGEN_CONNS"))
		d, _ := time.ParseDuration(os.Getenv("CONSENTKIT_LOADGEN_FOR"))
		n, took, err := load(addr, conns, d, loadRequests())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(n, took.Nanoseconds())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loadFromProcess runs the load generator against addr (127.0.0.1 only) in a child
// process for about d.
func loadFromProcess(addr string, conns int, d time.Duration) (int64, time.Duration, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return 0, 0, fmt.Errorf("load runs against 127.0.0.1 only, not %s", addr)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONSENTKIT_LOADGEN="+addr, "CONSENTKIT_LOADGEN_CONNS="+strconv.Itoa(conns), "CONSENTKIT_LOADGEN_FOR="+d.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("load generator: %w", err)
	}
	var n, ns int64
	if _, err := fmt.Sscan(string(out), &n, &ns); err != nil {
		return 0, 0, fmt.Errorf("load generator said %q: %w", out, err)
	}
	return n, time.Duration(ns), nil
}

func served(n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		n.Add(1)
	})
}

// wrkScript sends the same 512 visitors' requests as loadRequests.
const wrkScript = `
local reqs, i = {}, 0
init = function(args)
  local uas = {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}
  local paths = {"/", "/about", "/blog/hello-world?utm_source=feed", "/docs/guide/install", "/unlisted"}
  for n = 0, 511 do
    local addr = string.format("198.%d.%d.%d", 18 + n % 2, n % 64, n % 251)
    reqs[n] = wrk.format("GET", paths[n % #paths + 1], {["User-Agent"] = uas[n % #uas + 1],
      ["Accept"] = "text/html", ["Accept-Language"] = "en", ["X-Forwarded-For"] = addr})
  end
end
request = function()
  i = (i + 1) % 512
  return reqs[i]
end
`

// loadFromWrk runs wrk against addr (127.0.0.1 only) for about d and returns the
// requests it reports.
func loadFromWrk(addr string, conns int, d time.Duration) (int64, time.Duration, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return 0, 0, fmt.Errorf("load runs against 127.0.0.1 only, not %s", addr)
	}
	script, err := os.CreateTemp("", "consentkit-wrk-*.lua")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkScript); err != nil {
		return 0, 0, err
	}
	script.Close()
	start := time.Now()
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", script.Name(), "http://"+addr+"/").CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %w: %s", err, out)
	}
	var n int64
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] == "requests" && f[2] == "in" {
			n, _ = strconv.ParseInt(f[0], 10, 64)
			secs, _ := time.ParseDuration(strings.TrimSuffix(f[3], ","))
			if secs > 0 {
				took = secs
			}
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("wrk reported no requests: %s", out)
	}
	return n, took, nil
}

// serve serves h on 127.0.0.1 and returns its address and a function that stops it,
// waiting for the requests in flight.
func serve(b *testing.B, h http.Handler) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				b.Error(err)
			}
		})
	}
	b.Cleanup(stop)
	return ln.Addr().String(), stop
}

// loadRequests are raw requests from 512 visitors over 128 networks, several
// browsers and pages.
func loadRequests() [][]byte {
	uas := []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	}
	paths := []string{"/", "/about", "/blog/hello-world?utm_source=feed", "/docs/guide/install", "/unlisted"}
	var reqs [][]byte
	for i := range 512 {
		addr := fmt.Sprintf("198.%d.%d.%d", 18+i%2, i%64, i%251)
		reqs = append(reqs, []byte("GET "+paths[i%len(paths)]+" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: "+uas[i%len(uas)]+
			"\r\nAccept: text/html\r\nAccept-Language: en\r\nX-Forwarded-For: "+addr+"\r\n\r\n"))
	}
	return reqs
}

// load keeps conns keep-alive connections busy for about d and returns the
// responses completed (each a 200 without Set-Cookie) and the time taken.
func load(addr string, conns int, d time.Duration, reqs [][]byte) (int64, time.Duration, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	deadline := start.Add(d)
	for c := range conns {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(deadline.Add(10 * time.Second))
			rd := bufio.NewReaderSize(conn, 4096)
			for i := c; time.Now().Before(deadline); i += conns {
				if _, err := conn.Write(reqs[i%len(reqs)]); err != nil {
					errs <- err
					return
				}
				if err := httpload.ReadResponse(rd); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return done.Load(), time.Since(start), <-errs
}

// procMemory returns the process's resident set size and its peak, from /proc.
func procMemory() (rss, peak int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}
