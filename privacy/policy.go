package privacy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A Purpose is one use the policy allows for a person's email address. Every message
// the Mailer sends names one, and the Mailer refuses a purpose the address was not
// collected for (P8).
type Purpose string

// The purposes the policy allows, and no others.
const (
	PurposeAccount         Purpose = "account"           // signup and account service
	PurposeSupport         Purpose = "support"           // answering a contact request
	PurposeCommentFollowUp Purpose = "comment-follow-up" // replies to a posted comment
	PurposeNewsletter      Purpose = "newsletter"        // opt-in newsletter
	PurposePromotions      Purpose = "promotions"        // opt-in promotions
	PurposeParentalConsent Purpose = "parental-consent"  // asking a parent's consent (COPPA)
	PurposeDataRights      Purpose = "data-rights"       // export and erasure requests
)

// Purposes returns every purpose, in a fixed order.
func Purposes() []Purpose {
	return []Purpose{PurposeAccount, PurposeSupport, PurposeCommentFollowUp, PurposeNewsletter,
		PurposePromotions, PurposeParentalConsent, PurposeDataRights}
}

// Valid reports whether p is one of the purposes the policy allows.
func (p Purpose) Valid() bool { return slices.Contains(Purposes(), p) }

// A Category is a kind of personal data the site holds, how long it is kept and why.
type Category struct {
	Name        string        // e.g. "accounts", "comments"
	Description string        // what is held, in plain language
	Retention   time.Duration // 0: kept until the person asks for erasure
	RetentionOf string        // the event the period runs from ("the request is closed"); with no period, the event that ends it
}

// A Change is one entry in the policy's version history (P15).
type Change struct {
	Version   string
	Effective time.Time
	Summary   string
}

// Policy is the site's privacy promises as data: who runs the site, what email is
// used for, what is held and for how long. The policy page is rendered from it, and
// the Mailer and the retention scheduler obey it.
type Policy struct {
	Operator        string             // the organisation running the site
	Contact         string             // address for privacy questions and requests
	Sender          string             // address mail is sent from; Contact when empty
	OperatorDomains []string           // mail domains whose addresses belong to the operator
	SiteURL         string             // e.g. https://example.com
	Version         string             // current policy version, recorded with every consent
	Effective       time.Time          // when the current version took effect
	Purposes        map[Purpose]string // plain-language description of each purpose in use
	Categories      []Category
	History         []Change // newest last; the current version's entry included
}

// DefaultPurposeDescriptions describes each purpose in plain language.
func DefaultPurposeDescriptions() map[Purpose]string {
	return map[Purpose]string{
		PurposeAccount:         "to confirm your address when you sign up, and for messages about your account such as password resets",
		PurposeSupport:         "to answer a question you sent us through the contact form",
		PurposeCommentFollowUp: "to tell you about replies to a comment you posted, if you asked us to and confirmed your address",
		PurposeNewsletter:      "to send the newsletter, only if you subscribed and confirmed",
		PurposePromotions:      "to send occasional offers, only if you subscribed and confirmed",
		PurposeParentalConsent: "to ask a parent's consent before a child under 13 may register",
		PurposeDataRights:      "to confirm and answer your requests to see or erase your data",
	}
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
	for purpose := range p.Purposes {
		if !purpose.Valid() {
			errs = append(errs, fmt.Errorf("policy: unknown purpose %q", purpose))
		}
	}
	seen := map[string]bool{}
	for _, c := range p.Categories {
		if c.Name == "" || seen[c.Name] {
			errs = append(errs, fmt.Errorf("policy: category %q is empty or declared twice", c.Name))
		}
		seen[c.Name] = true
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

// Category returns the declared category with the given name.
func (p *Policy) Category(name string) (Category, bool) {
	for _, c := range p.Categories {
		if c.Name == name {
			return c, true
		}
	}
	return Category{}, false
}
