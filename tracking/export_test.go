package tracking

// Internals the external tests exercise directly.

// Classifier classifies user agents as the tracker does.
type Classifier struct{ c *classifier }

// NewClassifier returns a Classifier.
func NewClassifier() Classifier { return Classifier{newClassifier()} }

// Classify returns the browser value of ua, or bot.
func (c Classifier) Classify(ua string) (string, bool) {
	id, bot := c.c.classify(ua)
	if bot {
		return "", true
	}
	return c.c.name(id), false
}

// PathMatcher matches paths as the tracker does.
type PathMatcher struct{ m *pathMatcher }

// NewPathMatcher parses paths as NewTracker does.
func NewPathMatcher(paths []string, mux bool) (PathMatcher, error) {
	m, err := newPathMatcher(paths, nil, 0, mux)
	return PathMatcher{m}, err
}

// NewPathMatcherByPath parses paths and byPath as NewTracker does.
func NewPathMatcherByPath(paths, byPath []string, maxPaths int, mux bool) (PathMatcher, error) {
	m, err := newPathMatcher(paths, byPath, maxPaths, mux)
	return PathMatcher{m}, err
}

// Match returns the value counted for path (and the mux pattern).
func (m PathMatcher) Match(path, muxPattern string) string {
	return m.m.vals.name(m.m.match(path, muxPattern))
}

// NormMIME normalises a Content-Type value.
func NormMIME(raw string) (string, bool) { return normMIME(raw) }

// Parse classifies ua without the cache: what one distinct string costs.
func (c Classifier) Parse(ua string) (string, bool) {
	id := uint32(c.c.parse(ua))
	if id == botLabel {
		return "", true
	}
	return c.c.name(id), false
}
