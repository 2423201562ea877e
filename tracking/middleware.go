package tracking

import (
	"bufio"
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
	"net/netip"
	"net/textproto"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
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
	// With neither Paths nor MuxPatterns, every page counts as "(other)".
	Paths []string
	// MuxPatterns counts a path no entry of Paths matches as the http.ServeMux pattern
	// that served it (Request.Pattern, without its method; "/{$}" counts as "/"), when the wrapped handler is
	// a ServeMux or runs one on the same request.
	MuxPatterns bool
	// ByPath lists patterns, written as in Paths ("/blog/{slug}"), whose pages count
	// under their own path ("/blog/hello-world") instead of the pattern. List only
	// patterns whose pages are public and name no person (blog posts, not profiles).
	// At most MaxPaths paths are counted by name; past that, and for a path no store
	// can hold, the pattern counts. Only successful responses count, so a path the
	// site answers with 404 never enters the table, and reports merge paths seen
	// fewer than k times into "(other)". ByPath is tried after the exact Paths and
	// before the patterns of Paths.
	ByPath []string
	// MaxPaths bounds the paths ByPath counts by name. Default: 1,000.
	MaxPaths int

	// TrustedHeader names the header a trusted reverse proxy puts the client address in
	// (e.g. "X-Forwarded-For"; the last address is used). Empty: the connection's
	// address. Set it only behind a proxy that overwrites it, as web.ClientAddr.
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
	coarse        bool         // no clock was given: read nowNano, which the flusher keeps
	nowNano       atomic.Int64 // unix nanoseconds, updated every clockTick
	trustedHeader string
	paths         *pathMatcher
	classify      *classifier
	mimeVals      *valueTable
	mimes         *interner
	domains       *domainCache

	shards []counterShard
	mask   uint32

	flushMu sync.Mutex
	carry   map[countKey]int64 // counts not yet in a batch
	unsent  unsentBatch        // the batch whose Add failed, if any
	noType  uint32             // the id of NoType

	// Hits from user agents not yet classified, for the classifier goroutine.
	pending     chan pendingHit
	stopParsing chan struct{}
	parsed      chan struct{} // closed when the classifier goroutine has stopped

	stop      chan struct{}
	flusher   sync.WaitGroup
	closeOnce sync.Once
}

// pendingHit is a page view whose user agent is still to be parsed: what it counts
// once it is known to be a person's. The user agent and the address are held only
// until then, in memory.
type pendingHit struct {
	ua         string
	hash       uint64
	addr       netip.Addr
	now        int64
	hour       int32
	path, mime uint32
	barrier    chan struct{} // instead of a hit: closed once the hits before it are counted
}

// pendingHits bounds the hits waiting for their user agent to be parsed. Past it, a
// hit counts as a bot's: only a flood of distinct user agents, faster than they can
// be parsed (a few thousand a second), fills it, and people do not send floods.
const pendingHits = 4096

// The dimensions as small integers for the in-memory keys.
const (
	dimPath uint8 = iota
	dimDomain
	dimBrowser
	dimMIME
	dimBots
)

var dimOf = [...]Dimension{dimPath: Paths, dimDomain: Domains, dimBrowser: Browsers, dimMIME: MIMETypes, dimBots: Bots}

// A hit key packs the hour (since the Unix epoch), the dimension and the value's id
// into one integer.
func hitKey(hour int32, dim uint8, id uint32) uint64 {
	return uint64(uint32(hour))<<32 | uint64(dim)<<29 | uint64(id)
}

type counterShard struct {
	mu    sync.Mutex
	m     map[uint64]int64
	spare map[uint64]int64 // the map the next flush swaps in, cleared but still sized
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
	if cfg.MaxPaths < 0 {
		return nil, errors.New("tracking: TrackerConfig.MaxPaths must not be negative")
	}
	paths, err := newPathMatcher(cfg.Paths, cfg.ByPath, cmp.Or(cfg.MaxPaths, 1000), cfg.MuxPatterns)
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		store:    cfg.Store,
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      cfg.Now,
		paths:    paths,
		classify: newClassifier(),
		mimeVals: newValueTable(Other),
		carry:    map[countKey]int64{},
		stop:     make(chan struct{}),

		pending:     make(chan pendingHit, pendingHits),
		stopParsing: make(chan struct{}),
		parsed:      make(chan struct{}),
	}
	if cfg.Now == nil {
		// Reading the clock costs a tenth of the counting path on some virtual
		// machines; the hour of a hit does not need it to the nanosecond.
		t.now, t.coarse = time.Now, true
		t.nowNano.Store(time.Now().UnixNano())
	}
	t.mimes = newInterner(200, normMIME, t.mimeVals)
	t.noType = t.mimeVals.add(NoType)
	if cfg.TrustedHeader != "" {
		t.trustedHeader = textproto.CanonicalMIMEHeaderKey(cfg.TrustedHeader)
	}
	var resolver Resolver = net.DefaultResolver
	if cfg.Resolver != nil {
		resolver = cfg.Resolver
	}
	t.domains = newDomainCache(resolver, t.now, cmp.Or(cfg.CacheSize, 10_000), cmp.Or(cfg.Lookups, 8),
		cmp.Or(cfg.CacheTTL, time.Hour), cmp.Or(cfg.ResolveTimeout, 2*time.Second), t.addDomainHits)

	n := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	t.shards = make([]counterShard, n)
	t.mask = uint32(n - 1)
	for i := range t.shards {
		t.shards[i].m = map[uint64]int64{}
		t.shards[i].spare = map[uint64]int64{}
	}

	every := cmp.Or(cfg.FlushEvery, 10*time.Second)
	t.flusher.Go(func() { t.flushLoop(every) })
	go t.parseLoop()
	return t, nil
}

// Handler wraps next so that every page view it serves is counted: a GET answered
// with a 2xx status other than 204, 205 and 206, whose connection was not taken over
// (a WebSocket). HEAD and the other methods are passed through uncounted. A request is
// counted after next returns, off the response's way; the middleware changes no
// header and sets no cookie.
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
	status := int(rec.status)
	if !rec.wrote {
		status = http.StatusOK
	}
	if rec.hijacked || !counted(status) {
		return
	}
	var now int64
	if t.coarse {
		now = t.nowNano.Load()
	} else {
		now = t.now().UnixNano()
	}
	hour := int32(now / int64(time.Hour))
	var ua string
	if v := r.Header["User-Agent"]; len(v) > 0 {
		ua = v[0]
	}
	if isPrefetch(r.Header) {
		t.countBot(hour)
		return
	}
	browser, hash, known := t.classify.lookup(ua)
	if known && browser == botLabel {
		t.countBot(hour)
		return
	}
	path := t.paths.match(r.URL.Path, r.Pattern)
	mime := t.noType
	if rec.ctype != "" {
		mime = t.mimes.get(rec.ctype)
	}
	addr := web.ClientAddr(r, t.trustedHeader)
	if !known {
		// Parsing takes longer than serving a page; the classifier goroutine does it.
		select {
		case t.pending <- pendingHit{ua: ua, hash: hash, addr: addr, now: now, hour: hour, path: path, mime: mime}:
		default:
			t.countBot(hour)
		}
		return
	}
	t.countView(hour, now, addr, path, browser, mime)
}

func (t *Tracker) countBot(hour int32) {
	s := &t.shards[rand.Uint32()&t.mask]
	s.mu.Lock()
	s.m[hitKey(hour, dimBots, 0)]++
	s.mu.Unlock()
}

func (t *Tracker) countView(hour int32, now int64, addr netip.Addr, path, browser, mime uint32) {
	domain, deferred := t.domains.domain(addr, hour, now)

	// One shard, chosen at random so that concurrent requests rarely meet on a lock.
	s := &t.shards[rand.Uint32()&t.mask]
	s.mu.Lock()
	s.m[hitKey(hour, dimPath, path)]++
	s.m[hitKey(hour, dimBrowser, browser)]++
	s.m[hitKey(hour, dimMIME, mime)]++
	if !deferred {
		s.m[hitKey(hour, dimDomain, domain)]++
	}
	s.mu.Unlock()
}

// parseLoop classifies the user agents of pending hits and counts the hits, until
// Close; then it counts what is still pending and stops.
func (t *Tracker) parseLoop() {
	defer close(t.parsed)
	for {
		select {
		case p := <-t.pending:
			t.countPending(p)
		case <-t.stopParsing:
			t.drainPending()
			return
		}
	}
}

func (t *Tracker) drainPending() {
	for {
		select {
		case p := <-t.pending:
			t.countPending(p)
		default:
			return
		}
	}
}

func (t *Tracker) countPending(p pendingHit) {
	if p.barrier != nil {
		close(p.barrier)
		return
	}
	if browser := t.classify.resolve(p.ua, p.hash); browser == botLabel {
		t.countBot(p.hour)
	} else {
		t.countView(p.hour, p.now, p.addr, p.path, browser, p.mime)
	}
}

// settlePending waits until the hits pending before it are counted.
func (t *Tracker) settlePending(ctx context.Context) {
	b := make(chan struct{})
	select {
	case t.pending <- pendingHit{barrier: b}:
		select {
		case <-b:
		case <-t.parsed:
		case <-ctx.Done():
		}
	case <-t.parsed:
	case <-ctx.Done():
	}
	select {
	case <-t.parsed:
		// Hits counted after Close are counted here.
		t.drainPending()
	default:
	}
}

func (t *Tracker) addDomainHits(domain uint32, hits []hourCount) {
	s := &t.shards[rand.Uint32()&t.mask]
	s.mu.Lock()
	for _, h := range hits {
		if h.n > 0 {
			s.m[hitKey(h.hour, dimDomain, domain)] += h.n
		}
	}
	s.mu.Unlock()
}

// clockTick is how often the coarse clock advances.
const clockTick = 50 * time.Millisecond

func (t *Tracker) flushLoop(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var clock <-chan time.Time
	if t.coarse {
		c := time.NewTicker(clockTick)
		defer c.Stop()
		clock = c.C
	}
	for {
		select {
		case <-t.stop:
			return
		case now := <-clock:
			t.nowNano.Store(now.UnixNano())
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(every, 30*time.Second))
			if err := t.Flush(ctx); err != nil {
				t.log.Error("tracking: flushing page-view counts failed; they are kept for the next flush", "err", err)
			}
			cancel()
		}
	}
}

// unsentBatch is a batch of counts a Store may or may not have added, and its key.
type unsentBatch struct {
	key    string
	counts []Count
}

// Flush writes the counts gathered so far to the Store in one batch of additive
// upserts. On failure the batch is kept and the next Flush sends it again, alone and
// under the same key, before the counts gathered since: a Store that did add it (a
// lost connection during the commit) adds nothing the second time, so every count is
// written once, and none is lost while the process runs.
func (t *Tracker) Flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.settlePending(ctx)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		full := s.m
		s.m, s.spare = s.spare, nil
		s.mu.Unlock()
		for k, n := range full {
			t.carry[t.aggregate(k)] += n
		}
		clear(full)
		s.spare = full
	}
	// Between flushes, so an id of the generation before stays nameable.
	t.domains.table.rotate()
	if t.unsent.key != "" {
		if err := t.store.Add(ctx, t.unsent.key, t.unsent.counts); err != nil {
			return fmt.Errorf("tracking: flush %d counters again: %w", len(t.unsent.counts), err)
		}
		t.unsent = unsentBatch{}
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
	clear(t.carry)
	t.unsent = unsentBatch{key: NewKey(), counts: batch}
	if err := t.store.Add(ctx, t.unsent.key, batch); err != nil {
		return fmt.Errorf("tracking: flush %d counters: %w", len(batch), err)
	}
	t.unsent = unsentBatch{}
	return nil
}

// aggregate names a counter and keys it by its stored period: the hour for paths, the
// day (UTC) for the other dimensions.
func (t *Tracker) aggregate(k uint64) countKey {
	hour, dim, id := int32(uint32(k>>32)), uint8(k>>29&7), uint32(k&(1<<29-1))
	start := int64(hour) * 3600
	if dim != dimPath {
		start -= start % 86400
	}
	var value string
	switch dim {
	case dimPath:
		value = t.paths.vals.name(id)
	case dimDomain:
		value = t.domains.table.name(id)
	case dimBrowser:
		value = t.classify.name(id)
	case dimMIME:
		value = t.mimeVals.name(id)
	}
	return countKey{dim: dim, start: start, value: value}
}

// Close stops the Tracker: it waits for domain lookups under way (at most the lookup
// timeout, or until ctx ends; hits still waiting then count as "(unresolved)"), and
// flushes. Call it after the server has stopped serving (http.Server.Shutdown): a hit
// counted after Close is only written by another Flush. Returns the flush's error.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		close(t.stop)
		t.flusher.Wait()
		close(t.stopParsing)
		<-t.parsed
		t.domains.close(ctx)
	})
	return t.Flush(ctx)
}

// recorder is the response-writer wrapper: it notes the status and media type.
type recorder struct {
	http.ResponseWriter
	ctype    string // the Content-Type the handler set, or the one its body implies
	status   int32
	wrote    bool
	hijacked bool // a WebSocket or other protocol took the connection: not a page view
	sniff    bool // no Content-Type was set: the body's first bytes decide
}

func (w *recorder) WriteHeader(code int) {
	// 1xx but 101 are informational: the final status is still to come.
	if !w.wrote && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.wrote = true
		w.status = int32(code)
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
		w.ctype = http.DetectContentType(p)
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

// Hijack passes the connection on, and notes that the request was not a page view.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
