package comments

import (
	"context"
	"slices"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// PurposeFollowUp is the one purpose comments mails an address for: replies to a
// comment whose author asked for them (P8).
const PurposeFollowUp privacy.Purpose = "comment-follow-up"

// Status is where a comment is in moderation.
type Status string

// The statuses. Only StatusApproved comments are public; a StatusDeleted comment is a
// tombstone kept, with no name, address or text, because replies hang under it.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusRejected Status = "rejected"
	StatusDeleted  Status = "deleted"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusApproved, StatusRejected, StatusDeleted:
		return true
	}
	return false
}

// Shown reports whether comments with status s are part of what Store.Thread
// returns: approved comments, and deleted ones kept as tombstones for their replies.
func (s Status) Shown() bool { return s == StatusApproved || s == StatusDeleted }

// Comment is one comment as stored. Email is personal data: it never leaves the
// package in a public view (see Public).
type Comment struct {
	ID       int64
	Thread   string // the host's page identifier
	ParentID int64  // 0 for a top-level comment
	Name     string // "" once erased or deleted
	Email    string // normalised; "" once erased or deleted
	Source   string // Markdown as written
	HTML     string // Source rendered and sanitized at write
	Digest   string // hex SHA-256 of the normalised Source, for duplicate detection
	Status   Status
	FollowUp bool   // the author asked to be mailed about replies
	Hue      int    // avatar colour 1..8 from a keyed hash of Email; 0 for none
	Manage   []byte // SHA-256 of the manage token; nil once erased
	Created  time.Time
	Edited   time.Time // zero if never edited
	// Moderated is when a moderator last approved or rejected the comment; rejected
	// comments are purged RejectedRetention after it.
	Moderated time.Time
}

// Subscriber is an address's follow-up state: whether it confirmed that it wants
// reply notifications, and whether it used the stop link.
type Subscriber struct {
	Email          string
	ConfirmHash    []byte    // SHA-256 of the pending confirmation token; nil when none
	ConfirmExpires time.Time // when the pending confirmation expires
	Confirmed      time.Time // zero until confirmed
	Stopped        time.Time // zero unless the stop link was used
	StopHash       []byte    // SHA-256 of the address's stop token
	Created        time.Time
}

// Pending reports whether s holds a confirmation request unexpired at now.
func (s Subscriber) Pending(now time.Time) bool {
	return s.ConfirmHash != nil && s.Confirmed.IsZero() && now.Before(s.ConfirmExpires)
}

// Active reports whether s confirmed and has not stopped: reply mail may go to it.
func (s Subscriber) Active() bool { return !s.Confirmed.IsZero() && s.Stopped.IsZero() }

// MayAsk reports whether a confirmation may be requested for s at now: it has not
// confirmed, has not stopped, and holds no request unexpired at now.
func (s Subscriber) MayAsk(now time.Time) bool {
	return s.Confirmed.IsZero() && s.Stopped.IsZero() && !s.Pending(now)
}

// Confirm returns s confirmed at now, its confirmation token spent. Returns ErrGone
// when the request expired at now.
func (s Subscriber) Confirm(now time.Time) (Subscriber, error) {
	if !now.Before(s.ConfirmExpires) {
		return s, errLinkExpired
	}
	s.Confirmed, s.ConfirmHash = now, nil
	return s, nil
}

// SetStopped returns s stopped at now (keeping the first time), or, with stopped
// false, resumed and confirmed: only the address's mailbox got the stop token.
// Either way a pending confirmation is cancelled.
func (s Subscriber) SetStopped(stopped bool, now time.Time) Subscriber {
	s.ConfirmHash = nil
	switch {
	case stopped && s.Stopped.IsZero():
		s.Stopped = now
	case !stopped:
		s.Stopped = time.Time{}
		if s.Confirmed.IsZero() {
			s.Confirmed = now
		}
	}
	return s
}

// FollowUpAllowed is the follow-up mail guard's rule: mail may reach sub at now
// when it has not stopped, confirmed or holds a request unexpired at now, and one
// of its comments that asked for follow-up (their statuses) is pending or approved.
func FollowUpAllowed(sub Subscriber, statuses []Status, now time.Time) bool {
	if !sub.Stopped.IsZero() || sub.Confirmed.IsZero() && !sub.Pending(now) {
		return false
	}
	return slices.ContainsFunc(statuses, func(st Status) bool { return st == StatusPending || st == StatusApproved })
}

// SubscriberKey finds a subscriber: by address (matched without regard to case),
// by the hash of its pending confirmation token, or by the hash of its stop token.
// Exactly one field is set.
type SubscriberKey struct {
	Email       string
	ConfirmHash []byte
	StopHash    []byte
}

// QueueFilter selects comments for the moderation queue.
type QueueFilter struct {
	Status Status // required
	Thread string // "" for every thread
	Limit  int    // the store applies 100 when 0
	Offset int    // comments to skip, for a later page
}

// DuplicateQuery asks whether a comment repeats one already stored: the same Digest
// from the same Email in the same Thread at any time, or the same Digest from anyone
// anywhere created at or after Since (zero Since disables the second rule). Deleted
// comments never match.
type DuplicateQuery struct {
	Thread string
	Email  string
	Digest string
	Since  time.Time
}

// Store keeps comments and follow-up state. Implementations: memstore (memory) and
// mysqlstore. It is a privacy.UnitOfWork: the Service runs a change and the mail it
// causes in one Do, on the same database as the Mailer's store, so a message is
// queued if and only if the change commits, and every read made with Do's context
// (the mail guard's among them) sees the uncommitted change. The store keeps no
// rule about comments or follow-up: a method that must read, decide and write at
// once takes the Service's decision as decide, which must not call the store.
type Store interface {
	privacy.UnitOfWork
	// CreateComment stores c and sets its ID. Returns ErrConflict if c.Manage is
	// already used.
	CreateComment(ctx context.Context, c *Comment) error
	// Comment returns the comment with id, or ErrNotFound.
	Comment(ctx context.Context, id int64) (Comment, error)
	// CommentByManage returns the comment whose manage token hashes to hash, or ErrNotFound.
	CommentByManage(ctx context.Context, hash []byte) (Comment, error)
	// Thread returns thread's approved and deleted comments, oldest first, with
	// only what a page shows (ID, Thread, ParentID, Name, HTML, Status, Hue,
	// Created, Edited): Email, Source, Digest, FollowUp, Manage and Moderated are
	// left empty, so that the busiest read never touches an address.
	Thread(ctx context.Context, thread string) ([]Comment, error)
	// ThreadVersion returns thread's version: an opaque number, 0 until the store
	// first records a change to the thread, that changes in the same transaction as
	// every change to what Thread returns for it (a published comment created, a
	// status moved to or from approved, an edit, new HTML, a deletion or tombstone,
	// an erasure). Reads, and changes Thread does not show (an unpublished comment
	// created, edited, or removed without replies; follow-up state; another thread),
	// leave it alone, so a burst of held spam does not empty a cache. A version
	// never comes back once left: a cache keyed by (thread, version), filled by
	// reading the version before the comments, is never stale. It is one indexed
	// read, cheap enough to make on every page view.
	ThreadVersion(ctx context.Context, thread string) (int64, error)
	// Queue returns comments with f.Status (and f.Thread unless empty), oldest
	// first, skipping the first f.Offset of them.
	Queue(ctx context.Context, f QueueFilter) ([]Comment, error)
	// Comments returns up to limit comments with ID > after, by ID, for re-rendering.
	Comments(ctx context.Context, after int64, limit int) ([]Comment, error)
	// EditComment replaces id's Source, HTML and Digest and sets Edited to at.
	// Returns ErrNotFound if no such live comment exists.
	EditComment(ctx context.Context, id int64, source, html, digest string, at time.Time) error
	// SetHTML replaces id's HTML. Returns ErrNotFound.
	SetHTML(ctx context.Context, id int64, html string) error
	// SetStatus locks id, passes its status to decide and moves it to the status
	// decide returns, setting Moderated to at. Returns ErrNotFound, or decide's
	// error with nothing written.
	SetStatus(ctx context.Context, id int64, at time.Time, decide func(current Status) (Status, error)) error
	// DeleteComment removes id, or, when other comments reply to it, keeps it as a
	// StatusDeleted tombstone with no name, address, text or manage hash. Returns
	// ErrNotFound.
	DeleteComment(ctx context.Context, id int64) error
	// Approved returns how many of email's comments are approved.
	Approved(ctx context.Context, email string) (int, error)
	// ThreadSize returns how many of thread's comments are pending or approved, and
	// the bytes of their HTML.
	ThreadSize(ctx context.Context, thread string) (n int, html int64, err error)
	// Duplicate reports whether q matches a stored comment.
	Duplicate(ctx context.Context, q DuplicateQuery) (bool, error)
	// CommentsBy returns every comment email wrote, oldest first.
	CommentsBy(ctx context.Context, email string) ([]Comment, error)
	// EraseCommenter erases email's comments: with keepText, approved ones keep their
	// text under no name (no address, avatar, follow-up or manage hash) and the others
	// are removed; without, every one is removed as DeleteComment does. It also
	// removes email's subscriber record. Returns how many comments were removed and
	// how many kept without their author.
	EraseCommenter(ctx context.Context, email string, keepText bool) (removed, kept int, err error)
	// PurgeRejected removes rejected comments moderated before t and returns how many.
	PurgeRejected(ctx context.Context, t time.Time) (int, error)

	// UpdateSubscriber locks the follow-up state key finds, passes it to decide
	// and writes what decide returns. When an Email key finds none, decide is
	// given the zero Subscriber and what it returns is inserted; a hash key that
	// finds none returns ErrNotFound. A Subscriber returned without Email removes
	// the state; an existing one keeps its Email as first stored. Returns the
	// state written, or decide's error with nothing written.
	UpdateSubscriber(ctx context.Context, key SubscriberKey, decide func(current Subscriber) (Subscriber, error)) (Subscriber, error)
	// Subscriber returns email's follow-up state, or ErrNotFound.
	Subscriber(ctx context.Context, email string) (Subscriber, error)
	// SubscriberByConfirm returns the subscriber whose pending token hashes to hash,
	// or ErrNotFound.
	SubscriberByConfirm(ctx context.Context, hash []byte) (Subscriber, error)
	// SubscriberByStop returns the subscriber whose stop token hashes to hash, or ErrNotFound.
	SubscriberByStop(ctx context.Context, hash []byte) (Subscriber, error)
	// FollowUpStatuses returns the statuses, each once, of email's comments that
	// asked for follow-up.
	FollowUpStatuses(ctx context.Context, email string) ([]Status, error)
	// PurgeSubscribers removes subscribers that never confirmed and whose request
	// expired at or before t, and confirmed, unstopped ones with no comment left, and
	// returns how many.
	PurgeSubscribers(ctx context.Context, t time.Time) (int, error)

	// UseStamp records that the form stamp hashing to hash posted a comment and
	// is spent until expires. Returns ErrConflict if hash is recorded with an
	// expiry after now. Inside a unit of work the record is part of it, so it is
	// undone with the comment, and a concurrent use of the same hash waits for it
	// (MySQL) and then fails.
	UseStamp(ctx context.Context, hash []byte, expires, now time.Time) error
	// StampUsed reports whether hash is recorded with an expiry after now.
	StampUsed(ctx context.Context, hash []byte, now time.Time) (bool, error)
	// PurgeStamps removes the records that expired at or before t and returns
	// how many.
	PurgeStamps(ctx context.Context, t time.Time) (int, error)
}
