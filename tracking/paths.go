package tracking

import (
	"fmt"
	"strings"
)

// pathMatcher turns a request path into the value counted for it: an allow-listed
// path, the pattern it matches, or Other. Counting patterns rather than raw paths
// keeps the table's size bounded by configuration, never by what visitors type.
type pathMatcher struct {
	vals     *valueTable
	other    uint32
	exact    map[string]uint32
	patterns []pathPattern
	mux      *interner // r.Pattern of the host's ServeMux, when enabled
	byPath   []pathPattern
	real     *interner // the paths byPath counts by name, at most maxPaths
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
	id   uint32
	segs []segment
}

// newPathMatcher parses the configured paths; errors name the field "Paths" or
// "ByPath".
func newPathMatcher(paths, byPath []string, maxPaths int, mux bool) (*pathMatcher, error) {
	m := &pathMatcher{vals: newValueTable(Other), exact: map[string]uint32{}}
	seen := map[string]bool{}
	for _, p := range byPath {
		if seen[p] {
			return nil, fmt.Errorf("tracking: ByPath: %q is listed twice", p)
		}
		seen[p] = true
		pat, err := parsePattern(p)
		if err != nil {
			return nil, fmt.Errorf("tracking: ByPath: %q: %w", p, err)
		}
		if pat == nil {
			return nil, fmt.Errorf("tracking: ByPath: %q has no wildcard: list it in Paths", p)
		}
		pat.id = m.vals.add(p)
		m.byPath = append(m.byPath, *pat)
	}
	if len(byPath) > 0 {
		m.real = newInterner(maxPaths, normRealPath, m.vals)
	}
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
			m.exact[p] = m.vals.add(p)
		} else {
			pat.id = m.vals.add(p)
			m.patterns = append(m.patterns, *pat)
		}
	}
	if mux {
		m.mux = newInterner(1000, normMuxPattern, m.vals)
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
	pat := &pathPattern{}
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

// match returns the id of the value counted for path, or for the mux pattern when
// no configured path matches. It does not allocate.
func (m *pathMatcher) match(path, muxPattern string) uint32 {
	if id, ok := m.exact[path]; ok {
		return id
	}
	for i := range m.byPath {
		if m.byPath[i].match(path) {
			if id := m.real.get(path); id != m.other {
				return id
			}
			// Past maxPaths, or a path no store could hold: the pattern counts.
			return m.byPath[i].id
		}
	}
	for i := range m.patterns {
		if m.patterns[i].match(path) {
			return m.patterns[i].id
		}
	}
	if m.mux != nil && muxPattern != "" {
		return m.mux.get(muxPattern)
	}
	return m.other
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

// normRealPath keeps a path a store can hold as it is.
func normRealPath(p string) (string, bool) {
	if checkValue(p) != nil || p == Other {
		return "", false
	}
	return strings.Clone(p), true
}

// normMuxPattern drops the method from a ServeMux pattern ("GET /blog/{slug}")
// and the "{$}" that ends one matching a single path.
func normMuxPattern(p string) (string, bool) {
	if i := strings.IndexByte(p, '/'); i > 0 {
		if j := strings.LastIndexByte(p[:i], ' '); j >= 0 {
			p = strings.TrimLeft(p[j:], " ")
		}
	}
	// "/{$}" matches only the path itself, so it counts as that path.
	p = strings.TrimSuffix(strings.TrimSpace(p), "{$}")
	if p == "" || checkValue(p) != nil {
		return "", false
	}
	return strings.Clone(p), true
}
