package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

// Store implements tracking.Store in memory.
type Store struct {
	mu     sync.Mutex
	rows   map[key]int64
	added  map[string]time.Time // the batches' keys, and when each was added
	pruned time.Time            // when added was last pruned
}

type key struct {
	dim    tracking.Dimension
	period tracking.Period
	start  int64 // unix seconds
	value  string
}

var _ tracking.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{rows: map[key]int64{}, added: map[string]time.Time{}} }

func keyOf(c tracking.Count) key {
	return key{dim: c.Dim, period: c.Period, start: c.Start.Unix(), value: c.Value}
}

// Add implements tracking.Store.
func (s *Store) Add(ctx context.Context, batch string, counts []tracking.Count) error {
	if err := tracking.CheckKey(batch); err != nil {
		return err
	}
	for _, c := range counts {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	if len(counts) == 0 {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.pruned) > time.Hour {
		for k, at := range s.added {
			if now.Sub(at) > tracking.KeyMemory {
				delete(s.added, k)
			}
		}
		s.pruned = now
	}
	if _, ok := s.added[batch]; ok {
		return nil
	}
	s.added[batch] = now
	for _, c := range counts {
		s.rows[keyOf(c)] += c.N
	}
	return nil
}

// Counts implements tracking.Store.
func (s *Store) Counts(ctx context.Context, dim tracking.Dimension, from, to time.Time) ([]tracking.Count, error) {
	if !dim.Valid() {
		return nil, privacy.Invalid("dimension", "unknown dimension %q", dim)
	}
	s.mu.Lock()
	out := []tracking.Count{}
	for k, n := range s.rows {
		start := time.Unix(k.start, 0).UTC()
		if k.dim == dim && !start.Before(from) && start.Before(to) {
			out = append(out, tracking.Count{Dim: k.dim, Period: k.period, Start: start, Value: k.value, N: n})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b tracking.Count) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(rank(a.Period), rank(b.Period)), cmp.Compare(a.Value, b.Value))
	})
	return out, nil
}

func rank(p tracking.Period) int {
	return slices.Index([]tracking.Period{tracking.Hour, tracking.Day, tracking.Month}, p)
}

// Rollup implements tracking.Store.
func (s *Store) Rollup(ctx context.Context, from, to tracking.Period, before time.Time) (int, error) {
	if err := tracking.CheckRollup(from, to, before); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	merged := 0
	for k, n := range s.rows {
		if k.period != from || k.start >= before.Unix() {
			continue
		}
		delete(s.rows, k)
		merged++
		k.period, k.start = to, to.Truncate(time.Unix(k.start, 0)).Unix()
		s.rows[k] += n
	}
	return merged, nil
}

// DeleteBefore implements tracking.Store.
func (s *Store) DeleteBefore(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deleted := 0
	for k := range s.rows {
		if time.Unix(k.start, 0).Before(before) {
			delete(s.rows, k)
			deleted++
		}
	}
	return deleted, nil
}
