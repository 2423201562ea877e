package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// CategoryCounts is the policy data category the counters belong to.
const CategoryCounts = "usage-statistics"

var (
	_ privacy.Holder = (*Service)(nil)
	_ privacy.Purger = (*Service)(nil)
)

// Contract implements privacy.Holder: the counters, kept Config.RetentionMonths,
// and the policy page's account of how visits are counted. Register it only when
// a Tracker counts: the page then says that visits are counted, and how.
func (s *Service) Contract() privacy.Contract {
	// A month is counted as 30 days here only to state the period; Maintain deletes
	// by calendar month.
	retention := time.Duration(s.retention) * 30 * 24 * time.Hour
	return privacy.Contract{
		Name:       "tracking",
		Categories: []privacy.Category{{Name: CategoryCounts, Description: "Page-view counts (no personal data)", Retention: retention}},
		Sections: []privacy.Section{{Heading: privacy.SectionVisits, Text: fmt.Sprintf(`We count page views in total, never per person. The counts are broken down, each on its own, by
page, by the network domain a visit comes from (such as `+"`example.net`"+`), by browser type and
version, and by the type of content served (its MIME type). We do not store IP addresses,
browser strings, account identifiers or any identifier of a visitor, not even in a scrambled
form. In our reports, any value seen fewer than %d times is grouped as
"(other)", so a rare visitor cannot be picked out. Counts are deleted after %s.`, s.k, privacy.HumanDuration(retention))}},
	}
}

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
