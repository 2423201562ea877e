package comments_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

// renderAtRead is the design the package avoids: a store whose reads fetch each
// comment's Markdown and render it again. It is the baseline of
// BenchmarkThread1000. It reads every column of the thread's rows (the benchmark
// database holds that one thread), a little more than such a design would need.
type renderAtRead struct {
	comments.Store
	r *comments.Renderer
}

func (s renderAtRead) Thread(ctx context.Context, thread string) ([]comments.Comment, error) {
	all, err := s.Store.Comments(ctx, 0, 1<<20)
	if err != nil {
		return nil, err
	}
	var cs []comments.Comment
	for _, c := range all {
		if c.Thread != thread || c.Status != comments.StatusApproved && c.Status != comments.StatusDeleted {
			continue
		}
		if c.Source != "" {
			if c.HTML, err = s.r.Render(c.Source); err != nil {
				return nil, err
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// cpuTime returns the CPU time this process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// seedThread stores n published comments in thread, about half of them replies,
// each a few hundred characters of typical Markdown.
func seedThread(tb testing.TB, e *env, thread string, n int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	r := comments.NewRenderer()
	var ids []int64
	at := e.clock.Now()
	for i := range n {
		src := fmt.Sprintf("Thanks for **post %d**. I tried the *second* approach and it worked, though I had to change the `timeout` to %d s.\n\n"+
			"- first, read [the docs](https://go.dev/doc/%d)\n- then run `go test ./...`\n\n> quoting an earlier point about caching, which still holds in case %d.\n\nRegards, reader %d", i, i%60, i, i, i)
		html, err := r.Render(src)
		require.NoError(tb, err)
		c := &comments.Comment{Thread: thread, Name: fmt.Sprintf("Reader %d", i), Email: fmt.Sprintf("reader%d@example.org", i),
			Source: src, HTML: html, Digest: comments.Digest(src), Status: comments.StatusApproved, Hue: 1 + i%8,
			Manage: []byte(fmt.Sprintf("%032d", i)), Created: at.Add(time.Duration(i) * time.Second)}
		if len(ids) > 0 && rng.IntN(2) == 0 {
			c.ParentID = ids[rng.IntN(len(ids))]
		}
		require.NoError(tb, e.store.CreateComment(context.Background(), c))
		ids = append(ids, c.ID)
	}
}

// BenchmarkThread1000 serves the page of a thread of 1,000 comments, read from the
// store: with the HTML rendered once at write and the thread cached under its
// version (what the package does: each view reads the version, and the thread
// only after it changed), with no cache (each view reads and renders the 1,000
// comments: the cost of the first view after a change), and, as the baseline,
// with every comment's Markdown rendered again at each read.
func BenchmarkThread1000(b *testing.B) {
	for _, kind := range stores {
		b.Run(kind, func(b *testing.B) {
			e := newEnv(b, kind, withModeration(comments.ModerateNone))
			seedThread(b, e, "bench", 1000)
			handler := func(store comments.Store) http.Handler {
				svc, err := comments.New(comments.Config{Store: store, Mailer: e.mail.Mailer, Auditor: e.auditor, Key: e.key, BaseURL: base, Now: e.clock.Now,
					ThreadCache: -1})
				require.NoError(b, err)
				h, err := comments.NewHandler(svc, comments.HandlerConfig{Signer: e.handlerSigner()})
				require.NoError(b, err)
				return h
			}
			for _, tc := range []struct {
				name string
				h    http.Handler
			}{
				{"stored-html-cached", e.handler},
				{"stored-html-uncached", handler(e.store)},
				{"render-at-read", handler(renderAtRead{e.store, comments.NewRenderer()})},
			} {
				b.Run(tc.name, func(b *testing.B) {
					var size int
					cpu := cpuTime()
					for b.Loop() {
						w := httptest.NewRecorder()
						tc.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/t/bench", nil))
						if w.Code != http.StatusOK {
							b.Fatalf("status %d", w.Code)
						}
						size = w.Body.Len()
					}
					// The machine is shared: CPU time per page says what wall time,
					// inflated by waiting for a core, cannot.
					b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(size), "page-bytes")
					if tc.h == e.handler {
						st := e.svc.CacheStats()
						require.Equal(b, 1, st.Threads)
						b.ReportMetric(float64(st.Bytes), "cache-bytes")
					}
				})
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps the headers and counts the
// body's bytes, copying nothing.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkThreadView measures the handler's own CPU for one view of page 1
// of a cached thread of 1,000 comments, memory store: GET /t/{thread} and a
// host's post page (Handler.ServeThread), without and with gzip, written to
// a ResponseWriter that copies nothing, so that what BenchmarkThreadLoad's
// plain handler also pays (the sockets) and BenchmarkThread1000's recorder
// (a copy of the 47 KB page) are left out.
func BenchmarkThreadView(b *testing.B) {
	e := newEnv(b, "mem", withModeration(comments.ModerateNone))
	seedThread(b, e, "bench", 1000)
	for _, gz := range []bool{false, true} {
		for _, post := range []bool{false, true} {
			name := map[bool]string{false: "identity", true: "gzip"}[gz] + map[bool]string{false: "/thread", true: "/post"}[post]
			r := httptest.NewRequest(http.MethodGet, "/t/bench", nil)
			r.Header.Set("Accept", "text/html")
			if gz {
				r.Header.Set("Accept-Encoding", "gzip")
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					w := &discardWriter{h: http.Header{}}
					if post {
						if err := e.handler.ServeThread(w, r, "bench", "A post", "<article>The post</article>", ""); err != nil {
							b.Fatal(err)
						}
					} else {
						e.handler.ServeHTTP(w, r)
					}
					if w.n < 4000 {
						b.Fatalf("%d bytes", w.n)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
