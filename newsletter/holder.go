package newsletter

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// CategorySubscriptions is the policy category of the data this package keeps:
// subscriptions.
const CategorySubscriptions = "newsletter"

// holderName names the holder in exports and erasure reports.
const holderName = "newsletter"

var (
	_ privacy.Holder   = (*Service)(nil)
	_ privacy.Exporter = (*Service)(nil)
	_ privacy.Eraser   = (*Service)(nil)
	_ privacy.Purger   = (*Service)(nil)
)

// Contract implements privacy.Holder: subscriptions, kept Config.LeftRetention
// after their subscriber left, and the newsletter and promotions purposes with the
// Service as their Allower.
func (s *Service) Contract() privacy.Contract {
	return privacy.Contract{
		Name: holderName,
		Categories: []privacy.Category{{Name: CategorySubscriptions, Description: "Newsletter and promotions subscriptions",
			Retention: s.leftRetention, RetentionOf: "you leave the list"}},
		Purposes: []privacy.PurposeUse{
			{Purpose: PurposeNewsletter, Allower: s, Description: "to send the newsletter, only if you subscribed and confirmed"},
			{Purpose: PurposePromotions, Allower: s, Description: "to send occasional offers, only if you subscribed and confirmed"},
		},
		Sections: []privacy.Section{{Heading: privacy.SectionCollected, Text: `**Newsletter and promotions.** These are separate lists, and you are on one only if you sign up
for it and confirm from the message we send. Every issue has a link that takes you off the list
at once.`}},
	}
}

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
	return privacy.Erasure{Holder: holderName, Removed: n}, err
}

// Purge implements privacy.Purger: subscriptions never confirmed are removed once
// their link expired, and unsubscribed ones once Config.LeftRetention has passed
// since they left (never, when it is 0).
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	var leftBefore time.Time
	if s.leftRetention > 0 {
		leftBefore = now.Add(-s.leftRetention)
	}
	return s.store.PurgeSubscriptions(ctx, now, leftBefore)
}
