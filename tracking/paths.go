package tracking

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// pathMatcher turns a request path into the value counted for it: an allow-listed
// path, the pattern it matches, or Other. Counting patterns rather than raw paths
// keeps the table's size bounded by configuration, never by what visitors type.
type pathMatcher struct {
	exact    map[string]string
	patterns []pathPattern
	mux      *interner // r.Pattern of the host's ServeMux, when enabled
}

type segKind uint8

const (
	literal segKind = iota
	wildcard
	rest // {name...}: the rest of the path, at least its leading slash
)

type segment struct {
	kind segKind
	lit  string
}

type pathPattern struct {
	value string
	segs  []segment
}

// newPathMatcher parses the configured paths; errors name the field "Paths".
func newPathMatcher(paths []string, mux bool) (*pathMatcher, error) {
	m := &pathMatcher{exact: map[string]string{}}
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			return nil, fmt.Errorf("tracking: Paths: %q is listed twice", p)
		}
		seen[p] = true
		pat, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("tracking: Paths: %q: %w", p, err)
		}
		if pat == nil {
			m.exact[p] = p
		} else {
			m.patterns = append(m.patterns, *pat)
		}
	}
	if mux {
		m.mux = newInterner(1000, normMuxPattern)
	}
	return m, nil
}

// parsePattern returns nil for a path without wildcards.
func parsePattern(p string) (*pathPattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("must start with /")
	}
	if strings.ContainsAny(p, "?#") {
		return nil, fmt.Errorf("must not hold a query or fragment; the query is never counted")
	}
	if err := checkValue(p); err != nil {
		return nil, err
	}
	parts := strings.Split(p[1:], "/")
	pat := &pathPattern{value: p}
	wild := false
	for i, s := range parts {
		if !strings.ContainsAny(s, "{}") {
			pat.segs = append(pat.segs, segment{kind: literal, lit: s})
			continue
		}
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || strings.Count(s, "{") != 1 || strings.Count(s, "}") != 1 {
			return nil, fmt.Errorf("a wildcard must be a whole segment, like /blog/{slug}")
		}
		name, isRest := strings.CutSuffix(s[1:len(s)-1], "...")
		if !isName(name) {
			return nil, fmt.Errorf("wildcard %q needs a name of letters, digits and _", s)
		}
		wild = true
		if isRest {
			if i != len(parts)-1 {
				return nil, fmt.Errorf("%s must be the last segment", s)
			}
			pat.segs = append(pat.segs, segment{kind: rest})
		} else {
			pat.segs = append(pat.segs, segment{kind: wildcard})
		}
	}
	if !wild {
		return nil, nil
	}
	return pat, nil
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// match returns the counted value for path, and for the mux pattern when the first
// does not match. It does not allocate.
func (m *pathMatcher) match(path, muxPattern string) string {
	if v, ok := m.exact[path]; ok {
		return v
	}
	for i := range m.patterns {
		if m.patterns[i].match(path) {
			return m.patterns[i].value
		}
	}
	if m.mux != nil && muxPattern != "" {
		return m.mux.get(muxPattern)
	}
	return Other
}

func (p *pathPattern) match(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	remaining := path[1:]
	done := false
	for _, s := range p.segs {
		if done {
			return false
		}
		if s.kind == rest {
			return true
		}
		var seg string
		if j := strings.IndexByte(remaining, '/'); j >= 0 {
			seg, remaining = remaining[:j], remaining[j+1:]
		} else {
			seg, done = remaining, true
		}
		if s.kind == literal && seg != s.lit || s.kind == wildcard && seg == "" {
			return false
		}
	}
	return done
}

// normMuxPattern drops the method from a ServeMux pattern ("GET /blog/{slug}").
func normMuxPattern(p string) (string, bool) {
	if i := strings.IndexByte(p, '/'); i > 0 {
		if j := strings.LastIndexByte(p[:i], ' '); j >= 0 {
			p = strings.TrimLeft(p[j:], " ")
		}
	}
	p = strings.TrimSpace(p)
	if p == "" || checkValue(p) != nil {
		return "", false
	}
	return strings.Clone(p), true
}

// interner maps a raw string the request path sees (a header value, a mux pattern)
// to its normalised, counted form. Reads take no lock: the map is replaced, never
// changed, so the request path only loads a pointer. At most max raw strings are kept;
// past that, new ones count as Other, which bounds both memory and the table's size.
type interner struct {
	m    atomic.Pointer[map[string]string]
	mu   sync.Mutex
	max  int
	norm func(raw string) (string, bool)
}

func newInterner(max int, norm func(string) (string, bool)) *interner {
	in := &interner{max: max, norm: norm}
	in.m.Store(&map[string]string{})
	return in
}

func (in *interner) get(raw string) string {
	if v, ok := (*in.m.Load())[raw]; ok {
		return v
	}
	return in.add(raw)
}

func (in *interner) add(raw string) string {
	v, ok := in.norm(raw)
	if !ok {
		v = Other
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.m.Load()
	if got, ok := old[raw]; ok {
		return got
	}
	if len(old) >= in.max {
		return Other
	}
	m := make(map[string]string, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[strings.Clone(raw)] = v
	in.m.Store(&m)
	return v
}
