package tracking

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Resolver looks up the host names of an IP address (reverse DNS). *net.Resolver is
// one; tests use a fake.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) (names []string, err error)
}

// networkOf returns the network an address belongs to: its /24 for IPv4, its /48 for
// IPv6, tagged by family. Reverse zones are delegated on these boundaries, so the
// addresses of one network share one operator and one registrable domain; keying the
// cache by network means it never holds a visitor's address.
func networkOf(a netip.Addr) uint64 {
	if a.Is4() {
		b := a.As4()
		return 1<<62 | uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	}
	b := a.As16()
	return 2<<62 | uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

// RegistrableDomain reduces a host name from reverse DNS to the domain its owner
// registered under an ICANN public suffix: "host-7.dyn.example.net." becomes
// "example.net". A name under an unlisted suffix (a home router's "laptop.lan") or
// a private one ("someone.github.io" counts as "github.io") never yields a name that
// only its owner uses. ok is false when nothing usable remains.
func RegistrableDomain(name string) (domain string, ok bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" || len(name) > 253 {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", false
		}
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", false
		}
	}
	if labels[len(labels)-1] == "arpa" {
		// Reverse-lookup and home-network names (home.arpa) name no organisation.
		return "", false
	}
	// Find the longest suffix that is an ICANN public suffix; the registrable domain is
	// one label more, and there must be one.
	best := -1
	for i := len(labels) - 1; i >= 0; i-- {
		s := strings.Join(labels[i:], ".")
		if ps, icann := publicsuffix.PublicSuffix(s); ps == s && icann {
			best = i
		}
	}
	if best < 1 {
		return "", false
	}
	return strings.Join(labels[best-1:], "."), true
}

// domainCache maps networks to registrable domains. Lookups run in worker goroutines
// off the request path; a hit from a network being looked up is held as a count in its
// cache entry and added under the domain once it is known.
type domainCache struct {
	shards   []cacheShard
	mask     uint64
	perShard int
	ttl      time.Duration
	negTTL   time.Duration
	timeout  time.Duration
	resolver Resolver
	now      func() time.Time
	table    *domainTable
	addHits  func(domain uint32, hits []hourCount)

	queue   chan lookup
	pending atomic.Int64 // lookups enqueued and not finished
	closing atomic.Bool
	ctx     context.Context
	cancel  context.CancelFunc
	stop    chan struct{}
	workers sync.WaitGroup
}

type lookup struct {
	network uint64
	addr    netip.Addr
}

type hourCount struct {
	hour int32
	n    int64
}

type cacheShard struct {
	mu sync.Mutex
	m  map[uint64]cacheEntry
	_  [40]byte // keeps each shard's lock on its own cache line
}

type cacheEntry struct {
	domain  uint32 // id in the domainTable
	gen     uint32 // the domainTable's generation the id belongs to
	expires int64  // unix nanoseconds
	pending bool
	hits    [2]hourCount // while pending: the hits waiting for the domain, by hour
}

func newDomainCache(r Resolver, now func() time.Time, size, workers int, ttl, timeout time.Duration, addHits func(uint32, []hourCount)) *domainCache {
	n := 64
	c := &domainCache{
		shards:   make([]cacheShard, n),
		mask:     uint64(n - 1),
		perShard: max(size/n, 4),
		ttl:      ttl,
		negTTL:   min(ttl, 5*time.Minute),
		timeout:  timeout,
		resolver: r,
		now:      now,
		table:    newDomainTable(4 * size),
		addHits:  addHits,
		queue:    make(chan lookup, 1024),
		stop:     make(chan struct{}),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for range workers {
		c.workers.Go(c.work)
	}
	return c
}

func (c *domainCache) shard(network uint64) *cacheShard {
	// Fibonacci hashing spreads consecutive networks over the shards.
	return &c.shards[(network*0x9E3779B97F4A7C15)>>58&c.mask]
}

// domain returns the id of the domain of a's network, or deferred when the hit was
// left with a pending lookup, which will count it.
func (c *domainCache) domain(a netip.Addr, hour int32, now int64) (id uint32, deferred bool) {
	if !a.IsValid() {
		return unresolved, false
	}
	network := networkOf(a)
	s := c.shard(network)
	s.mu.Lock()
	e, ok := s.m[network]
	switch {
	case ok && e.pending:
		e.add(hour)
		s.m[network] = e
		s.mu.Unlock()
		return 0, true
	case ok && now < e.expires && e.gen == c.table.gen.Load():
		s.mu.Unlock()
		return e.domain, false
	}
	// A stale entry of this generation is better than none while no lookup can start.
	stale := uint32(unresolved)
	if ok && e.gen == c.table.gen.Load() {
		stale = e.domain
	}
	if c.closing.Load() || !ok && len(s.m) >= c.perShard && !s.evict(now) {
		s.mu.Unlock()
		return stale, false
	}
	select {
	case c.queue <- lookup{network: network, addr: a}:
		c.pending.Add(1)
		s.m[network] = cacheEntry{pending: true, hits: [2]hourCount{{hour: hour, n: 1}}}
		s.mu.Unlock()
		return 0, true
	default:
		s.mu.Unlock()
		return stale, false
	}
}

func (e *cacheEntry) add(hour int32) {
	switch {
	case e.hits[0].n == 0 || e.hits[0].hour == hour:
		e.hits[0].hour = hour
		e.hits[0].n++
	case e.hits[1].n == 0 || e.hits[1].hour == hour:
		e.hits[1].hour = hour
		e.hits[1].n++
	default:
		// A third hour while one lookup is pending cannot happen with lookups bounded
		// by a timeout; if it does, the hit still counts, an hour early.
		e.hits[1].n++
	}
}

// evict makes room by dropping expired entries, or else one settled entry; pending
// entries hold counts and stay.
func (s *cacheShard) evict(now int64) bool {
	freed := false
	var victim uint64
	haveVictim := false
	for k, e := range s.m {
		switch {
		case e.pending:
		case now >= e.expires:
			delete(s.m, k)
			freed = true
		case !haveVictim:
			victim, haveVictim = k, true
		}
	}
	if !freed && haveVictim {
		delete(s.m, victim)
		freed = true
	}
	return freed
}

func (c *domainCache) work() {
	for {
		select {
		case <-c.stop:
			return
		case l := <-c.queue:
			c.resolve(l)
		}
	}
}

func (c *domainCache) resolve(l lookup) {
	defer c.pending.Add(-1)
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	domain := Unresolved
	names, err := c.resolver.LookupAddr(ctx, l.addr.String())
	cancel()
	if err == nil {
		for _, n := range names {
			if d, ok := RegistrableDomain(n); ok {
				domain = d
				break
			}
		}
	}
	ttl := c.ttl
	if domain == Unresolved {
		ttl = c.negTTL
	}
	id, gen := c.table.id(domain)
	s := c.shard(l.network)
	s.mu.Lock()
	e := s.m[l.network]
	s.m[l.network] = cacheEntry{domain: id, gen: gen, expires: c.now().Add(ttl).UnixNano()}
	s.mu.Unlock()
	c.addHits(id, e.hits[:])
}

// close stops taking lookups, waits up to the lookup timeout (or ctx) for the ones
// under way, and counts the hits of any left unfinished as Unresolved.
func (c *domainCache) close(ctx context.Context) {
	c.closing.Store(true)
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
wait:
	for c.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-deadline.C:
			break wait
		case <-tick.C:
		}
	}
	c.cancel()
	close(c.stop)
	c.workers.Wait()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.pending {
				delete(s.m, k)
				c.addHits(unresolved, e.hits[:])
			}
		}
		s.mu.Unlock()
	}
}
