package newsletter

import (
	"context"
	"fmt"
	"strings"
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
// after their subscriber left, the purposes the site's lists mail under with the
// Service as their Allower, and a section of the policy naming every list.
func (s *Service) Contract() privacy.Contract {
	c := privacy.Contract{
		Name: holderName,
		Categories: []privacy.Category{{Name: CategorySubscriptions, Description: "Mailing list subscriptions",
			Retention: s.leftRetention, RetentionOf: "you leave the list"}},
	}
	text := new(strings.Builder)
	text.WriteString("**Mailing lists.** Each list is a separate choice: you are on one only if you sign up for it\n" +
		"and confirm from the message we send. Every issue has a link that takes you off the list at once.\n" +
		"The lists are these.\n")
	for _, p := range []struct {
		purpose privacy.Purpose
		what    string
	}{{PurposeNewsletter, "news"}, {PurposePromotions, "offers"}} {
		lists := s.listsOf(p.purpose)
		if len(lists) == 0 {
			continue
		}
		var titles []string
		for _, l := range lists {
			d := s.listDef(l)
			titles = append(titles, d.Title)
			// A paragraph each: the policy page's check reads the text, and a
			// Markdown list's markers are not on the page.
			fmt.Fprintf(text, "\n**%s** (%s)", escapeMarkdown(d.Title), p.what)
			if d.Description != "" {
				fmt.Fprintf(text, ": %s", escapeMarkdown(d.Description))
			}
			text.WriteString("\n")
		}
		c.Purposes = append(c.Purposes, privacy.PurposeUse{Purpose: p.purpose, Allower: s,
			Description: fmt.Sprintf("to send %s (%s), only if you subscribed to that list and confirmed", p.what, strings.Join(titles, ", "))})
	}
	c.Sections = []privacy.Section{{Heading: privacy.SectionCollected, Text: strings.TrimSpace(text.String())}}
	return c
}

// escapeMarkdown keeps a list's title and description literal in the policy's
// Markdown.
var escapeMarkdown = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`).Replace

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
