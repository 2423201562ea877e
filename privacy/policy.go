package privacy

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Purpose is one use the policy allows for a person's email address. Every message
// the Mailer sends names one, and the Mailer refuses a purpose the address was not
// collected for (P8).
type Purpose string

// PurposeDataRights is the kernel's own purpose: confirming and answering a person's
// requests to export or erase their data (Rights). Every other purpose is declared
// by the holder that collects addresses for it, in its Contract.
const PurposeDataRights Purpose = "data-rights"

// Valid reports whether p is a well-formed purpose name: 1 to 64 lower-case ASCII
// letters, digits and hyphens. Which purposes a site mails for is what its holders
// declare (Registry.Check compares them with the Mailer's Allowers).
func (p Purpose) Valid() bool {
	if len(p) == 0 || len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// A Category is a kind of personal data the site holds, how long it is kept and why.
// A Holder declares the categories it keeps in its Contract, with the retention its
// Purge enforces.
type Category struct {
	Name        string        // e.g. "guestbook-entries"
	Description string        // what is held, in plain language
	Retention   time.Duration // 0: kept until RetentionOf, or until the person asks for erasure
	RetentionOf string        // the event the period runs from ("the request is closed"); with no period, the event that ends it
}

// KeptFor says in plain language how long the category is kept, as the policy page
// does: "6 months after the request is closed", "until you leave the list".
func (c Category) KeptFor() string {
	switch {
	case c.Retention > 0 && c.RetentionOf != "":
		return HumanDuration(c.Retention) + " after " + c.RetentionOf
	case c.Retention > 0:
		return HumanDuration(c.Retention)
	case c.RetentionOf != "":
		return "until " + c.RetentionOf
	}
	return "until you ask us to erase it"
}

// A Change is one entry in the policy's version history (P15).
type Change struct {
	Version   string
	Effective time.Time
	Summary   string
}

// Policy is the site's privacy promises that belong to no holder of data: who runs
// the site, where to write, and the policy's versions. What is held, for how long
// and what email is used for come from the holders' Contracts in the Registry; the
// policy page is rendered from both, and the Mailer and the retention scheduler obey
// them.
type Policy struct {
	Operator        string    // the organisation running the site
	Contact         string    // address for privacy questions and requests
	Sender          string    // address mail is sent from; Contact when empty
	OperatorDomains []string  // mail domains whose addresses belong to the operator
	SiteURL         string    // e.g. https://example.com
	Version         string    // current policy version, recorded with every consent
	Effective       time.Time // when the current version took effect
	History         []Change  // newest last; the current version's entry included
}

// Validate reports what is missing or wrong in p.
func (p *Policy) Validate() error {
	var errs []error
	if strings.TrimSpace(p.Operator) == "" {
		errs = append(errs, errors.New("policy: operator is required"))
	}
	if _, err := NormalizeEmail(p.Contact); err != nil {
		errs = append(errs, fmt.Errorf("policy: contact address: %w", err))
	} else if !p.IsOperatorAddress(p.Contact) {
		errs = append(errs, errors.New("policy: the contact address must be in one of the operator domains"))
	}
	if len(p.OperatorDomains) == 0 {
		errs = append(errs, errors.New("policy: at least one operator mail domain is required"))
	}
	if p.Version == "" {
		errs = append(errs, errors.New("policy: version is required"))
	}
	return errors.Join(errs...)
}

// IsOperatorAddress reports whether addr belongs to one of the operator's mail domains.
func (p *Policy) IsOperatorAddress(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(addr[at+1:])
	for _, d := range p.OperatorDomains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// HumanDuration writes a retention period in hours, days, months or years, as the
// policy page does: "7 days", "6 months", "1 year".
func HumanDuration(d time.Duration) string {
	days := int(d.Hours() / 24)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return "as long as needed"
	case days < 1:
		return plural(int(d.Hours()), "hour")
	case days%365 == 0:
		return plural(days/365, "year")
	case days >= 60 && days%30 == 0, days >= 365:
		return plural((days+15)/30, "month")
	}
	return plural(days, "day")
}
