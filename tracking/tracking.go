package tracking

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

// A Dimension is one breakdown of page views. Each is kept in a table of its own and
// never combined with another, so no combination of values can single a visitor out.
type Dimension string

// The dimensions.
const (
	Paths     Dimension = "path"    // the page, bounded by the configured paths and patterns
	Domains   Dimension = "domain"  // the visitor's registrable domain from reverse DNS
	Browsers  Dimension = "browser" // browser family and major version, e.g. "Firefox 128"
	MIMETypes Dimension = "mime"    // the response's media type, e.g. "text/html"
	Bots      Dimension = "bots"    // one total of requests from bots and prefetches; its Value is ""
)

// Dimensions returns every dimension, in a fixed order.
func Dimensions() []Dimension { return []Dimension{Paths, Domains, Browsers, MIMETypes, Bots} }

// Valid reports whether d is one of the dimensions.
func (d Dimension) Valid() bool {
	switch d {
	case Paths, Domains, Browsers, MIMETypes, Bots:
		return true
	}
	return false
}

// A Period is the length of time one counter covers. Paths are counted per hour and
// the other dimensions per day; old counters are rolled up into coarser periods.
type Period string

// The periods, finest first.
const (
	Hour  Period = "hour"
	Day   Period = "day"
	Month Period = "month"
)

// Valid reports whether p is one of the periods.
func (p Period) Valid() bool { return p == Hour || p == Day || p == Month }

// Truncate returns the start, in UTC, of the period of kind p that contains t.
func (p Period) Truncate(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
}

// Next returns the start of the period of kind p that follows the one starting at start.
func (p Period) Next(start time.Time) time.Time {
	switch p {
	case Hour:
		return start.Add(time.Hour)
	case Day:
		return start.AddDate(0, 0, 1)
	default:
		return start.AddDate(0, 1, 0)
	}
}

// coarser reports whether p covers more time than q.
func (p Period) coarser(q Period) bool { return p.rank() > q.rank() }

func (p Period) rank() int {
	switch p {
	case Hour:
		return 1
	case Day:
		return 2
	case Month:
		return 3
	}
	return 0
}

// Values that stand for something other than themselves.
const (
	// Other collects paths outside the configured ones, and in reports every value seen
	// fewer than k times or beyond the top N.
	Other = "(other)"
	// Unresolved is the domain of a visitor whose address has no usable reverse DNS name
	// (or whose lookup did not finish in time).
	Unresolved = "(unresolved)"
	// Unknown is the browser of a user agent in which no browser family was recognised.
	Unknown = "(unknown)"
	// NoType is the media type of a response that had no Content-Type and no body.
	NoType = "(none)"
)

// MaxValueLen is the longest value, in characters, a counter may have.
const MaxValueLen = 255

// Count is one counter: N page views of Value in Dim during the Period starting at Start.
type Count struct {
	Dim    Dimension `json:"dimension"`
	Period Period    `json:"period"`
	Start  time.Time `json:"start"` // UTC, at the start of its period
	Value  string    `json:"value"` // "" for Bots
	N      int64     `json:"n"`
}

// Validate checks c as a Store accepts it: a known dimension and period, a start on a
// period boundary in UTC, a value of at most MaxValueLen characters of valid UTF-8
// without control characters or surrounding white space (empty for Bots, non-empty
// otherwise), and N >= 0. The error is ErrInvalid naming the field at fault.
func (c Count) Validate() error {
	switch {
	case !c.Dim.Valid():
		return privacy.Invalid("dimension", "unknown dimension %q", c.Dim)
	case !c.Period.Valid():
		return privacy.Invalid("period", "unknown period %q", c.Period)
	case !c.Period.Truncate(c.Start).Equal(c.Start):
		return privacy.Invalid("start", "%s is not the start of a %s", c.Start.UTC().Format(time.RFC3339Nano), c.Period)
	case c.N < 0:
		return privacy.Invalid("n", "must not be negative")
	case c.Dim == Bots && c.Value != "":
		return privacy.Invalid("value", "the bots total has no value")
	case c.Dim != Bots && c.Value == "":
		return privacy.Invalid("value", "is required")
	}
	return checkValue(c.Value)
}

func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return privacy.Invalid("value", "is not valid UTF-8")
	}
	if utf8.RuneCountInString(v) > MaxValueLen {
		return privacy.Invalid("value", "is longer than %d characters", MaxValueLen)
	}
	// MySQL's PAD SPACE collations would merge "a" and "a ", so no store may see either.
	if strings.TrimSpace(v) != v {
		return privacy.Invalid("value", "has leading or trailing white space")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return privacy.Invalid("value", "contains a control character")
		}
	}
	return nil
}

// Store keeps the counters. Its methods are safe for concurrent use, also by several
// processes sharing one database: every change is additive or moves counts without
// losing or doubling any.
type Store interface {
	// Add adds each count's N to the counter with the same dimension, period, start and
	// value, creating it when missing. Either every count is added or none is.
	//
	// key names the batch (see NewKey). A Store remembers the key of each batch it
	// added for at least KeyMemory, and adds nothing and returns nil when it is given a
	// key it remembers: a caller that cannot tell whether an Add took effect (the
	// connection was lost during the commit) sends the same batch under the same key
	// again, and it is counted once.
	//
	// Returns ErrInvalid (see CheckKey and Count.Validate) before adding anything if the
	// key or any count is invalid.
	Add(ctx context.Context, key string, counts []Count) error

	// Counts returns the counters of dim whose Start is in [from, to), of every period,
	// ordered by Start, then Period from finest, then Value. Returns ErrInvalid for an
	// unknown dimension.
	Counts(ctx context.Context, dim Dimension, from, to time.Time) ([]Count, error)

	// Rollup merges every counter of period from whose Start is before before into the
	// counter of period to that contains it, in every dimension, and returns how many
	// counters it merged away. Returns ErrInvalid unless to is coarser than from and
	// before is the start of a period to.
	Rollup(ctx context.Context, from, to Period, before time.Time) (int, error)

	// DeleteBefore deletes every counter whose Start is before before, in every
	// dimension, and returns how many it deleted.
	DeleteBefore(ctx context.Context, before time.Time) (int, error)
}

// CheckRollup validates Rollup's arguments as every Store must: ErrInvalid unless to is
// coarser than from and before is the start of a period to.
func CheckRollup(from, to Period, before time.Time) error {
	switch {
	case !from.Valid():
		return privacy.Invalid("from", "unknown period %q", from)
	case !to.Valid():
		return privacy.Invalid("to", "unknown period %q", to)
	case !to.coarser(from):
		return privacy.Invalid("to", "a %s is not coarser than a %s", to, from)
	case !to.Truncate(before).Equal(before):
		return privacy.Invalid("before", "is not the start of a %s", to)
	}
	return nil
}

// KeyMemory is how long a Store remembers the key of a batch it added, at least.
const KeyMemory = 24 * time.Hour

// MaxKeyLen is the longest key a Store accepts.
const MaxKeyLen = 64

// NewKey returns a fresh random key for a batch of counts (see Store.Add).
func NewKey() string { return rand.Text() }

// CheckKey validates a batch's key as every Store must: ErrInvalid unless it is 1 to
// MaxKeyLen ASCII letters, digits, '-', '_' or '.'.
func CheckKey(key string) error {
	if key == "" {
		return privacy.Invalid("key", "is empty")
	}
	if len(key) > MaxKeyLen {
		return privacy.Invalid("key", "is longer than %d bytes", MaxKeyLen)
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return privacy.Invalid("key", "may hold only ASCII letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}
