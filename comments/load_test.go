package comments_test

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/httpload"
)

// BenchmarkThreadLoad serves the first page of a thread of 1,000 comments over
// HTTP on 127.0.0.1, to a load generator in a child process keeping 16
// keep-alive connections busy, and compares, in the same run and in alternating
// slices so the machine's load falls on all alike:
//
//   - thread: GET /t/{thread} of the Handler (it reads the thread's version
//     from the store at each request, then serves the cached bytes with a new
//     stamp);
//   - plain: a handler writing the same bytes from memory, the baseline;
//   - post: a host's page of a post of about 3 KB with the thread below it
//     (Handler.ServeThread), as examples/site serves /blog/{slug};
//
// each without and with Accept-Encoding: gzip (the plain handler then writes
// the same gzip bytes). It reports requests a second, the ratios to the plain
// handler and of the post to the thread alone, and the 99th percentile of the
// time to an answer. Run it with
//
//	go test -run '^$' -bench BenchmarkThreadLoad -benchtime=1x ./comments/
//
// CONSENTKIT_LOAD_SLICE (default 1s) and CONSENTKIT_LOAD_ROUNDS (default 4) bound it.
func BenchmarkThreadLoad(b *testing.B) {
	slice, rounds := time.Second, 4
	if v, err := time.ParseDuration(os.Getenv("CONSENTKIT_LOAD_SLICE")); err == nil && v > 0 {
		slice = v
	}
	if v, err := strconv.Atoi(os.Getenv("CONSENTKIT_LOAD_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	const conns = 16
	for _, kind := range stores {
		b.Run(kind, func(b *testing.B) {
			e := newEnv(b, kind, withModeration(comments.ModerateNone))
			seedThread(b, e, "bench", 1000)
			post := template.HTML("<article class=\"post\">" + strings.Repeat("<p>A paragraph of the post, with <a href=\"/blog\">a link</a> and some <em>emphasis</em> in it.</p>\n", 30) +
				"</article>\n<section class=\"comments\" aria-label=\"Comments\">\n")
			postPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := e.handler.ServeThread(w, r, "bench", "A post", post, "\n</section>\n"); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			})
			for _, gz := range []bool{false, true} {
				name := "identity"
				if gz {
					name = "gzip"
				}
				b.Run(name, func(b *testing.B) {
					get := "GET /t/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n"
					if gz {
						get += "Accept-Encoding: gzip\r\n"
					}
					get += "\r\n"
					// The plain handler's bytes are one answer of the thread's.
					r := httptest.NewRequest(http.MethodGet, "/t/bench", nil)
					if gz {
						r.Header.Set("Accept-Encoding", "gzip")
					}
					w := httptest.NewRecorder()
					e.handler.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
					page, header := w.Body.Bytes(), w.Header().Clone()
					plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
						for k, v := range header {
							w.Header()[k] = v
						}
						w.Write(page)
					})
					servers := []struct {
						name string
						h    http.Handler
						addr string
						n    int64
						d    time.Duration
						lat  []time.Duration
					}{{name: "plain", h: plain}, {name: "thread", h: e.handler}, {name: "post", h: postPage}}
					for i := range servers {
						servers[i].addr = serveLoad(b, servers[i].h)
					}
					b.ResetTimer()
					for range rounds {
						for i := range servers {
							s := &servers[i]
							n, d, lat, err := loadChild(s.addr, get, conns, slice)
							if err != nil {
								b.Fatal(s.name, ": ", err)
							}
							s.n, s.d, s.lat = s.n+n, s.d+d, append(s.lat, lat...)
						}
					}
					b.StopTimer()
					rate := map[string]float64{}
					for _, s := range servers {
						rate[s.name] = float64(s.n) / s.d.Seconds()
						b.ReportMetric(rate[s.name], s.name+"-req/s")
						b.ReportMetric(float64(percentile(s.lat, 99).Microseconds())/1000, s.name+"-p99-ms")
					}
					b.ReportMetric(rate["thread"]/rate["plain"], "thread/plain")
					b.ReportMetric(rate["post"]/rate["thread"], "post/thread")
					b.ReportMetric(float64(len(page)), "bytes")
				})
			}
		})
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)-1)*p/100]
}

// The load generator runs in a process of its own, this test binary started
// again with CONSENTKIT_COMMENTS_LOADGEN set, so it takes no CPU from the
// servers' process.
func TestMain(m *testing.M) {
	if addr := os.Getenv("CONSENTKIT_COMMENTS_LOADGEN"); addr != "" {
		conns, _ := strconv.Atoi(os.Getenv("CONSENTKIT_COMMENTS_LOADGEN_CONNS"))
		d, _ := time.ParseDuration(os.Getenv("CONSENTKIT_COMMENTS_LOADGEN_FOR"))
		n, took, lat, err := loadRun(addr, os.Getenv("CONSENTKIT_COMMENTS_LOADGEN_REQ"), conns, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// A sample of the latencies, enough for the 99th percentile.
		fmt.Println(n, took.Nanoseconds())
		step := max(1, len(lat)/2000)
		for i := 0; i < len(lat); i += step {
			fmt.Println(lat[i].Nanoseconds())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func loadChild(addr, req string, conns int, d time.Duration) (int64, time.Duration, []time.Duration, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return 0, 0, nil, fmt.Errorf("load runs against 127.0.0.1 only, not %s", addr)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONSENTKIT_COMMENTS_LOADGEN="+addr, "CONSENTKIT_COMMENTS_LOADGEN_REQ="+req,
		"CONSENTKIT_COMMENTS_LOADGEN_CONNS="+strconv.Itoa(conns), "CONSENTKIT_COMMENTS_LOADGEN_FOR="+d.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("load generator: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return 0, 0, nil, fmt.Errorf("load generator said %q", out)
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	var lat []time.Duration
	for _, s := range f[2:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		lat = append(lat, time.Duration(v))
	}
	return n, time.Duration(ns), lat, nil
}

// serveLoad serves h on 127.0.0.1 until the benchmark ends.
func serveLoad(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// loadRun keeps conns keep-alive connections sending req for about d and
// returns the answers completed (each a 200 with its Content-Length read), the
// time taken, and each answer's latency.
func loadRun(addr, req string, conns int, d time.Duration) (int64, time.Duration, []time.Duration, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []time.Duration
	errs := make(chan error, conns)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(deadline.Add(10 * time.Second))
			rd := bufio.NewReaderSize(conn, 16<<10)
			var lat []time.Duration
			defer func() { mu.Lock(); all = append(all, lat...); mu.Unlock() }()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := conn.Write([]byte(req)); err != nil {
					errs <- err
					return
				}
				if err := httpload.ReadResponse(rd); err != nil {
					errs <- err
					return
				}
				lat = append(lat, time.Since(t0))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return done.Load(), time.Since(start), all, <-errs
}
