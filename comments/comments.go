package comments

import (
	"context"
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
// mysqlstore. Methods that may cause mail take then, which runs inside the store's
// transaction (or, in memory, after the change, undoing it if then fails), so a
// message is enqueued if and only if the change commits.
type Store interface {
	// CreateComment stores c, sets its ID and runs then. Returns ErrConflict if c.Manage
	// is already used.
	CreateComment(ctx context.Context, c *Comment, then func(ctx context.Context) error) error
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
	// SetStatus moves id from one of the statuses in from to to, sets Moderated to at,
	// and runs then. Returns ErrNotFound if id does not exist and ErrConflict if its
	// status is not in from.
	SetStatus(ctx context.Context, id int64, from []Status, to Status, at time.Time, then func(ctx context.Context) error) error
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

	// RequestConfirmation records a confirmation request for s.Email (with
	// s.ConfirmHash, s.ConfirmExpires, s.StopHash, s.Created) and runs then, unless
	// the address has confirmed, has stopped, or holds a request unexpired at
	// s.Created: then it changes nothing and reports false. When then fails the
	// request is undone, even inside a caller's transaction.
	RequestConfirmation(ctx context.Context, s Subscriber, then func(ctx context.Context) error) (bool, error)
	// Confirm confirms the request whose token hashes to hash. Returns ErrNotFound for
	// an unknown hash and ErrGone for one expired at now.
	Confirm(ctx context.Context, hash []byte, now time.Time) (Subscriber, error)
	// SetStopped marks the address whose stop token hashes to hash as stopped (at
	// now) or, with stopped false, resumed and confirmed: the token reached only its
	// mailbox. Returns ErrNotFound.
	SetStopped(ctx context.Context, hash []byte, stopped bool, now time.Time) (Subscriber, error)
	// Subscriber returns email's follow-up state, or ErrNotFound.
	Subscriber(ctx context.Context, email string) (Subscriber, error)
	// SubscriberByConfirm returns the subscriber whose pending token hashes to hash,
	// or ErrNotFound.
	SubscriberByConfirm(ctx context.Context, hash []byte) (Subscriber, error)
	// SubscriberByStop returns the subscriber whose stop token hashes to hash, or ErrNotFound.
	SubscriberByStop(ctx context.Context, hash []byte) (Subscriber, error)
	// FollowUpAllowed answers the mail guard: a pending or approved comment from
	// email asked for follow-up, email has not stopped, and it confirmed or holds a
	// request unexpired at now. When ctx carries a transaction the answer sees its
	// uncommitted rows.
	FollowUpAllowed(ctx context.Context, email string, now time.Time) (bool, error)
	// PurgeSubscribers removes subscribers that never confirmed and whose request
	// expired at or before t, and confirmed, unstopped ones with no comment left, and
	// returns how many.
	PurgeSubscribers(ctx context.Context, t time.Time) (int, error)

	// UseStamp records that the form stamp hashing to hash posted a comment and
	// is spent until expires. Returns ErrConflict if hash is recorded with an
	// expiry after now. When ctx carries a transaction the record is part of it,
	// so it is undone with the comment, and a concurrent use of the same hash
	// waits for it and then fails.
	UseStamp(ctx context.Context, hash []byte, expires, now time.Time) error
	// StampUsed reports whether hash is recorded with an expiry after now.
	StampUsed(ctx context.Context, hash []byte, now time.Time) (bool, error)
	// PurgeStamps removes the records that expired at or before t and returns
	// how many.
	PurgeStamps(ctx context.Context, t time.Time) (int, error)
}
