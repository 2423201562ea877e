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

// Do implements privacy.UnitOfWork.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return privacy.MemoryWork(ctx, fn)
}

// Database implements privacy.UnitOfWork.
func (s *Store) Database() string { return privacy.MemoryDatabase }

// undo is a write's journal (privacy.Undo), kept with s.mu held.
type undo = privacy.Undo

// write runs fn under s.mu, the undo it records taken back with ctx's failed
// unit of work.
func (s *Store) write(ctx context.Context, fn func(u *undo) error) error {
	return privacy.LockedWrite(ctx, &s.mu, fn)
}

// keep records how to put comment id back as it is now; the caller holds mu. The
// thread's version changes again on undo, so no version comes back.
func (s *Store) keep(u *undo, id int64) {
	prev, existed := s.comments[id]
	var saved comments.Comment
	if existed {
		saved = clone(prev)
	}
	*u = append(*u, func() {
		if c, ok := s.comments[id]; ok {
			s.changed(c.Thread)
			s.remove(id)
		}
		if existed {
			c := clone(&saved)
			s.comments[id] = &c
			ids := s.byThread[c.Thread]
			i, _ := slices.BinarySearch(ids, id)
			s.byThread[c.Thread] = slices.Insert(ids, i, id)
			s.changed(c.Thread)
		}
	})
}

// keepSub records how to put the subscriber under key back; the caller holds mu.
func (s *Store) keepSub(u *undo, key string) {
	prev, existed := s.subs[key]
	var saved comments.Subscriber
	if existed {
		saved = cloneSub(prev)
	}
	*u = append(*u, func() {
		if existed {
			x := cloneSub(&saved)
			s.subs[key] = &x
		} else {
			delete(s.subs, key)
		}
	})
}

// CreateComment implements comments.Store.
func (s *Store) CreateComment(ctx context.Context, c *comments.Comment) error {
	return s.write(ctx, func(u *undo) error {
		if c.Manage != nil {
			for _, x := range s.comments {
				if bytes.Equal(x.Manage, c.Manage) {
					return privacy.Errorf(privacy.ErrConflict, "manage token already used")
				}
			}
		}
		s.nextID++
		c.ID = s.nextID
		s.keep(u, c.ID)
		stored := clone(c)
		s.comments[c.ID] = &stored
		s.byThread[c.Thread] = append(s.byThread[c.Thread], c.ID)
		if c.Status.Shown() {
			s.changed(c.Thread)
		}
		return nil
	})
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
	return s.write(ctx, func(u *undo) error {
		c, ok := s.comments[id]
		if !ok || c.Status == comments.StatusDeleted {
			return notFound()
		}
		s.keep(u, id)
		c.Source, c.HTML, c.Digest, c.Edited = source, html, digest, at
		if c.Status.Shown() {
			s.changed(c.Thread)
		}
		return nil
	})
}

// SetHTML implements comments.Store.
func (s *Store) SetHTML(ctx context.Context, id int64, html string) error {
	return s.write(ctx, func(u *undo) error {
		c, ok := s.comments[id]
		if !ok {
			return notFound()
		}
		s.keep(u, id)
		c.HTML = html
		if c.Status.Shown() {
			s.changed(c.Thread)
		}
		return nil
	})
}

// SetStatus implements comments.Store.
func (s *Store) SetStatus(ctx context.Context, id int64, at time.Time, decide func(comments.Status) (comments.Status, error)) error {
	return s.write(ctx, func(u *undo) error {
		c, ok := s.comments[id]
		if !ok {
			return notFound()
		}
		to, err := decide(c.Status)
		if err != nil {
			return err
		}
		s.keep(u, id)
		if c.Status.Shown() || to.Shown() {
			s.changed(c.Thread)
		}
		c.Status, c.Moderated = to, at
		return nil
	})
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
	return s.write(ctx, func(u *undo) error {
		c, ok := s.comments[id]
		if !ok || c.Status == comments.StatusDeleted {
			return notFound()
		}
		s.keep(u, id)
		s.del(c)
		return nil
	})
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
	err = s.write(ctx, func(u *undo) error {
		mine := s.sorted(func(c *comments.Comment) bool { return same(c.Email, email) })
		// Newest first, so a reply is gone before its parent asks whether it has replies.
		for i := len(mine) - 1; i >= 0; i-- {
			c := s.comments[mine[i].ID]
			s.keep(u, c.ID)
			if keepText && c.Status == comments.StatusApproved {
				c.Name, c.Email, c.FollowUp, c.Hue, c.Manage = "", "", false, 0, nil
				s.changed(c.Thread)
				kept++
				continue
			}
			s.del(c)
			removed++
		}
		s.keepSub(u, privacy.AddressKey(email))
		delete(s.subs, privacy.AddressKey(email))
		return nil
	})
	return removed, kept, err
}

// PurgeRejected implements comments.Store.
func (s *Store) PurgeRejected(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(u *undo) error {
		old := s.sorted(func(c *comments.Comment) bool {
			return c.Status == comments.StatusRejected && c.Moderated.Before(t)
		})
		for i := len(old) - 1; i >= 0; i-- {
			s.keep(u, old[i].ID)
			s.del(s.comments[old[i].ID])
		}
		n = len(old)
		return nil
	})
	return n, err
}

// same compares two addresses as every look-up by address does; subs is keyed
// by privacy.AddressKey.
func same(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

// UpdateSubscriber implements comments.Store.
func (s *Store) UpdateSubscriber(ctx context.Context, key comments.SubscriberKey, decide func(comments.Subscriber) (comments.Subscriber, error)) (comments.Subscriber, error) {
	var out comments.Subscriber
	err := s.write(ctx, func(u *undo) error {
		var cur *comments.Subscriber
		switch {
		case key.Email != "":
			cur = s.subs[privacy.AddressKey(key.Email)]
		case key.ConfirmHash != nil:
			cur = s.subBy(func(x *comments.Subscriber) bool {
				return x.ConfirmHash != nil && bytes.Equal(x.ConfirmHash, key.ConfirmHash)
			})
		default:
			cur = s.subBy(func(x *comments.Subscriber) bool { return bytes.Equal(x.StopHash, key.StopHash) })
		}
		var current comments.Subscriber
		switch {
		case cur != nil:
			current = cloneSub(cur)
		case key.Email == "":
			return noSubscriber()
		}
		next, err := decide(current)
		if err != nil {
			return err
		}
		email := current.Email
		if email == "" {
			email = next.Email
		}
		if email == "" {
			return nil // none was, none is
		}
		k := privacy.AddressKey(email)
		s.keepSub(u, k)
		if next.Email == "" {
			delete(s.subs, k)
			return nil
		}
		next = cloneSub(&next)
		next.Email = email
		s.subs[k] = &next
		out = cloneSub(&next)
		return nil
	})
	return out, err
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

// FollowUpStatuses implements comments.Store.
func (s *Store) FollowUpStatuses(ctx context.Context, email string) ([]comments.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []comments.Status
	for _, c := range s.comments {
		if same(c.Email, email) && c.FollowUp && !slices.Contains(out, c.Status) {
			out = append(out, c.Status)
		}
	}
	return out, nil
}

// PurgeSubscribers implements comments.Store.
func (s *Store) PurgeSubscribers(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(u *undo) error {
		for key, x := range s.subs {
			if !x.Stopped.IsZero() {
				continue // the stop is kept so it is honoured
			}
			expired := x.Confirmed.IsZero() && !x.ConfirmExpires.After(t)
			orphan := !x.Confirmed.IsZero() && !s.wrote(key)
			if expired || orphan {
				s.keepSub(u, key)
				delete(s.subs, key)
				n++
			}
		}
		return nil
	})
	return n, err
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
	return s.write(ctx, func(u *undo) error {
		prev, existed := s.stamps[string(hash)]
		if existed && prev.After(now) {
			return privacy.Errorf(privacy.ErrConflict, "form stamp already used")
		}
		s.stamps[string(hash)] = expires
		*u = append(*u, func() {
			if existed {
				s.stamps[string(hash)] = prev
			} else {
				delete(s.stamps, string(hash))
			}
		})
		if len(s.stamps) >= s.stampSweep {
			s.purgeStamps(now)
			s.stampSweep = max(1024, 2*len(s.stamps))
		}
		return nil
	})
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
