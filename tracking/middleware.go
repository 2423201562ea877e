package tracking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// Store receives the counts. Required.
	Store Store
	// Logger receives flush failures; it never sees an address or a user agent.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time

	// Paths lists the paths counted by name: exact paths ("/about") and patterns with
	// wildcard segments ("/blog/{slug}", "/docs/{rest...}"), which count as the pattern.
	// Exact paths are tried first, then patterns in order. A path that matches none
	// counts as "(other)", so visitors cannot grow the table. The query is never counted.
	Paths []string
	// MuxPatterns counts a path no entry of Paths matches as the http.ServeMux pattern
	// that served it (Request.Pattern, without its method), when the wrapped handler is
	// a ServeMux or runs one on the same request.
	MuxPatterns bool

	// TrustedHeader names the header a trusted reverse proxy puts the client address in
	// (e.g. "X-Forwarded-For"; the last address is used). Empty: the connection's
	// address. Set it only behind a proxy that overwrites it, as form.ClientAddr.
	TrustedHeader string
	// Resolver looks up visitor domains. Default: net.DefaultResolver.
	Resolver Resolver
	// ResolveTimeout bounds each lookup. Default: 2s.
	ResolveTimeout time.Duration
	// Lookups is how many lookups may run at once. Default: 8.
	Lookups int
	// CacheSize is how many networks' domains are remembered. Default: 10,000.
	CacheSize int
	// CacheTTL is how long a network's domain is remembered. Default: 1h.
	CacheTTL time.Duration

	// FlushEvery is the interval at which counts are written to the Store. A crash
	// loses at most the counts of one interval. Default: 10s.
	FlushEvery time.Duration
}

// Tracker is the counting middleware. It counts in memory and writes the counts to its
// Store every FlushEvery and on Close. Several processes may share one Store: the
// counts add up.
type Tracker struct {
	store         Store
	log           *slog.Logger
	now           func() time.Time
	trustedHeader string
	paths         *pathMatcher
	classify      *classifier
	mimes         *interner
	domains       *domainCache

	shards []counterShard
	mask   uint32

	flushMu sync.Mutex
	carry   map[countKey]int64 // counts a failed flush keeps for the next

	stop      chan struct{}
	flusher   sync.WaitGroup
	closeOnce sync.Once
}

// The dimensions as small integers for the in-memory keys.
const (
	dimPath uint8 = iota
	dimDomain
	dimBrowser
	dimMIME
	dimBots
)

var dimOf = [...]Dimension{dimPath: Paths, dimDomain: Domains, dimBrowser: Browsers, dimMIME: MIMETypes, dimBots: Bots}

type hitKey struct {
	hour  int32 // hours since the Unix epoch
	dim   uint8
	value string
}

type counterShard struct {
	mu    sync.Mutex
	m     map[hitKey]int64
	spare map[hitKey]int64 // the map the next flush swaps in, cleared but still sized
	_     [40]byte
}

type countKey struct {
	dim   uint8
	start int64 // unix seconds
	value string
}

// NewTracker returns a Tracker and starts its flusher and lookup workers; call Close
// to stop them. Returns an error naming the TrackerConfig field at fault.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	if cfg.Store == nil {
		return nil, errors.New("tracking: TrackerConfig.Store is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ResolveTimeout", cfg.ResolveTimeout}, {"CacheTTL", cfg.CacheTTL}, {"FlushEvery", cfg.FlushEvery}} {
		if d.v < 0 {
			return nil, fmt.Errorf("tracking: TrackerConfig.%s must not be negative", d.name)
		}
	}
	if cfg.Lookups < 0 || cfg.CacheSize < 0 {
		return nil, errors.New("tracking: TrackerConfig.Lookups and CacheSize must not be negative")
	}
	paths, err := newPathMatcher(cfg.Paths, cfg.MuxPatterns)
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		store:    cfg.Store,
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      cfg.Now,
		paths:    paths,
		classify: newClassifier(),
		mimes:    newInterner(200, normMIME),
		carry:    map[countKey]int64{},
		stop:     make(chan struct{}),
	}
	if cfg.Now == nil {
		t.now = time.Now
	}
	if cfg.TrustedHeader != "" {
		t.trustedHeader = textproto.CanonicalMIMEHeaderKey(cfg.TrustedHeader)
	}
	var resolver Resolver = net.DefaultResolver
	if cfg.Resolver != nil {
		resolver = cfg.Resolver
	}
	t.domains = newDomainCache(resolver, cmp.Or(cfg.CacheSize, 10_000), cmp.Or(cfg.Lookups, 8),
		cmp.Or(cfg.CacheTTL, time.Hour), cmp.Or(cfg.ResolveTimeout, 2*time.Second), t.addDomainHits)

	n := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	t.shards = make([]counterShard, n)
	t.mask = uint32(n - 1)
	for i := range t.shards {
		t.shards[i].m = map[hitKey]int64{}
		t.shards[i].spare = map[hitKey]int64{}
	}

	every := cmp.Or(cfg.FlushEvery, 10*time.Second)
	t.flusher.Go(func() { t.flushLoop(every) })
	return t, nil
}

// Handler wraps next so that every successful GET it answers is counted. Requests
// are counted after next returns; the middleware sets no header and no cookie.
func (t *Tracker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		t.count(r, rec)
	})
}

// counted reports whether a response of this status is a page view: any success but
// 204/205 (nothing to view) and 206 (a range of something already being viewed).
func counted(status int) bool {
	return status >= 200 && status < 300 && status != 204 && status != 205 && status != 206
}

func (t *Tracker) count(r *http.Request, rec *recorder) {
	status := rec.status
	if !rec.wrote {
		status = http.StatusOK
	}
	if !counted(status) {
		return
	}
	now := t.now()
	hour := int32(now.Unix() / 3600)
	var ua string
	if v := r.Header["User-Agent"]; len(v) > 0 {
		ua = v[0]
	}
	browser, bot := t.classify.classify(ua)
	if bot || isPrefetch(r.Header) {
		t.add(hitKey{hour: hour, dim: dimBots}, hitKey{}, hitKey{}, hitKey{})
		return
	}
	path := t.paths.match(r.URL.Path, r.Pattern)
	mime := NoType
	switch {
	case rec.ctype != "":
		mime = t.mimes.get(rec.ctype)
	case rec.sniffed != "":
		mime = t.mimes.get(rec.sniffed)
	}
	domain := t.domains.domain(clientAddr(r, t.trustedHeader), hour, now.UnixNano())
	d := hitKey{hour: hour, dim: dimDomain, value: domain}
	if domain == "" {
		d.dim = 0xff // the pending lookup counts it
	}
	t.add(hitKey{hour: hour, dim: dimPath, value: path}, hitKey{hour: hour, dim: dimBrowser, value: browser},
		hitKey{hour: hour, dim: dimMIME, value: mime}, d)
}

// add increments up to four counters in one shard, chosen at random so that
// concurrent requests rarely meet on a lock. A key with dim 0xff, or the zero key
// after the first, is skipped.
func (t *Tracker) add(a, b, c, d hitKey) {
	s := &t.shards[rand.Uint32()&t.mask]
	s.mu.Lock()
	s.m[a]++
	if b.value != "" {
		s.m[b]++
	}
	if c.value != "" {
		s.m[c]++
	}
	if d.dim != 0xff && d.value != "" {
		s.m[d]++
	}
	s.mu.Unlock()
}

func (t *Tracker) addDomainHits(domain string, hits []hourCount) {
	s := &t.shards[rand.Uint32()&t.mask]
	s.mu.Lock()
	for _, h := range hits {
		if h.n > 0 {
			s.m[hitKey{hour: h.hour, dim: dimDomain, value: domain}] += h.n
		}
	}
	s.mu.Unlock()
}

func (t *Tracker) flushLoop(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(every, 30*time.Second))
			if err := t.Flush(ctx); err != nil {
				t.log.Error("tracking: flushing page-view counts failed; they are kept for the next flush", "err", err)
			}
			cancel()
		}
	}
}

// Flush writes the counts gathered so far to the Store in one batch of additive
// upserts. On failure the counts are kept and written by the next Flush. If the Store
// reports a failure after all (a lost connection during commit), counts may be written
// twice; they are never lost while the process runs.
func (t *Tracker) Flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		full := s.m
		s.m, s.spare = s.spare, nil
		s.mu.Unlock()
		for k, n := range full {
			t.carry[aggregate(k)] += n
		}
		clear(full)
		s.spare = full
	}
	if len(t.carry) == 0 {
		return nil
	}
	batch := make([]Count, 0, len(t.carry))
	for k, n := range t.carry {
		c := Count{Dim: dimOf[k.dim], Period: Day, Start: time.Unix(k.start, 0).UTC(), Value: k.value, N: n}
		if k.dim == dimPath {
			c.Period = Hour
		}
		if err := c.Validate(); err != nil {
			// Values are valid by construction; one that is not would fail every
			// flush after it, so it is dropped (and not logged: it is not ours to show).
			t.log.Error("tracking: dropped an invalid counter", "dimension", c.Dim, "n", n, "err", privacy.FieldOf(err))
			delete(t.carry, k)
			continue
		}
		batch = append(batch, c)
	}
	// One order for every process, so concurrent flushes take row locks in the same
	// order and cannot deadlock.
	slices.SortFunc(batch, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.Dim, b.Dim), cmp.Compare(a.Period, b.Period), a.Start.Compare(b.Start), cmp.Compare(a.Value, b.Value))
	})
	if err := t.store.Add(ctx, batch); err != nil {
		return fmt.Errorf("tracking: flush %d counters: %w", len(batch), err)
	}
	clear(t.carry)
	return nil
}

// aggregate keys a counter by its stored period: the hour for paths, the day (UTC)
// for the other dimensions.
func aggregate(k hitKey) countKey {
	start := int64(k.hour) * 3600
	if k.dim != dimPath {
		start -= start % 86400
	}
	return countKey{dim: k.dim, start: start, value: k.value}
}

// Close stops the Tracker: it waits for domain lookups under way (at most the lookup
// timeout, or until ctx ends; hits still waiting then count as "(unresolved)"), and
// flushes. Call it after the server has stopped serving (http.Server.Shutdown): a hit
// counted after Close is only written by another Flush. Returns the flush's error.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		close(t.stop)
		t.flusher.Wait()
		t.domains.close(ctx)
	})
	return t.Flush(ctx)
}

// recorder is the response-writer wrapper: it notes the status and media type.
type recorder struct {
	http.ResponseWriter
	status  int
	wrote   bool
	sniff   bool   // no Content-Type was set: the body's first bytes decide
	ctype   string // the Content-Type the handler set
	sniffed string
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199) {
		w.wrote = true
		w.status = code
		w.noteType()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) noteType() {
	if v, ok := w.ResponseWriter.Header()["Content-Type"]; ok {
		if len(v) > 0 {
			w.ctype = v[0]
		}
		return
	}
	w.sniff = true
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
		w.noteType()
	}
	if w.sniff && len(p) > 0 {
		w.sniff = false
		// What net/http itself would send for a body that starts like this one.
		w.sniffed = http.DetectContentType(p)
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps sendfile for http.ServeContent and friends once the type is known.
func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
		w.noteType()
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !w.sniff {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w}, src)
}

type writerOnly struct{ io.Writer }

// Flush lets streaming handlers flush through the wrapper.
func (w *recorder) Flush() {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
		w.noteType()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
