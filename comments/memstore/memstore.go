package memstore

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

// Store implements comments.Store in memory. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	nextID   int64
	comments map[int64]*comments.Comment
	byThread map[string][]int64 // ascending ids
	subs     map[string]*comments.Subscriber
	// versions holds each thread's version: the value of changes when the thread
	// last changed, so a version is never reused, even by another thread.
	versions map[string]int64
	changes  int64
	// stamps holds spent form stamps until they expire; expired ones are swept
	// whenever it doubles, so it holds about the stamps spent in their validity.
	stamps     map[string]time.Time
	stampSweep int
}

var _ comments.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{comments: map[int64]*comments.Comment{}, byThread: map[string][]int64{}, subs: map[string]*comments.Subscriber{},
		versions: map[string]int64{}, stamps: map[string]time.Time{}, stampSweep: 1024}
}

// changed records a change to what Thread returns for thread; the caller holds mu.
func (s *Store) changed(thread string) {
	s.changes++
	s.versions[thread] = s.changes
}

func notFound() error { return privacy.Errorf(privacy.ErrNotFound, "no such comment") }

func clone(c *comments.Comment) comments.Comment {
	out := *c
	out.Manage = bytes.Clone(c.Manage)
	return out
}

func cloneSub(s *comments.Subscriber) comments.Subscriber {
	out := *s
	out.ConfirmHash, out.StopHash = bytes.Clone(s.ConfirmHash), bytes.Clone(s.StopHash)
	return out
}

// CreateComment implements comments.Store.
func (s *Store) CreateComment(ctx context.Context, c *comments.Comment, then func(ctx context.Context) error) error {
	s.mu.Lock()
	if c.Manage != nil {
		for _, x := range s.comments {
			if bytes.Equal(x.Manage, c.Manage) {
				s.mu.Unlock()
				return privacy.Errorf(privacy.ErrConflict, "manage token already used")
			}
		}
	}
	s.nextID++
	c.ID = s.nextID
	stored := clone(c)
	s.comments[c.ID] = &stored
	s.byThread[c.Thread] = append(s.byThread[c.Thread], c.ID)
	if c.Status.Shown() {
		s.changed(c.Thread)
	}
	s.mu.Unlock()
	if then == nil {
		return nil
	}
	if err := then(ctx); err != nil {
		s.mu.Lock()
		s.remove(c.ID)
		if c.Status.Shown() {
			s.changed(c.Thread)
		}
		s.mu.Unlock()
		c.ID = 0
		return err
	}
	return nil
}

// remove deletes id outright; the caller holds mu.
func (s *Store) remove(id int64) {
	c, ok := s.comments[id]
	if !ok {
		return
	}
	delete(s.comments, id)
	ids := s.byThread[c.Thread]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(s.byThread, c.Thread)
	} else {
		s.byThread[c.Thread] = ids
	}
}

// Comment implements comments.Store.
func (s *Store) Comment(ctx context.Context, id int64) (comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok {
		return comments.Comment{}, notFound()
	}
	return clone(c), nil
}

// CommentByManage implements comments.Store.
func (s *Store) CommentByManage(ctx context.Context, hash []byte) (comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comments {
		if c.Manage != nil && bytes.Equal(c.Manage, hash) {
			return clone(c), nil
		}
	}
	return comments.Comment{}, notFound()
}

// Thread implements comments.Store.
func (s *Store) Thread(ctx context.Context, thread string) ([]comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.byThread[thread]
	out := make([]comments.Comment, 0, len(ids))
	for _, id := range ids {
		c := s.comments[id]
		if c.Status.Shown() {
			out = append(out, comments.Comment{ID: c.ID, Thread: c.Thread, ParentID: c.ParentID, Name: c.Name, HTML: c.HTML,
				Status: c.Status, Hue: c.Hue, Created: c.Created, Edited: c.Edited})
		}
	}
	return out, nil
}

// ThreadVersion implements comments.Store.
func (s *Store) ThreadVersion(ctx context.Context, thread string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[thread], nil
}

// sorted returns the comments matching keep, by id; the caller holds mu.
func (s *Store) sorted(keep func(c *comments.Comment) bool) []comments.Comment {
	var out []comments.Comment
	for _, c := range s.comments {
		if keep(c) {
			out = append(out, clone(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Queue implements comments.Store.
func (s *Store) Queue(ctx context.Context, f comments.QueueFilter) ([]comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sorted(func(c *comments.Comment) bool {
		return c.Status == f.Status && (f.Thread == "" || c.Thread == f.Thread)
	})
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	out = out[min(max(f.Offset, 0), len(out)):]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Comments implements comments.Store.
func (s *Store) Comments(ctx context.Context, after int64, limit int) ([]comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sorted(func(c *comments.Comment) bool { return c.ID > after })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// EditComment implements comments.Store.
func (s *Store) EditComment(ctx context.Context, id int64, source, html, digest string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok || c.Status == comments.StatusDeleted {
		return notFound()
	}
	c.Source, c.HTML, c.Digest, c.Edited = source, html, digest, at
	if c.Status.Shown() {
		s.changed(c.Thread)
	}
	return nil
}

// SetHTML implements comments.Store.
func (s *Store) SetHTML(ctx context.Context, id int64, html string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok {
		return notFound()
	}
	c.HTML = html
	if c.Status.Shown() {
		s.changed(c.Thread)
	}
	return nil
}

// SetStatus implements comments.Store.
func (s *Store) SetStatus(ctx context.Context, id int64, from []comments.Status, to comments.Status, at time.Time, then func(ctx context.Context) error) error {
	s.mu.Lock()
	c, ok := s.comments[id]
	if !ok {
		s.mu.Unlock()
		return notFound()
	}
	if !slices.Contains(from, c.Status) {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "the comment is %s", c.Status)
	}
	prevStatus, prevAt := c.Status, c.Moderated
	c.Status, c.Moderated = to, at
	shown := prevStatus.Shown() || to.Shown()
	if shown {
		s.changed(c.Thread)
	}
	s.mu.Unlock()
	if then == nil {
		return nil
	}
	if err := then(ctx); err != nil {
		s.mu.Lock()
		if c, ok := s.comments[id]; ok && c.Status == to {
			c.Status, c.Moderated = prevStatus, prevAt
			if shown {
				s.changed(c.Thread)
			}
		}
		s.mu.Unlock()
		return err
	}
	return nil
}

// hasReplies reports whether any comment replies to c; the caller holds mu.
func (s *Store) hasReplies(c *comments.Comment) bool {
	for _, id := range s.byThread[c.Thread] {
		if s.comments[id].ParentID == c.ID {
			return true
		}
	}
	return false
}

// del removes c or makes it a tombstone; the caller holds mu.
func (s *Store) del(c *comments.Comment) {
	if s.hasReplies(c) {
		// Even an unpublished comment shows, as a tombstone, once deleted.
		s.changed(c.Thread)
		c.Status, c.Name, c.Email, c.Source, c.HTML, c.Digest = comments.StatusDeleted, "", "", "", "", ""
		c.FollowUp, c.Hue, c.Manage = false, 0, nil
		return
	}
	if c.Status.Shown() {
		s.changed(c.Thread)
	}
	s.remove(c.ID)
}

// DeleteComment implements comments.Store.
func (s *Store) DeleteComment(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.comments[id]
	if !ok || c.Status == comments.StatusDeleted {
		return notFound()
	}
	s.del(c)
	return nil
}

// Approved implements comments.Store.
func (s *Store) Approved(ctx context.Context, email string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.comments {
		if same(c.Email, email) && c.Status == comments.StatusApproved {
			n++
		}
	}
	return n, nil
}

// ThreadSize implements comments.Store.
func (s *Store) ThreadSize(ctx context.Context, thread string) (int, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, size := 0, int64(0)
	for _, c := range s.comments {
		if c.Thread == thread && (c.Status == comments.StatusApproved || c.Status == comments.StatusPending) {
			n++
			size += int64(len(c.HTML))
		}
	}
	return n, size, nil
}

// Duplicate implements comments.Store.
func (s *Store) Duplicate(ctx context.Context, q comments.DuplicateQuery) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comments {
		if c.Status == comments.StatusDeleted || c.Digest != q.Digest {
			continue
		}
		if c.Thread == q.Thread && same(c.Email, q.Email) || !q.Since.IsZero() && !c.Created.Before(q.Since) {
			return true, nil
		}
	}
	return false, nil
}

// CommentsBy implements comments.Store.
func (s *Store) CommentsBy(ctx context.Context, email string) ([]comments.Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorted(func(c *comments.Comment) bool { return same(c.Email, email) }), nil
}

// EraseCommenter implements comments.Store.
func (s *Store) EraseCommenter(ctx context.Context, email string, keepText bool) (removed, kept int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := s.sorted(func(c *comments.Comment) bool { return same(c.Email, email) })
	// Newest first, so a reply is gone before its parent asks whether it has replies.
	for i := len(mine) - 1; i >= 0; i-- {
		c := s.comments[mine[i].ID]
		if keepText && c.Status == comments.StatusApproved {
			c.Name, c.Email, c.FollowUp, c.Hue, c.Manage = "", "", false, 0, nil
			s.changed(c.Thread)
			kept++
			continue
		}
		s.del(c)
		removed++
	}
	delete(s.subs, privacy.AddressKey(email))
	return removed, kept, nil
}

// PurgeRejected implements comments.Store.
func (s *Store) PurgeRejected(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.sorted(func(c *comments.Comment) bool {
		return c.Status == comments.StatusRejected && c.Moderated.Before(t)
	})
	for i := len(old) - 1; i >= 0; i-- {
		s.del(s.comments[old[i].ID])
	}
	return len(old), nil
}

// same compares two addresses as every look-up by address does; subs is keyed
// by privacy.AddressKey.
func same(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

// RequestConfirmation implements comments.Store.
func (s *Store) RequestConfirmation(ctx context.Context, sub comments.Subscriber, then func(ctx context.Context) error) (bool, error) {
	s.mu.Lock()
	key := privacy.AddressKey(sub.Email)
	prev, existed := s.subs[key]
	var before comments.Subscriber
	if existed {
		if !prev.Confirmed.IsZero() || !prev.Stopped.IsZero() || prev.Pending(sub.Created) {
			s.mu.Unlock()
			return false, nil
		}
		before = cloneSub(prev)
	}
	next := cloneSub(&sub)
	next.Confirmed, next.Stopped = time.Time{}, time.Time{}
	if existed {
		next.Email = prev.Email // kept as first typed
	}
	s.subs[key] = &next
	s.mu.Unlock()
	if then == nil {
		return true, nil
	}
	if err := then(ctx); err != nil {
		s.mu.Lock()
		if existed {
			s.subs[key] = &before
		} else {
			delete(s.subs, key)
		}
		s.mu.Unlock()
		return false, err
	}
	return true, nil
}

func (s *Store) subBy(match func(x *comments.Subscriber) bool) *comments.Subscriber {
	for _, x := range s.subs {
		if match(x) {
			return x
		}
	}
	return nil
}

func noSubscriber() error { return privacy.Errorf(privacy.ErrNotFound, "no such subscriber") }

// Confirm implements comments.Store.
func (s *Store) Confirm(ctx context.Context, hash []byte, now time.Time) (comments.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.subBy(func(x *comments.Subscriber) bool { return x.ConfirmHash != nil && bytes.Equal(x.ConfirmHash, hash) })
	if x == nil {
		return comments.Subscriber{}, noSubscriber()
	}
	if !now.Before(x.ConfirmExpires) {
		return comments.Subscriber{}, privacy.Errorf(privacy.ErrGone, "the confirmation expired")
	}
	x.Confirmed, x.ConfirmHash = now, nil
	return cloneSub(x), nil
}

// SetStopped implements comments.Store.
func (s *Store) SetStopped(ctx context.Context, hash []byte, stopped bool, now time.Time) (comments.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.subBy(func(x *comments.Subscriber) bool { return bytes.Equal(x.StopHash, hash) })
	if x == nil {
		return comments.Subscriber{}, noSubscriber()
	}
	x.ConfirmHash = nil
	switch {
	case stopped && x.Stopped.IsZero():
		x.Stopped = now
	case !stopped:
		x.Stopped = time.Time{}
		if x.Confirmed.IsZero() {
			x.Confirmed = now
		}
	}
	return cloneSub(x), nil
}

// Subscriber implements comments.Store.
func (s *Store) Subscriber(ctx context.Context, email string) (comments.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.subs[privacy.AddressKey(email)]
	if !ok {
		return comments.Subscriber{}, noSubscriber()
	}
	return cloneSub(x), nil
}

// SubscriberByConfirm implements comments.Store.
func (s *Store) SubscriberByConfirm(ctx context.Context, hash []byte) (comments.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.subBy(func(x *comments.Subscriber) bool { return x.ConfirmHash != nil && bytes.Equal(x.ConfirmHash, hash) })
	if x == nil {
		return comments.Subscriber{}, noSubscriber()
	}
	return cloneSub(x), nil
}

// SubscriberByStop implements comments.Store.
func (s *Store) SubscriberByStop(ctx context.Context, hash []byte) (comments.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.subBy(func(x *comments.Subscriber) bool { return bytes.Equal(x.StopHash, hash) })
	if x == nil {
		return comments.Subscriber{}, noSubscriber()
	}
	return cloneSub(x), nil
}

// asked reports whether a live comment from email asked for follow-up; the caller
// holds mu.
func (s *Store) asked(email string) bool {
	for _, c := range s.comments {
		if same(c.Email, email) && c.FollowUp && (c.Status == comments.StatusPending || c.Status == comments.StatusApproved) {
			return true
		}
	}
	return false
}

// FollowUpAllowed implements comments.Store.
func (s *Store) FollowUpAllowed(ctx context.Context, email string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.subs[privacy.AddressKey(email)]
	if !ok || !x.Stopped.IsZero() || x.Confirmed.IsZero() && !x.Pending(now) {
		return false, nil
	}
	return s.asked(email), nil
}

// PurgeSubscribers implements comments.Store.
func (s *Store) PurgeSubscribers(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, x := range s.subs {
		if !x.Stopped.IsZero() {
			continue // the stop is kept so it is honoured
		}
		expired := x.Confirmed.IsZero() && !x.ConfirmExpires.After(t)
		orphan := !x.Confirmed.IsZero() && !s.wrote(key)
		if expired || orphan {
			delete(s.subs, key)
			n++
		}
	}
	return n, nil
}

// wrote reports whether any comment by email is stored; the caller holds mu.
func (s *Store) wrote(email string) bool {
	for _, c := range s.comments {
		if same(c.Email, email) {
			return true
		}
	}
	return false
}

// UseStamp implements comments.Store.
func (s *Store) UseStamp(ctx context.Context, hash []byte, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.stamps[string(hash)]; ok && exp.After(now) {
		return privacy.Errorf(privacy.ErrConflict, "form stamp already used")
	}
	s.stamps[string(hash)] = expires
	if len(s.stamps) >= s.stampSweep {
		s.purgeStamps(now)
		s.stampSweep = max(1024, 2*len(s.stamps))
	}
	return nil
}

// StampUsed implements comments.Store.
func (s *Store) StampUsed(ctx context.Context, hash []byte, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.stamps[string(hash)]
	return ok && exp.After(now), nil
}

// PurgeStamps implements comments.Store.
func (s *Store) PurgeStamps(ctx context.Context, t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeStamps(t), nil
}

// purgeStamps removes stamps expired at t; the caller holds mu.
func (s *Store) purgeStamps(t time.Time) int {
	n := 0
	for h, exp := range s.stamps {
		if !exp.After(t) {
			delete(s.stamps, h)
			n++
		}
	}
	return n
}
