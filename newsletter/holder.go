package newsletter

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Category is the policy category of the data this package keeps: subscriptions.
const Category = "newsletter"

var (
	_ privacy.Holder   = (*Service)(nil)
	_ privacy.Exporter = (*Service)(nil)
	_ privacy.Eraser   = (*Service)(nil)
	_ privacy.Purger   = (*Service)(nil)
)

// HolderName implements privacy.Holder.
func (s *Service) HolderName() string { return "newsletter" }

// Categories implements privacy.Holder.
func (s *Service) Categories() []string { return []string{Category} }

// Export implements privacy.Exporter: the subject's subscriptions, or nil. It is the
// only way a subscription leaves the package, and it gives a person their own.
func (s *Service) Export(ctx context.Context, subject string) (any, error) {
	addr, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return nil, err
	}
	subs, err := s.store.Subscriptions(ctx, addr)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	return struct {
		Subscriptions []Subscription `json:"subscriptions"`
	}{subs}, nil
}

// Erase implements privacy.Eraser: the subject's subscriptions are removed. The
// consent records and the outbox's suppression entry are the privacy kernel's to erase
// or keep.
func (s *Service) Erase(ctx context.Context, subject string) (privacy.Erasure, error) {
	addr, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return privacy.Erasure{}, err
	}
	n, err := s.store.EraseSubscriptions(ctx, addr)
	return privacy.Erasure{Holder: s.HolderName(), Removed: n}, err
}

// Purge implements privacy.Purger: subscriptions never confirmed are removed once
// their link expired, and unsubscribed ones once the policy's retention for the
// "newsletter" category has passed since they left (never, without one).
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	var leftBefore time.Time
	if c, ok := s.policy.Category(Category); ok && c.Retention > 0 {
		leftBefore = now.Add(-c.Retention)
	}
	return s.store.PurgeSubscriptions(ctx, now, leftBefore)
}
