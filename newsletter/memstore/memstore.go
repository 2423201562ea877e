package memstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// Store implements newsletter.Store in memory. It is safe for concurrent use.
type Store struct {
	// mu guards the data. The other locks serialise read-modify-write calls whose
	// callbacks (which send mail, whose purpose check reads the store) run outside mu.
	mu        sync.Mutex
	batchMu   sync.Mutex // EnqueueBatch
	syncMu    sync.Mutex // WithSyncCursor
	nextSub   int64
	subs      map[int64]*newsletter.Subscription
	nextCamp  int64
	campaigns map[int64]*newsletter.Campaign
	cursor    int64
}

var _ newsletter.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{subs: map[int64]*newsletter.Subscription{}, campaigns: map[int64]*newsletter.Campaign{}}
}

func notFound(what string) error { return privacy.Errorf(privacy.ErrNotFound, "%s not found", what) }

// same compares two addresses as every look-up by address does.
func same(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

func cloneSub(s newsletter.Subscription) newsletter.Subscription {
	s.ConfirmHash = bytes.Clone(s.ConfirmHash)
	return s
}

// Subscription implements newsletter.Store.
func (s *Store) Subscription(ctx context.Context, email string, list newsletter.List) (newsletter.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if same(sub.Email, email) && sub.List == list {
			return cloneSub(*sub), nil
		}
	}
	return newsletter.Subscription{}, notFound("subscription")
}

// SubscriptionsTo implements newsletter.Store.
func (s *Store) SubscriptionsTo(ctx context.Context, list newsletter.List, emails []string) ([]newsletter.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, e := range emails {
		want[privacy.AddressKey(e)] = true
	}
	var out []newsletter.Subscription
	for _, sub := range s.subs {
		if sub.List == list && want[privacy.AddressKey(sub.Email)] {
			out = append(out, cloneSub(*sub))
		}
	}
	return out, nil
}

func (s *Store) byEmail(email string) []newsletter.Subscription {
	var out []newsletter.Subscription
	for _, sub := range s.subs {
		if same(sub.Email, email) {
			out = append(out, cloneSub(*sub))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].List < out[j].List })
	return out
}

// Subscriptions implements newsletter.Store.
func (s *Store) Subscriptions(ctx context.Context, email string) ([]newsletter.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byEmail(email), nil
}

// SubscriptionByID implements newsletter.Store.
func (s *Store) SubscriptionByID(ctx context.Context, id int64) (newsletter.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subs[id]; ok {
		return cloneSub(*sub), nil
	}
	return newsletter.Subscription{}, notFound("subscription")
}

// SubscriptionsByConfirmHash implements newsletter.Store.
func (s *Store) SubscriptionsByConfirmHash(ctx context.Context, hash []byte) ([]newsletter.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []newsletter.Subscription
	for _, sub := range s.subs {
		if len(hash) > 0 && bytes.Equal(sub.ConfirmHash, hash) {
			out = append(out, cloneSub(*sub))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].List < out[j].List })
	return out, nil
}

// Do implements privacy.UnitOfWork.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return privacy.MemoryWork(ctx, fn)
}

// Database implements privacy.UnitOfWork.
func (s *Store) Database() string { return privacy.MemoryDatabase }

// UpdateSubscriptions implements newsletter.Store. When ctx's unit of work fails,
// the rows are put back.
func (s *Store) UpdateSubscriptions(ctx context.Context, email string, decide func([]newsletter.Subscription) ([]newsletter.Subscription, error)) ([]newsletter.Subscription, error) {
	s.mu.Lock()
	out, err := decide(s.byEmail(email))
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	before := map[int64]*newsletter.Subscription{}
	var inserted []int64
	for i := range out {
		sub := cloneSub(out[i])
		if !same(sub.Email, email) || !sub.List.Valid() {
			s.mu.Unlock()
			s.undo(before, inserted)
			return nil, privacy.Invalid("subscription", "belongs to another address or list")
		}
		if sub.ID == 0 {
			for _, x := range s.subs {
				if same(x.Email, email) && x.List == sub.List {
					s.mu.Unlock()
					s.undo(before, inserted)
					return nil, privacy.Errorf(privacy.ErrConflict, "already subscribed")
				}
			}
			s.nextSub++
			sub.ID = s.nextSub
			inserted = append(inserted, sub.ID)
		} else {
			old, ok := s.subs[sub.ID]
			if !ok {
				s.mu.Unlock()
				s.undo(before, inserted)
				return nil, notFound("subscription")
			}
			if _, saved := before[sub.ID]; !saved {
				c := cloneSub(*old)
				before[sub.ID] = &c
			}
		}
		s.subs[sub.ID] = &sub
		out[i] = cloneSub(sub)
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() { s.undo(before, inserted) })
	return out, nil
}

func (s *Store) undo(before map[int64]*newsletter.Subscription, inserted []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sub := range before {
		s.subs[id] = sub
	}
	for _, id := range inserted {
		delete(s.subs, id)
	}
}

// EraseSubscriptions implements newsletter.Store.
func (s *Store) EraseSubscriptions(ctx context.Context, email string) (int, error) {
	s.mu.Lock()
	erased := map[int64]*newsletter.Subscription{}
	for id, sub := range s.subs {
		if same(sub.Email, email) {
			erased[id] = sub
			delete(s.subs, id)
		}
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() { s.undo(erased, nil) })
	return len(erased), nil
}

// PurgeSubscriptions implements newsletter.Store.
func (s *Store) PurgeSubscriptions(ctx context.Context, pendingBefore, leftBefore time.Time) (int, error) {
	s.mu.Lock()
	purged := map[int64]*newsletter.Subscription{}
	for id, sub := range s.subs {
		if sub.Status == newsletter.StatusPending && sub.ConfirmExpires.Before(pendingBefore) ||
			sub.Status == newsletter.StatusUnsubscribed && !leftBefore.IsZero() && sub.LeftAt.Before(leftBefore) {
			purged[id] = sub
			delete(s.subs, id)
		}
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() { s.undo(purged, nil) })
	return len(purged), nil
}

// CountConfirmed implements newsletter.Store.
func (s *Store) CountConfirmed(ctx context.Context, list newsletter.List) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sub := range s.subs {
		if sub.List == list && sub.Status == newsletter.StatusConfirmed {
			n++
		}
	}
	return n, nil
}

// CreateCampaign implements newsletter.Store.
func (s *Store) CreateCampaign(ctx context.Context, c *newsletter.Campaign) error {
	s.mu.Lock()
	s.nextCamp++
	c.ID = s.nextCamp
	cp := *c
	s.campaigns[c.ID] = &cp
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.campaigns, cp.ID)
		s.mu.Unlock()
	})
	return nil
}

// Campaign implements newsletter.Store.
func (s *Store) Campaign(ctx context.Context, id int64) (newsletter.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.campaigns[id]; ok {
		return *c, nil
	}
	return newsletter.Campaign{}, notFound("campaign")
}

// Campaigns implements newsletter.Store.
func (s *Store) Campaigns(ctx context.Context, limit int) ([]newsletter.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []newsletter.Campaign
	for _, c := range s.campaigns {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// UpdateCampaign implements newsletter.Store.
func (s *Store) UpdateCampaign(ctx context.Context, id int64, fn func(c *newsletter.Campaign) error) (newsletter.Campaign, error) {
	s.mu.Lock()
	c, ok := s.campaigns[id]
	if !ok {
		s.mu.Unlock()
		return newsletter.Campaign{}, notFound("campaign")
	}
	cp := *c
	if err := fn(&cp); err != nil {
		s.mu.Unlock()
		return newsletter.Campaign{}, err
	}
	cp.ID = id
	// The store keeps a copy of its own: EnqueueBatch updates the stored campaign
	// in place, under s.mu, while this returns cp.
	stored := cp
	s.campaigns[id] = &stored
	s.mu.Unlock()
	s.onUndoCampaign(ctx, c)
	return cp, nil
}

// onUndoCampaign puts prev back as its campaign when ctx's unit of work fails.
func (s *Store) onUndoCampaign(ctx context.Context, prev *newsletter.Campaign) {
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		s.campaigns[prev.ID] = prev
		s.mu.Unlock()
	})
}

// DueCampaigns implements newsletter.Store.
func (s *Store) DueCampaigns(ctx context.Context, now time.Time) ([]newsletter.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []newsletter.Campaign
	for _, c := range s.campaigns {
		if c.Status == newsletter.CampaignSending || c.Status == newsletter.CampaignScheduled && !c.SendAt.After(now) {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// EnqueueBatch implements newsletter.Store. Inside a unit of work, the cursor and
// counts are undone with the messages when it fails.
func (s *Store) EnqueueBatch(ctx context.Context, id int64, limit int, now time.Time, send newsletter.SendFunc) (newsletter.Batch, error) {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	s.mu.Lock()
	c, ok := s.campaigns[id]
	if !ok {
		s.mu.Unlock()
		return newsletter.Batch{}, notFound("campaign")
	}
	if c.Status != newsletter.CampaignSending {
		s.mu.Unlock()
		return newsletter.Batch{Status: c.Status}, nil
	}
	var rs []newsletter.Recipient
	for _, sub := range s.subs {
		if sub.List == c.List && sub.Status == newsletter.StatusConfirmed && sub.ID > c.Cursor {
			rs = append(rs, newsletter.Recipient{ID: sub.ID, Email: sub.Email})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(rs, func(a, b newsletter.Recipient) int { return cmp.Compare(a.ID, b.ID) })
	if len(rs) > limit {
		rs = rs[:limit]
	}
	var b newsletter.Batch
	if len(rs) > 0 {
		n, err := send(ctx, rs)
		if err != nil {
			return newsletter.Batch{}, err
		}
		b.Enqueued, b.Skipped = n, len(rs)-n
	}
	s.mu.Lock()
	c = s.campaigns[id] // UpdateCampaign may have replaced it meanwhile
	prev := *c
	if len(rs) > 0 {
		c.Cursor = max(c.Cursor, rs[len(rs)-1].ID)
	}
	c.Enqueued += b.Enqueued
	c.Skipped += b.Skipped
	if len(rs) < limit && c.Status == newsletter.CampaignSending {
		c.Status, c.FinishedAt, c.UpdatedAt = newsletter.CampaignSent, now, now
	}
	b.Status = c.Status
	s.mu.Unlock()
	s.onUndoCampaign(ctx, &prev)
	return b, nil
}

// WithSyncCursor implements newsletter.Store.
func (s *Store) WithSyncCursor(ctx context.Context, fn func(ctx context.Context, cursor int64) (int64, error)) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	cur := s.cursor
	s.mu.Unlock()
	next, err := fn(ctx, cur)
	if err != nil {
		return err
	}
	s.mu.Lock()
	prev := s.cursor
	s.cursor = max(s.cursor, next)
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		s.cursor = prev
		s.mu.Unlock()
	})
	return nil
}
