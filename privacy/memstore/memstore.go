// Package memstore keeps the privacy kernel's outbox, consent records and access log
// in memory: the embedded default for trials and the store for unit tests. Nothing
// survives a restart.
package memstore

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Store implements privacy.Store in memory. It is safe for concurrent use.
type Store struct {
	mu         sync.Mutex
	nextID     int64
	outbox     map[int64]*entry
	suppressed map[string]string
	consents   []privacy.Consent
	access     []privacy.Access
	requests   map[int64]privacy.RightsRequest
	events     []privacy.RightsEvent
	disclosed  []privacy.Disclosure
	counts     map[string]*mailCount
}

type mailCount struct {
	n    int
	ends time.Time
}

type entry struct {
	item   privacy.Item
	state  string // held (until its unit of work commits), queued, sent, failed
	owner  string
	lease  time.Time
	due    time.Time
	ended  time.Time
	reason string
}

var (
	_ privacy.Store        = (*Store)(nil)
	_ privacy.LeasingStore = (*Store)(nil)
)

// same compares two addresses as every look-up by address does.
func same(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

// New returns an empty store.
func New() *Store {
	return &Store{outbox: map[int64]*entry{}, suppressed: map[string]string{}, requests: map[int64]privacy.RightsRequest{},
		counts: map[string]*mailCount{}}
}

func (s *Store) id() int64 { s.nextID++; return s.nextID }

// Do implements privacy.UnitOfWork with an undo journal (privacy.MemoryWork).
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return privacy.MemoryWork(ctx, fn)
}

// Database implements privacy.UnitOfWork.
func (s *Store) Database() string { return privacy.MemoryDatabase }

// Enqueue implements privacy.OutboxStore.
func (s *Store) Enqueue(ctx context.Context, msg *privacy.Message) (int64, error) {
	ids, _ := s.EnqueueBatch(ctx, []*privacy.Message{msg})
	if ids[0] == 0 {
		return 0, &privacy.RefusalError{Reason: privacy.RefusedSuppressed, Purpose: msg.Purpose}
	}
	return ids[0], nil
}

// EnqueueLeased implements privacy.LeasingStore.
func (s *Store) EnqueueLeased(ctx context.Context, msg *privacy.Message, owner string, until time.Time) (int64, error) {
	if privacy.InUnitOfWork(ctx) {
		return 0, privacy.ErrInUnitOfWork
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.suppressed[privacy.SuppressionKey(msg.To.Email)]; ok {
		return 0, &privacy.RefusalError{Reason: privacy.RefusedSuppressed, Purpose: msg.Purpose}
	}
	id := s.id()
	s.outbox[id] = &entry{item: privacy.Item{ID: id, Message: *msg, Created: time.Now().UTC()}, state: "queued", owner: owner, lease: until}
	return id, nil
}

// EnqueueBatch implements privacy.OutboxStore.
func (s *Store) EnqueueBatch(ctx context.Context, msgs []*privacy.Message) ([]int64, error) {
	return s.EnqueueBatchLeased(ctx, msgs, "", time.Time{})
}

// EnqueueBatchLeased implements privacy.LeasingStore.
func (s *Store) EnqueueBatchLeased(ctx context.Context, msgs []*privacy.Message, owner string, until time.Time) ([]int64, error) {
	ids := make([]int64, len(msgs))
	var added []*entry
	s.mu.Lock()
	for i, msg := range msgs {
		if _, ok := s.suppressed[privacy.SuppressionKey(msg.To.Email)]; ok {
			continue
		}
		ids[i] = s.id()
		// Held until its unit of work commits: the message of a change undone is
		// never sent.
		e := &entry{item: privacy.Item{ID: ids[i], Message: *msg, Created: time.Now().UTC()}, state: "held", owner: owner, lease: until}
		s.outbox[ids[i]] = e
		added = append(added, e)
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		for _, e := range added {
			delete(s.outbox, e.item.ID)
		}
		s.mu.Unlock()
	})
	privacy.OnCommit(ctx, func() {
		s.mu.Lock()
		for _, e := range added {
			e.state = "queued"
		}
		s.mu.Unlock()
	})
	return ids, nil
}

// Claim implements privacy.OutboxStore.
func (s *Store) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]privacy.Item, error) {
	return s.MarkSentAndClaim(ctx, owner, nil, limit, now, lease)
}

// MarkSentAndClaim implements privacy.OutboxStore.
func (s *Store) MarkSentAndClaim(ctx context.Context, owner string, sent []int64, limit int, now time.Time, lease time.Duration) ([]privacy.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markSent(owner, sent, now)
	var due []*entry
	for _, e := range s.outbox {
		if e.state == "queued" && !e.due.After(now) && (e.owner == "" || !e.lease.After(now)) {
			due = append(due, e)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].item.ID < due[j].item.ID })
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]privacy.Item, 0, len(due))
	for _, e := range due {
		if e.owner != "" {
			e.item.Attempts++ // its worker died mid-attempt
		}
		e.owner, e.lease = owner, now.Add(lease)
		it := e.item
		_, it.Suppressed = s.suppressed[privacy.SuppressionKey(it.Message.To.Email)]
		out = append(out, it)
	}
	return out, nil
}

func (s *Store) held(owner string, id int64) *entry {
	if e := s.outbox[id]; e != nil && e.state == "queued" && e.owner == owner {
		return e
	}
	return nil
}

// MarkSent implements privacy.OutboxStore.
func (s *Store) MarkSent(ctx context.Context, owner string, ids []int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markSent(owner, ids, now)
	return nil
}

func (s *Store) markSent(owner string, ids []int64, now time.Time) {
	for _, id := range ids {
		if e := s.held(owner, id); e != nil {
			e.state, e.owner, e.ended = "sent", "", now
		}
	}
}

// Retry implements privacy.OutboxStore.
func (s *Store) Retry(ctx context.Context, owner string, id int64, next time.Time, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.held(owner, id); e != nil {
		e.owner, e.due, e.reason = "", next, reason
		e.item.Attempts++
	}
	return nil
}

// MarkFailed implements privacy.OutboxStore.
func (s *Store) MarkFailed(ctx context.Context, owner string, id int64, reason string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.held(owner, id); e != nil {
		e.state, e.owner, e.ended, e.reason = "failed", "", now, reason
	}
	return nil
}

// Release implements privacy.OutboxStore.
func (s *Store) Release(ctx context.Context, owner string, ids []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if e := s.held(owner, id); e != nil {
			e.owner = ""
		}
	}
	return nil
}

// Suppress implements privacy.OutboxStore.
func (s *Store) Suppress(ctx context.Context, addr, reason string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suppressed[privacy.SuppressionKey(addr)] = reason
	return nil
}

// Suppressed implements privacy.OutboxStore.
func (s *Store) Suppressed(ctx context.Context, addr string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.suppressed[privacy.SuppressionKey(addr)]
	return ok, nil
}

// Recipient implements privacy.OutboxStore.
func (s *Store) Recipient(ctx context.Context, id int64) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.outbox[id]
	if !ok {
		return "", privacy.Errorf(privacy.ErrNotFound, "outbox message %d not found", id)
	}
	return e.item.Message.To.Email, nil
}

// OutboxStats implements privacy.OutboxStore.
func (s *Store) OutboxStats(ctx context.Context, ref string) (privacy.OutboxStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st privacy.OutboxStats
	for _, e := range s.outbox {
		if ref != "" && e.item.Message.Ref != ref {
			continue
		}
		switch e.state {
		case "queued", "held":
			st.Queued++
		case "sent":
			st.Sent++
		default:
			st.Failed++
		}
	}
	return st, nil
}

// PurgeOutbox implements privacy.OutboxStore.
func (s *Store) PurgeOutbox(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, e := range s.outbox {
		if e.state != "queued" && e.state != "held" && e.ended.Before(t) {
			delete(s.outbox, id)
			n++
		}
	}
	return n, nil
}

// EraseOutbox implements privacy.OutboxStore.
func (s *Store) EraseOutbox(ctx context.Context, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, e := range s.outbox {
		if same(e.item.Message.DataSubject, subject) || same(e.item.Message.To.Email, subject) {
			delete(s.outbox, id)
			n++
		}
	}
	return n, nil
}

// CountMail implements privacy.OutboxStore.
func (s *Store) CountMail(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	s.mu.Lock()
	prev := s.counts[key]
	c := prev
	if c == nil || !c.ends.After(now) {
		c = &mailCount{ends: now.Add(window)}
		s.counts[key] = c
	}
	c.n++
	n := c.n
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case s.counts[key] != c:
		case c != prev && prev == nil:
			delete(s.counts, key)
		case c != prev:
			s.counts[key] = prev
		default:
			c.n--
		}
	})
	return n, nil
}

// PurgeMailCounts implements privacy.OutboxStore.
func (s *Store) PurgeMailCounts(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.counts {
		if !c.ends.After(t) {
			delete(s.counts, k)
			n++
		}
	}
	return n, nil
}

// AppendConsent implements privacy.ConsentStore.
func (s *Store) AppendConsent(ctx context.Context, c *privacy.Consent) error {
	s.mu.Lock()
	c.ID = s.id()
	s.consents = append(s.consents, *c)
	s.mu.Unlock()
	id := c.ID
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		s.consents = slices.DeleteFunc(s.consents, func(c privacy.Consent) bool { return c.ID == id })
		s.mu.Unlock()
	})
	return nil
}

// ConsentHistory implements privacy.ConsentStore.
func (s *Store) ConsentHistory(ctx context.Context, subject string) ([]privacy.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []privacy.Consent
	for _, c := range s.consents {
		if same(c.Subject, subject) {
			out = append(out, c)
		}
	}
	return out, nil
}

// ConsentsAfter implements privacy.ConsentStore.
func (s *Store) ConsentsAfter(ctx context.Context, after int64, limit int) ([]privacy.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []privacy.Consent
	for _, c := range s.consents {
		if c.ID > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// EraseConsents implements privacy.ConsentStore.
func (s *Store) EraseConsents(ctx context.Context, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.consents)
	s.consents = slices.DeleteFunc(s.consents, func(c privacy.Consent) bool { return same(c.Subject, subject) })
	return before - len(s.consents), nil
}

// RecordAccess implements privacy.AccessLog.
func (s *Store) RecordAccess(ctx context.Context, a privacy.Access) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.ID = s.id()
	s.access = append(s.access, a)
	return nil
}

// ListAccess implements privacy.AccessLog.
func (s *Store) ListAccess(ctx context.Context, f privacy.AccessFilter) ([]privacy.Access, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []privacy.Access
	for i := len(s.access) - 1; i >= 0 && len(out) < limit; i-- {
		a := s.access[i]
		if (f.ActorID == "" || a.ActorID == f.ActorID) && (f.Subject == "" || same(a.Subject, f.Subject)) &&
			(f.Since.IsZero() || !a.At.Before(f.Since)) && (f.Until.IsZero() || a.At.Before(f.Until)) {
			out = append(out, a)
		}
	}
	return out, nil
}

// CreateRequest implements privacy.RightsStore.
func (s *Store) CreateRequest(ctx context.Context, r *privacy.RightsRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.ID = s.id()
	s.requests[r.ID] = *r
	return nil
}

func (s *Store) findRequest(match func(r privacy.RightsRequest) bool) (*privacy.RightsRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if match(r) {
			return &r, nil
		}
	}
	return nil, privacy.Errorf(privacy.ErrNotFound, "no such request")
}

// RequestByToken implements privacy.RightsStore.
func (s *Store) RequestByToken(ctx context.Context, h []byte) (*privacy.RightsRequest, error) {
	return s.findRequest(func(r privacy.RightsRequest) bool { return bytes.Equal(r.TokenHash, h) })
}

// RequestByDownload implements privacy.RightsStore.
func (s *Store) RequestByDownload(ctx context.Context, h []byte) (*privacy.RightsRequest, error) {
	return s.findRequest(func(r privacy.RightsRequest) bool { return r.DownloadHash != nil && bytes.Equal(r.DownloadHash, h) })
}

// UpdateRequest implements privacy.RightsStore.
func (s *Store) UpdateRequest(ctx context.Context, r *privacy.RightsRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.requests[r.ID]
	if !ok {
		return privacy.Errorf(privacy.ErrNotFound, "no such request")
	}
	old.Confirmed, old.DownloadHash, old.DownloadBy = r.Confirmed, r.DownloadHash, r.DownloadBy
	s.requests[r.ID] = old
	return nil
}

// DeleteRequest implements privacy.RightsStore.
func (s *Store) DeleteRequest(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	return nil
}

// HasRequest implements privacy.RightsStore.
func (s *Store) HasRequest(ctx context.Context, subject string, since time.Time) (bool, error) {
	r, _ := s.findRequest(func(r privacy.RightsRequest) bool { return same(r.Subject, subject) && !r.Created.Before(since) })
	return r != nil, nil
}

// EraseRequests implements privacy.RightsStore.
func (s *Store) EraseRequests(ctx context.Context, subject string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.requests {
		if same(r.Subject, subject) {
			delete(s.requests, id)
			n++
		}
	}
	return n, nil
}

// PurgeRequests implements privacy.RightsStore.
func (s *Store) PurgeRequests(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.requests {
		if r.Created.Before(t) {
			delete(s.requests, id)
			n++
		}
	}
	return n, nil
}

// AppendRightsEvent implements privacy.RightsStore.
func (s *Store) AppendRightsEvent(ctx context.Context, e *privacy.RightsEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = s.id()
	s.events = append(s.events, *e)
	return nil
}

// RightsEvents implements privacy.RightsStore.
func (s *Store) RightsEvents(ctx context.Context, limit int) ([]privacy.RightsEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []privacy.RightsEvent
	for i := len(s.events) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.events[i])
	}
	return out, nil
}

// AppendDisclosure implements privacy.DisclosureStore.
func (s *Store) AppendDisclosure(ctx context.Context, d *privacy.Disclosure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ID = s.id()
	s.disclosed = append(s.disclosed, *d)
	return nil
}

// ListDisclosures implements privacy.DisclosureStore.
func (s *Store) ListDisclosures(ctx context.Context, subject string, limit int) ([]privacy.Disclosure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []privacy.Disclosure
	for i := len(s.disclosed) - 1; i >= 0 && len(out) < limit; i-- {
		if subject == "" || same(s.disclosed[i].Subject, subject) {
			out = append(out, s.disclosed[i])
		}
	}
	return out, nil
}

// Pseudonymize implements privacy.Store.
func (s *Store) Pseudonymize(ctx context.Context, subject, pseudonym string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.access {
		a := &s.access[i]
		if same(a.Subject, subject) || same(a.Actor, subject) {
			a.Subject, a.Actor = swap(a.Subject, subject, pseudonym), swap(a.Actor, subject, pseudonym)
			n++
		}
	}
	for i := range s.disclosed {
		d := &s.disclosed[i]
		if same(d.Subject, subject) || same(d.Actor, subject) {
			d.Subject, d.Actor = swap(d.Subject, subject, pseudonym), swap(d.Actor, subject, pseudonym)
			n++
		}
	}
	return n, nil
}

func swap(v, from, to string) string {
	if same(v, from) {
		return to
	}
	return v
}
