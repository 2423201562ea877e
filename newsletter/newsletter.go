package newsletter

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// A List is a mailing list a person opts into on its own. Each list mails under its
// own privacy.Purpose, so the purpose-bound Mailer refuses a list's mail to anyone
// who did not opt into that very list.
type List string

// The lists. Each is its own opt-in.
const (
	ListNewsletter List = "newsletter"
	ListPromotions List = "promotions"
)

// Lists returns every list, in a fixed order.
func Lists() []List { return []List{ListNewsletter, ListPromotions} }

// Valid reports whether l is one of Lists.
func (l List) Valid() bool { return l == ListNewsletter || l == ListPromotions }

// Purpose is the privacy purpose the list mails under.
func (l List) Purpose() privacy.Purpose {
	if l == ListPromotions {
		return privacy.PurposePromotions
	}
	return privacy.PurposeNewsletter
}

// listFor returns the list that mails under p.
func listFor(p privacy.Purpose) (List, bool) {
	switch p {
	case privacy.PurposeNewsletter:
		return ListNewsletter, true
	case privacy.PurposePromotions:
		return ListPromotions, true
	}
	return "", false
}

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

// SendFunc enqueues the campaign's message to r. It returns true if a message was
// enqueued and false if the recipient was skipped (the Mailer refused); an error
// stops the batch.
type SendFunc func(ctx context.Context, r Recipient) (bool, error)

// Store keeps subscriptions, campaigns and the consent-sync cursor. The rules live in
// the Service; a Store makes each call atomic. It is a privacy.UnitOfWork: the Service
// runs a change and the mail it causes in one Do, on the same database as the
// Mailer's store, so mail is enqueued if and only if the change commits.
type Store interface {
	privacy.UnitOfWork
	// Subscription returns email's subscription to list, seeing the uncommitted rows
	// of a transaction ctx carries. Returns ErrNotFound if there is none.
	Subscription(ctx context.Context, email string, list List) (Subscription, error)
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
	// EnqueueBatch locks campaign id and, if it is sending, calls send for up to limit
	// confirmed members of its list whose subscription id is above its Cursor, in id
	// order. The cursor and counts advance with the messages, in one transaction: a
	// failure of send or a crash leaves both as they were, so no recipient is lost and
	// none is enqueued twice. (The memory store, whose outbox cannot roll back,
	// advances past every recipient send handled before the failure.) When fewer than
	// limit members remain, the campaign becomes sent. Returns ErrNotFound.
	EnqueueBatch(ctx context.Context, id int64, limit int, now time.Time, send SendFunc) (Batch, error)

	// WithSyncCursor locks the consent-sync cursor, calls fn with it and stores the
	// cursor fn returns, in one transaction that fn's work joins. Concurrent callers
	// take turns. If fn fails, the cursor is unchanged.
	WithSyncCursor(ctx context.Context, fn func(ctx context.Context, cursor int64) (int64, error)) error
}
