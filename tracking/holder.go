package tracking

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Category is the policy data category the counters belong to. Declare it in the
// Policy with the retention the Service is configured with.
const Category = "usage-statistics"

var (
	_ privacy.Holder = (*Service)(nil)
	_ privacy.Purger = (*Service)(nil)
)

// HolderName implements privacy.Holder.
func (s *Service) HolderName() string { return "tracking" }

// Categories implements privacy.Holder.
func (s *Service) Categories() []string { return []string{Category} }

// Purge implements privacy.Purger: it runs Maintain and returns how many counters it
// removed, rolled up or deleted.
//
// The Service is deliberately neither a privacy.Exporter nor a privacy.Eraser: its
// counters hold nothing about any person (no address, user agent, account, cookie or
// identifier, hashed or not), so there is nothing to export or erase for a subject.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	m, err := s.Maintain(ctx, now)
	return m.RolledUp + m.Deleted, err
}
