// Package memstore keeps contact requests in memory: the embedded default for
// trials and the store for unit tests. Nothing survives a restart.
//
// Its unit of work (Do) is privacy.MemoryWork: every write records its undo, so a
// request whose notification fails to queue is taken back, and the privacy
// memstore's outbox holds the notification until the unit commits.
package memstore

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/privacy"
)

// Store implements contact.Store in memory. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	nextID   int64
	requests map[string]*contact.Request // by ref; Thread held here
}

var _ contact.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{requests: map[string]*contact.Request{}} }

func (s *Store) id() int64 { s.nextID++; return s.nextID }

// copyOf returns r detached from the store, its thread copied when withThread.
func copyOf(r *contact.Request, withThread bool) contact.Request {
	c := *r
	c.Replies = len(r.Thread)
	c.Thread = nil
	if withThread && len(r.Thread) > 0 {
		c.Thread = slices.Clone(r.Thread)
	}
	return c
}

// Do implements privacy.UnitOfWork.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return privacy.MemoryWork(ctx, fn)
}

// Database implements privacy.UnitOfWork.
func (s *Store) Database() string { return privacy.MemoryDatabase }

// Create implements contact.Store.
func (s *Store) Create(ctx context.Context, r *contact.Request) error {
	s.mu.Lock()
	if _, ok := s.requests[r.Ref]; ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "reference %s is taken", r.Ref)
	}
	r.ID = s.id()
	stored := copyOf(r, true)
	s.requests[r.Ref] = &stored
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.requests, stored.Ref)
		s.mu.Unlock()
	})
	return nil
}

// Get implements contact.Store.
func (s *Store) Get(ctx context.Context, ref string) (contact.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[ref]
	if !ok {
		return contact.Request{}, privacy.Errorf(privacy.ErrNotFound, "no such contact request")
	}
	return copyOf(r, true), nil
}

// sorted returns the requests matching keep, ordered by ascending ID.
func (s *Store) sorted(keep func(*contact.Request) bool) []*contact.Request {
	var out []*contact.Request
	for _, r := range s.requests {
		if keep(r) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// List implements contact.Store.
func (s *Store) List(ctx context.Context, f contact.Filter) ([]contact.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.sorted(func(r *contact.Request) bool { return f.Status == "" || r.Status == f.Status })
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Created.Equal(rs[j].Created) {
			return rs[i].Created.After(rs[j].Created)
		}
		return rs[i].ID > rs[j].ID
	})
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	out := []contact.Request{}
	for i := f.Offset; i < len(rs) && len(out) < limit; i++ {
		c := copyOf(rs[i], false)
		c.Message = ""
		out = append(out, c)
	}
	return out, nil
}

// AddReply implements contact.Store.
func (s *Store) AddReply(ctx context.Context, ref string, decide func(contact.Request) (contact.Reply, error)) (contact.Reply, error) {
	s.mu.Lock()
	r, ok := s.requests[ref]
	if !ok {
		s.mu.Unlock()
		return contact.Reply{}, privacy.Errorf(privacy.ErrNotFound, "no such contact request")
	}
	rep, err := decide(copyOf(r, false))
	if err != nil {
		s.mu.Unlock()
		return contact.Reply{}, err
	}
	rep.ID = s.id()
	prevUpdated := r.Updated
	r.Thread = append(r.Thread, rep)
	r.Updated = rep.At
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		if r, ok := s.requests[ref]; ok {
			r.Thread = slices.DeleteFunc(r.Thread, func(x contact.Reply) bool { return x.ID == rep.ID })
			r.Updated = prevUpdated
		}
		s.mu.Unlock()
	})
	return rep, nil
}

// Close implements contact.Store.
func (s *Store) Close(ctx context.Context, ref string, at time.Time) error {
	s.mu.Lock()
	r, ok := s.requests[ref]
	if !ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrNotFound, "no such contact request")
	}
	if r.Status != contact.StatusOpen {
		s.mu.Unlock()
		return nil
	}
	prev := *r
	r.Status, r.Closed, r.Updated = contact.StatusClosed, at, at
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		if r, ok := s.requests[ref]; ok {
			r.Status, r.Closed, r.Updated = prev.Status, prev.Closed, prev.Updated
		}
		s.mu.Unlock()
	})
	return nil
}

// Reopen implements contact.Store.
func (s *Store) Reopen(ctx context.Context, ref string, at time.Time) error {
	s.mu.Lock()
	r, ok := s.requests[ref]
	if !ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrNotFound, "no such contact request")
	}
	if r.Status != contact.StatusClosed {
		s.mu.Unlock()
		return nil
	}
	prev := *r
	r.Status, r.Closed, r.Updated = contact.StatusOpen, time.Time{}, at
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		if r, ok := s.requests[ref]; ok {
			r.Status, r.Closed, r.Updated = prev.Status, prev.Closed, prev.Updated
		}
		s.mu.Unlock()
	})
	return nil
}

// Answerable implements contact.Store.
func (s *Store) Answerable(ctx context.Context, email string, closedSince time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r.Email == email && (r.Status == contact.StatusOpen || !r.Closed.Before(closedSince)) {
			return true, nil
		}
	}
	return false, nil
}

// AckedSince implements contact.Store.
func (s *Store) AckedSince(ctx context.Context, email string, since time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r.AckSent && sameAddress(r.Email, email) && !r.Created.Before(since) {
			return true, nil
		}
	}
	return false, nil
}

// ByEmail implements contact.Store.
func (s *Store) ByEmail(ctx context.Context, email string) ([]contact.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []contact.Request
	for _, r := range s.sorted(func(r *contact.Request) bool { return sameAddress(r.Email, email) }) {
		out = append(out, copyOf(r, true))
	}
	return out, nil
}

// EraseEmail implements contact.Store.
func (s *Store) EraseEmail(ctx context.Context, email string) (int, error) {
	return s.remove(ctx, func(r *contact.Request) bool { return sameAddress(r.Email, email) }), nil
}

// Purge implements contact.Store.
func (s *Store) Purge(ctx context.Context, t time.Time) (int, error) {
	return s.remove(ctx, func(r *contact.Request) bool { return r.Status == contact.StatusClosed && r.Closed.Before(t) }), nil
}

// sameAddress matches addresses as every look-up by address does.
func sameAddress(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

func (s *Store) remove(ctx context.Context, match func(*contact.Request) bool) int {
	s.mu.Lock()
	removed := map[string]*contact.Request{}
	for ref, r := range s.requests {
		if match(r) {
			removed[ref] = r
			delete(s.requests, ref)
		}
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		maps.Copy(s.requests, removed)
		s.mu.Unlock()
	})
	return len(removed)
}
