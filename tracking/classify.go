package tracking

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// classifier reduces a user-agent string to a browser family and major version, or
// to a bot. Parsing takes about a microsecond, so results are remembered in a
// direct-mapped table keyed by a keyed hash of the string: the table holds no
// user-agent string, only which label a hash stands for, and it lives in memory only.
type classifier struct {
	parser *useragent.Parser
	seed   maphash.Seed
	slots  [4096]atomic.Uint64 // hash's top 48 bits << 16 | label index + 1; 0 = empty

	mu     sync.Mutex
	index  map[browserKey]uint16
	labels atomic.Pointer[[]string] // by index; labels are replaced, never changed
}

type browserKey struct {
	family agents.Browser
	major  int32
}

// Label indexes with a meaning of their own.
const (
	botLabel     = 0
	unknownLabel = 1
)

// maxMajor is the largest major version taken as real: the fastest-moving
// browsers (Chrome, Edge, Firefox) were near 145 in 2026 and gain about 13 a year.
// A larger one counts as the family alone, so made-up versions cannot grow the
// table: at most maxMajor+2 labels per family, and the families are the parser's
// fixed set.
const maxMajor = 299

// maxLabels is a last bound on the table, far above what the families and
// plausible versions can fill, so a flood never crowds out a real version.
const maxLabels = 1 << 15

func newClassifier() *classifier {
	c := &classifier{parser: useragent.NewParser(), seed: maphash.MakeSeed(), index: map[browserKey]uint16{}}
	c.labels.Store(&[]string{botLabel: "", unknownLabel: Unknown})
	return c
}

// classify returns the id of the browser value for ua, or bot = true. It does not
// allocate once a user agent with the same label has been seen.
func (c *classifier) classify(ua string) (browser uint32, bot bool) {
	if len(ua) > 1024 || strings.TrimSpace(ua) == "" {
		// No person's browser sends an empty user agent or one of more than a kilobyte.
		return 0, true
	}
	h := maphash.String(c.seed, ua)
	slot := &c.slots[h&uint64(len(c.slots)-1)]
	i := 0
	if v := slot.Load(); v != 0 && v>>16 == h>>16 {
		i = int(v&0xffff) - 1
	} else {
		i = c.parse(ua)
		slot.Store(h>>16<<16 | uint64(i+1))
	}
	return uint32(i), i == botLabel
}

// name returns the browser value with the given id.
func (c *classifier) name(id uint32) string {
	if labels := *c.labels.Load(); int(id) < len(labels) && id != botLabel {
		return labels[id]
	}
	return Unknown
}

// parse returns the label index for ua.
func (c *classifier) parse(ua string) int {
	a := c.parser.Parse(ua)
	if a.IsBot() || looksLikeBot(ua) {
		return botLabel
	}
	family := a.Browser()
	if family == "" {
		return unknownLabel
	}
	k := browserKey{family: family, major: majorVersion(a.BrowserVersion())}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[k]; ok {
		return int(i)
	}
	old := *c.labels.Load()
	if len(old) >= maxLabels {
		k.major = -1
		if i, ok := c.index[k]; ok {
			return int(i)
		}
	}
	v := string(k.family)
	if k.major >= 0 {
		v += " " + strconv.Itoa(int(k.major))
	}
	labels := append(old[:len(old):len(old)], v)
	c.index[k] = uint16(len(labels) - 1)
	c.labels.Store(&labels)
	return len(labels) - 1
}

// majorVersion returns the leading number of v, or -1 when there is none or it is
// above maxMajor.
func majorVersion(v string) int32 {
	n := int32(0)
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if i == 3 {
			return -1
		}
		n = n*10 + int32(v[i]-'0')
	}
	if i == 0 || n > maxMajor {
		return -1
	}
	return n
}

// botTokens catch automated clients the user-agent parser does not flag. Each is
// matched case-insensitively anywhere in the string.
var botTokens = []string{"spider", "crawl", "python", "wget", "scrapy", "libwww", "httpclient", "http-client", "+http", "headless", "lighthouse", "monitor", "preview", "fetch"}

func looksLikeBot(ua string) bool {
	for _, t := range botTokens {
		if containsFold(ua, t) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII token t, ignoring the
// case of s, without allocating.
func containsFold(s, t string) bool {
	first := t[0]
	for i := 0; i+len(t) <= len(s); i++ {
		if s[i]|0x20 != first {
			continue
		}
		j := 1
		for ; j < len(t); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != t[j] {
				break
			}
		}
		if j == len(t) {
			return true
		}
	}
	return false
}

// isPrefetch reports whether the browser is loading the page speculatively, before
// (or without) anyone looking at it.
func isPrefetch(h http.Header) bool {
	for _, k := range [...]string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		for _, v := range h[k] {
			if containsFold(v, "prefetch") || containsFold(v, "preview") || containsFold(v, "prerender") {
				return true
			}
		}
	}
	return false
}

// normMIME reduces a Content-Type header value to its lower-case media type, or
// reports that it is not one.
func normMIME(raw string) (string, bool) {
	t, _, _ := strings.Cut(raw, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || !isToken(typ) || !isToken(sub) || len(t) > 127 {
		return "", false
	}
	return t, true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
