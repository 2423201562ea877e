package web

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/consentkit/consentkit/privacy"
)

// ClientAddr returns the client's IP address for rate limiting: the connection's
// address, or, behind a trusted proxy, the last address in the configured header
// (e.g. "X-Forwarded-For"). Use it only for limits held in memory; never store or log it.
func ClientAddr(r *http.Request, trustedHeader string) netip.Addr {
	if trustedHeader != "" {
		if v := r.Header.Get(trustedHeader); v != "" {
			// Substrings only: this runs on every request the tracker counts.
			if a, err := netip.ParseAddr(strings.TrimSpace(v[strings.LastIndexByte(v, ',')+1:])); err == nil {
				return a.Unmap()
			}
		}
	}
	if a, ok := parseIPv4Port(r.RemoteAddr); ok {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// parseIPv4Port is the common case of RemoteAddr, "192.0.2.1:51234", in a fraction of
// the time of SplitHostPort and ParseAddr; anything else is left to them.
func parseIPv4Port(s string) (netip.Addr, bool) {
	var b [4]byte
	i := 0
	for k := range 4 {
		n, digits := 0, 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n = n*10 + int(s[i]-'0')
			digits++
		}
		if digits == 0 || digits > 3 || n > 255 || digits > 1 && s[i-digits] == '0' {
			return netip.Addr{}, false
		}
		b[k] = byte(n)
		sep := byte('.')
		if k == 3 {
			sep = ':'
		}
		if i >= len(s) || s[i] != sep {
			return netip.Addr{}, false
		}
		i++
	}
	port := s[i:]
	if port == "" || len(port) > 5 {
		return netip.Addr{}, false
	}
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return netip.Addr{}, false
		}
	}
	return netip.AddrFrom4(b), true
}

// Limiter is a per-key token bucket held in memory only, bounded in size: when it
// holds Max keys it forgets the idlest half. IPv6 clients are limited per /64.
type Limiter struct {
	Rate  rate.Limit // tokens per second
	Burst int
	Max   int // keys kept; default 100,000
	Now   func() time.Time

	mu   sync.Mutex
	keys map[netip.Addr]*entry
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// NewLimiter allows burst requests at once and n per period after that.
func NewLimiter(n int, per time.Duration, burst int) *Limiter {
	return &Limiter{Rate: rate.Every(per / time.Duration(n)), Burst: burst}
}

// Allow reports whether addr may make a request now.
func (l *Limiter) Allow(addr netip.Addr) bool {
	ok, _, _ := l.take(addr)
	return ok
}

// take spends one of addr's tokens. It returns whether there was one, how long
// until there is one when not, and undo, which gives a spent token back.
func (l *Limiter) take(addr netip.Addr) (ok bool, wait time.Duration, undo func()) {
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		addr = p.Addr()
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[netip.Addr]*entry{}
	}
	e := l.keys[addr]
	if e == nil {
		max := l.Max
		if max <= 0 {
			max = 100_000
		}
		if len(l.keys) >= max {
			l.evict(now)
		}
		e = &entry{l: rate.NewLimiter(l.Rate, l.Burst)}
		l.keys[addr] = e
	}
	e.seen = now
	res := e.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 || !res.OK() {
		res.CancelAt(now)
		if !res.OK() {
			d = time.Hour
		}
		return false, d, func() {}
	}
	return true, 0, func() { res.CancelAt(now) }
}

// evict forgets keys idle longer than the median idle time.
func (l *Limiter) evict(now time.Time) {
	var total time.Duration
	for _, e := range l.keys {
		total += now.Sub(e.seen)
	}
	avg := total / time.Duration(len(l.keys))
	for k, e := range l.keys {
		if now.Sub(e.seen) >= avg {
			delete(l.keys, k)
		}
	}
}

// Check returns ErrRateLimited when r's client is over the limit, telling the
// true wait (RetryAfter, and the message), else spends one of its tokens.
func (l *Limiter) Check(r *http.Request, trustedHeader string) error {
	_, err := l.Reserve(r, trustedHeader)
	return err
}

// Reserve is Check, with undo to give the token back when the request turns out
// not to be what the limit counts, such as a form refused for a field's fault.
func (l *Limiter) Reserve(r *http.Request, trustedHeader string) (undo func(), err error) {
	ok, wait, undo := l.take(ClientAddr(r, trustedHeader))
	if ok {
		return undo, nil
	}
	return undo, &privacy.Error{Kind: privacy.ErrRateLimited, Message: "too many requests; try again in " + waitText(wait), RetryAfter: wait}
}

// waitText words d, rounded up to the unit it is given in.
func waitText(d time.Duration) string {
	unit, name := time.Second, "second"
	switch {
	case d > 90*time.Minute:
		unit, name = time.Hour, "hour"
	case d > 90*time.Second:
		unit, name = time.Minute, "minute"
	}
	n := int((d + unit - 1) / unit)
	if n <= 1 && name == "hour" {
		return "an hour"
	}
	if n <= 1 {
		return "a " + name
	}
	return strconv.Itoa(n) + " " + name + "s"
}
