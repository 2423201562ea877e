package newsletter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// The purposes the newsletter mails an address for, each only after the person
// subscribed to a list of it and confirmed (P13).
const (
	PurposeNewsletter privacy.Purpose = "newsletter"
	PurposePromotions privacy.Purpose = "promotions"
)

// A List names a mailing list a person opts into on its own: a ListDef's Name. Each
// list mails under the privacy.Purpose its ListDef gives, and a list's mail reaches
// only those who opted into that very list.
type List string

// The names of the two lists of DefaultLists.
const (
	ListNewsletter List = "newsletter"
	ListPromotions List = "promotions"
)

// Valid reports whether l is well-formed as a list's name: 1 to 32 lowercase ASCII
// letters, digits and hyphens, starting with a letter. Whether a site defines it is
// the Service's to say.
func (l List) Valid() bool {
	if len(l) == 0 || len(l) > 32 || l[0] < 'a' || l[0] > 'z' {
		return false
	}
	for _, c := range []byte(l) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ListDef is a list a site offers (Config.Lists). Pages, mails, the policy page and
// the consent records name it.
type ListDef struct {
	Name List `json:"name"`
	// Title is how pages, mails and the policy name the list ("Weekly digest").
	Title string `json:"title"`
	// Description says in a sentence what the list sends; it is shown beside the
	// list's checkbox and in the policy. Optional.
	Description string `json:"description,omitempty"`
	// Purpose is PurposeNewsletter or PurposePromotions: what the
	// list's mail is for, under the policy.
	Purpose privacy.Purpose `json:"purpose"`
}

// DefaultLists are the lists of a site that defines none: the newsletter and
// promotions, each its own opt-in under its own purpose.
func DefaultLists() []ListDef {
	return []ListDef{
		{Name: ListNewsletter, Title: "Newsletter", Description: "News from us, now and then", Purpose: PurposeNewsletter},
		{Name: ListPromotions, Title: "Promotions", Description: "Occasional offers", Purpose: PurposePromotions},
	}
}

// reservedLists are the names of the subscribe and preference forms' other
// fields, which a list's checkbox, named after the list, must not take.
var reservedLists = []List{"email", "ts", "website", "t", "lists"}

// checkListDefs returns an error naming the first fault of defs.
func checkListDefs(defs []ListDef) error {
	if len(defs) == 0 {
		return errors.New("newsletter: Config.Lists holds no list")
	}
	seen := map[List]bool{}
	for i, d := range defs {
		switch {
		case !d.Name.Valid() || slices.Contains(reservedLists, d.Name):
			return fmt.Errorf("newsletter: Config.Lists[%d]: name %q must be 1 to 32 lowercase letters, digits and hyphens, start with a letter, and not be one of %v", i, d.Name, reservedLists)
		case seen[d.Name]:
			return fmt.Errorf("newsletter: Config.Lists[%d]: list %q is defined twice", i, d.Name)
		case d.Purpose != PurposeNewsletter && d.Purpose != PurposePromotions:
			return fmt.Errorf("newsletter: Config.Lists[%d] (%s): purpose %q must be %q or %q", i, d.Name, d.Purpose, PurposeNewsletter, PurposePromotions)
		}
		if err := privacy.CheckText("title", d.Title, 80, true); err != nil {
			return fmt.Errorf("newsletter: Config.Lists[%d] (%s): %w", i, d.Name, err)
		}
		if err := privacy.CheckText("description", d.Description, 200, false); err != nil {
			return fmt.Errorf("newsletter: Config.Lists[%d] (%s): %w", i, d.Name, err)
		}
		seen[d.Name] = true
	}
	return nil
}

// ConsentSource is the Source of the consent record an opt-in or withdrawal of list l
// made through source (SourceForm, ...) is kept with: "newsletter-form:weekly". The
// record's Purpose is the list's; its Source names the list.
func ConsentSource(source string, l List) string { return source + ":" + string(l) }

// Status is where a subscription stands.
type Status string

// Subscription statuses.
const (
	StatusPending      Status = "pending"      // asked to join, has not confirmed the address yet
	StatusConfirmed    Status = "confirmed"    // confirmed: receives the list's campaigns
	StatusUnsubscribed Status = "unsubscribed" // left: receives nothing until a new double opt-in
)

// Consent record sources this package writes. Records whose source starts with
// "newsletter-" are this package's own and SyncConsents skips them.
const (
	SourceForm         = "newsletter-form"        // the subscribe form or API
	SourceConfirm      = "newsletter-confirm"     // the confirmation page
	SourceOneClick     = "newsletter-one-click"   // a POST to the unsubscribe URL (RFC 8058 or the page)
	SourcePreferences  = "newsletter-preferences" // the preference page
	SourceComplaint    = "newsletter-complaint"   // a spam complaint
	SourceRegistration = "registration"           // written by the accounts capability, read by SyncConsents
)

// Subscription is one address on one list. There is at most one per (Email, List):
// leaving and joining again reuses it. It holds no IP address and no user agent.
type Subscription struct {
	ID            int64     `json:"-"`
	Email         string    `json:"email"`
	List          List      `json:"list"`
	Status        Status    `json:"status"`
	Source        string    `json:"source"`         // how the latest opt-in arrived: SourceForm or SourceRegistration
	PolicyVersion string    `json:"policy_version"` // the policy in force at the latest opt-in
	CreatedAt     time.Time `json:"created_at"`
	ConfirmedAt   time.Time `json:"confirmed_at,omitzero"`
	LeftAt        time.Time `json:"left_at,omitzero"`

	// The outstanding confirmation, while Status is pending. Only the SHA-256 of the
	// token mailed is kept.
	ConfirmHash    []byte    `json:"-"`
	ConfirmSentAt  time.Time `json:"-"`
	ConfirmExpires time.Time `json:"-"`
}

// awaitsConfirmation reports whether s is pending with a confirmation that has not
// expired at now.
func (s Subscription) awaitsConfirmation(now time.Time) bool {
	return s.Status == StatusPending && len(s.ConfirmHash) > 0 && now.Before(s.ConfirmExpires)
}

// CampaignStatus is where a campaign stands.
type CampaignStatus string

// Campaign statuses. A campaign goes draft -> scheduled -> sending -> sent; a
// scheduled or sending campaign can be cancelled, and a scheduled one returned to draft.
const (
	CampaignDraft     CampaignStatus = "draft"
	CampaignScheduled CampaignStatus = "scheduled"
	CampaignSending   CampaignStatus = "sending"   // recipients are being enqueued
	CampaignSent      CampaignStatus = "sent"      // every recipient is enqueued; the outbox delivers
	CampaignCancelled CampaignStatus = "cancelled" // no further recipient is enqueued
)

// Campaign is one mailing to the confirmed members of a list. It holds no recipient:
// its resume point is Cursor, the last subscription id enqueued.
type Campaign struct {
	ID         int64          `json:"id"`
	List       List           `json:"list"`
	Subject    string         `json:"subject"`
	Markdown   string         `json:"markdown"`
	HTML       string         `json:"html"` // the body rendered from Markdown, without the footer
	Text       string         `json:"text"` // the plain-text alternative, without the footer
	Status     CampaignStatus `json:"status"`
	SendAt     time.Time      `json:"send_at,omitzero"`
	Cursor     int64          `json:"cursor"`   // last subscription id enqueued
	Total      int            `json:"total"`    // confirmed members when sending started
	Enqueued   int            `json:"enqueued"` // messages enqueued so far
	Skipped    int            `json:"skipped"`  // recipients the Mailer refused (suppressed, left meanwhile)
	CreatedBy  string         `json:"created_by"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
}

// Ref is the outbox reference of the campaign's messages.
func (c Campaign) Ref() string { return campaignRef(c.ID) }

// Recipient is one confirmed member a campaign batch mails.
type Recipient struct {
	ID    int64 // the subscription id
	Email string
}

// Batch is what one EnqueueBatch call did.
type Batch struct {
	Enqueued int            // messages enqueued
	Skipped  int            // recipients the send function declined
	Status   CampaignStatus // the campaign's status after the batch
}

// SendFunc enqueues the campaign's message to each of rs, all or none, and returns
// how many were enqueued: the others were skipped (the Mailer refused them). An
// error stops the batch.
type SendFunc func(ctx context.Context, rs []Recipient) (enqueued int, err error)

// Store keeps subscriptions, campaigns and the consent-sync cursor. The rules live in
// the Service; a Store makes each call atomic. It is a privacy.UnitOfWork: the Service
// runs a change and the mail it causes in one Do, on the same database as the
// Mailer's store, so mail is enqueued if and only if the change commits.
type Store interface {
	privacy.UnitOfWork
	// Subscription returns email's subscription to list, seeing the uncommitted rows
	// of a transaction ctx carries. Returns ErrNotFound if there is none.
	Subscription(ctx context.Context, email string, list List) (Subscription, error)
	// SubscriptionsTo returns the subscriptions to list of those of emails that have
	// one, matching addresses as Subscription does, in no particular order.
	SubscriptionsTo(ctx context.Context, list List, emails []string) ([]Subscription, error)
	// Subscriptions returns email's subscriptions ordered by list (none is not an error).
	Subscriptions(ctx context.Context, email string) ([]Subscription, error)
	// SubscriptionByID returns the subscription with id. Returns ErrNotFound.
	SubscriptionByID(ctx context.Context, id int64) (Subscription, error)
	// SubscriptionsByConfirmHash returns the subscriptions whose outstanding
	// confirmation has hash (none is not an error).
	SubscriptionsByConfirmHash(ctx context.Context, hash []byte) ([]Subscription, error)
	// UpdateSubscriptions locks email's subscriptions, passes them to decide, and
	// writes the subscriptions decide returns (ID 0 inserts, others update). decide
	// must not call the store, and may be called again when a first subscription of
	// the address races it. Returns the written rows; decide's error with nothing
	// written; ErrConflict if a row decide inserts exists.
	UpdateSubscriptions(ctx context.Context, email string, decide func(current []Subscription) ([]Subscription, error)) ([]Subscription, error)
	// EraseSubscriptions removes every subscription of email and returns how many.
	EraseSubscriptions(ctx context.Context, email string) (int, error)
	// PurgeSubscriptions removes pending subscriptions whose confirmation expired
	// before pendingBefore, and unsubscribed ones that left before leftBefore (none
	// when leftBefore is zero). Returns how many.
	PurgeSubscriptions(ctx context.Context, pendingBefore, leftBefore time.Time) (int, error)
	// CountConfirmed counts the confirmed members of list.
	CountConfirmed(ctx context.Context, list List) (int, error)

	// CreateCampaign stores c and sets its ID.
	CreateCampaign(ctx context.Context, c *Campaign) error
	// Campaign returns the campaign with id. Returns ErrNotFound.
	Campaign(ctx context.Context, id int64) (Campaign, error)
	// Campaigns returns up to limit campaigns, newest first.
	Campaigns(ctx context.Context, limit int) ([]Campaign, error)
	// UpdateCampaign locks campaign id, passes it to fn and stores what fn leaves in
	// it unless fn fails. Returns the stored campaign; ErrNotFound; fn's error.
	UpdateCampaign(ctx context.Context, id int64, fn func(c *Campaign) error) (Campaign, error)
	// DueCampaigns returns the campaigns that are sending, or scheduled at or before now.
	DueCampaigns(ctx context.Context, now time.Time) ([]Campaign, error)
	// EnqueueBatch locks campaign id and, if it is sending, calls send once with up to
	// limit confirmed members of its list whose subscription id is above its Cursor,
	// in id order. The cursor and counts advance with the messages, in one
	// transaction: a failure of send or a crash leaves both as they were, so no
	// recipient is lost and none is enqueued twice. When fewer than limit members
	// remain, the campaign becomes sent. Returns ErrNotFound.
	EnqueueBatch(ctx context.Context, id int64, limit int, now time.Time, send SendFunc) (Batch, error)

	// WithSyncCursor locks the consent-sync cursor, calls fn with it and stores the
	// cursor fn returns, in one transaction that fn's work joins. Concurrent callers
	// take turns. If fn fails, the cursor is unchanged.
	WithSyncCursor(ctx context.Context, fn func(ctx context.Context, cursor int64) (int64, error)) error
}
