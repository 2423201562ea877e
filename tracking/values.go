package tracking

import (
	"strings"
	"sync"
	"sync/atomic"
)

// The request path counts small integer ids, not strings: a map keyed by one uint64
// is several times cheaper than one keyed by a string. Each dimension's ids are
// turned back into values at flush time.

// valueTable numbers the values of one dimension. Reads take no lock: the list of
// names is replaced, never changed. Callers bound how many values it gets.
type valueTable struct {
	mu    sync.Mutex
	ids   map[string]uint32
	names atomic.Pointer[[]string]
}

func newValueTable(initial ...string) *valueTable {
	t := &valueTable{ids: map[string]uint32{}}
	t.names.Store(&[]string{})
	for _, v := range initial {
		t.add(v)
	}
	return t
}

// add returns v's id, numbering it if it is new.
func (t *valueTable) add(v string) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[v]; ok {
		return id
	}
	old := *t.names.Load()
	names := append(old[:len(old):len(old)], v)
	id := uint32(len(old))
	t.ids[v] = id
	t.names.Store(&names)
	return id
}

func (t *valueTable) len() int { return len(*t.names.Load()) }

// name returns the value numbered id, or "" for an id it never gave.
func (t *valueTable) name(id uint32) string {
	if names := *t.names.Load(); int(id) < len(names) {
		return names[id]
	}
	return ""
}

// interner maps a raw string the request path sees (a header value, a mux pattern)
// to the id of its normalised, counted value. Reads take no lock. At most max raw
// strings are remembered; past that, new ones count as Other, which bounds both
// memory and the table's size.
type interner struct {
	m     atomic.Pointer[map[string]uint32]
	mu    sync.Mutex
	max   int
	norm  func(raw string) (string, bool)
	vals  *valueTable
	other uint32
}

func newInterner(max int, norm func(string) (string, bool), vals *valueTable) *interner {
	in := &interner{max: max, norm: norm, vals: vals, other: vals.add(Other)}
	in.m.Store(&map[string]uint32{})
	return in
}

func (in *interner) get(raw string) uint32 {
	if id, ok := (*in.m.Load())[raw]; ok {
		return id
	}
	return in.add(raw)
}

func (in *interner) add(raw string) uint32 {
	in.mu.Lock()
	defer in.mu.Unlock()
	old := *in.m.Load()
	if id, ok := old[raw]; ok {
		return id
	}
	if len(old) >= in.max {
		return in.other
	}
	id := in.other
	if v, ok := in.norm(raw); ok {
		id = in.vals.add(v)
	}
	m := make(map[string]uint32, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[strings.Clone(raw)] = id
	in.m.Store(&m)
	return id
}

// domainTable numbers visitor domains. Unlike the other dimensions their number grows
// with time, so when the table is full the next flush starts a new generation: a
// fresh table, with cache entries of the old one treated as misses. Ids carry the
// generation's parity, so a hit counted with an old id just before the switch is
// still named by the previous table.
type domainTable struct {
	mu     sync.Mutex
	gen    atomic.Uint32
	tables [2]*valueTable
	max    int
}

const (
	parityBit  = 1 << 28
	unresolved = 0 // the id of Unresolved in every generation's table
)

func newDomainTable(max int) *domainTable {
	d := &domainTable{max: max}
	d.tables[0] = newValueTable(Unresolved)
	d.tables[1] = newValueTable(Unresolved)
	return d
}

// id numbers domain in the current generation and returns that generation.
func (d *domainTable) id(domain string) (uint32, uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	gen := d.gen.Load()
	return uint32(gen&1)*parityBit | d.tables[gen&1].add(domain), gen
}

func (d *domainTable) name(id uint32) string {
	d.mu.Lock()
	t := d.tables[id/parityBit&1]
	d.mu.Unlock()
	if v := t.name(id &^ parityBit); v != "" {
		return v
	}
	return Unresolved
}

// rotate starts a new generation if the current table is full. Call it between
// flushes, never twice within one flush interval.
func (d *domainTable) rotate() {
	d.mu.Lock()
	defer d.mu.Unlock()
	gen := d.gen.Load()
	if d.tables[gen&1].len() < d.max {
		return
	}
	d.tables[(gen+1)&1] = newValueTable(Unresolved)
	d.gen.Store(gen + 1)
}
