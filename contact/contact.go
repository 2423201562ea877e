package contact

import (
	"context"
	"crypto/rand"
	"io"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// PurposeSupport is the one purpose contact mails an address for: answering the
// question sent from it (P3).
const PurposeSupport privacy.Purpose = "support"

// Status is where a request stands.
type Status string

// The statuses. A request is open until staff close it; only closed requests expire.
const (
	StatusOpen   Status = "open"
	StatusClosed Status = "closed"
)

// Valid reports whether st is a known status.
func (st Status) Valid() bool { return st == StatusOpen || st == StatusClosed }

// Request is one contact request: what the visitor sent, and the staff's replies.
type Request struct {
	ID       int64     `json:"-"`
	Ref      string    `json:"ref"` // random, non-sequential, e.g. K7Q4-M2XH
	Name     string    `json:"name,omitempty"`
	Email    string    `json:"email"`
	Subject  string    `json:"subject"`
	Message  string    `json:"message,omitempty"` // empty in lists
	Category string    `json:"category,omitempty"`
	Status   Status    `json:"status"`
	AckSent  bool      `json:"-"` // an acknowledgement was sent for it
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Closed   time.Time `json:"closed,omitzero"`
	Replies  int       `json:"replies"`          // how many replies the thread holds
	Thread   []Reply   `json:"thread,omitempty"` // oldest first; nil in lists
}

// Reply is one staff answer, kept in the request's thread.
type Reply struct {
	ID      int64     `json:"id"`
	StaffID string    `json:"staff_id,omitempty"`
	Staff   string    `json:"staff,omitempty"` // the staff member's address
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
}

// Filter selects requests to list. Zero fields match everything.
type Filter struct {
	Status Status // "" for every status
	Limit  int    // default 50, at most 200
	Offset int
}

// Store keeps contact requests. It is a privacy.UnitOfWork: the Service runs a
// change and the mail it causes in one Do, on the same database as the Mailer's
// store, so that every query made through the store with Do's context (the
// Mailer's purpose check among them) sees the uncommitted change, and a change
// whose mail cannot be queued is not kept. The store keeps no rule of its own:
// what may change is decided by the Service.
type Store interface {
	privacy.UnitOfWork
	// Create stores r, setting r.ID. Returns ErrConflict when r.Ref is taken.
	Create(ctx context.Context, r *Request) error
	// Get returns the request with its thread. Returns ErrNotFound.
	Get(ctx context.Context, ref string) (Request, error)
	// List returns matching requests newest first, without Message or Thread.
	List(ctx context.Context, f Filter) ([]Request, error)
	// AddReply locks the request ref, passes it (without its thread) to decide,
	// and appends the reply decide returns to its thread, setting the reply's ID,
	// and marks the request updated at the reply's At. decide must not call the
	// store. Returns the stored reply; ErrNotFound, or decide's error, with nothing
	// written.
	AddReply(ctx context.Context, ref string, decide func(current Request) (Reply, error)) (Reply, error)
	// Close closes the request at at. Closing a closed request changes nothing.
	// Returns ErrNotFound.
	Close(ctx context.Context, ref string, at time.Time) error
	// Reopen opens the closed request again, marking it updated at at and
	// clearing its closing time. Reopening an open request changes nothing.
	// Returns ErrNotFound.
	Reopen(ctx context.Context, ref string, at time.Time) error
	// Answerable reports whether email has an open request, or one closed at or
	// after closedSince. The address is matched exactly.
	Answerable(ctx context.Context, email string, closedSince time.Time) (bool, error)
	// AckedSince reports whether a request from email created at or after since
	// was acknowledged. The address is matched without regard to case.
	AckedSince(ctx context.Context, email string, since time.Time) (bool, error)
	// ByEmail returns every request from email, with threads, oldest first. The
	// address is matched without regard to case.
	ByEmail(ctx context.Context, email string) ([]Request, error)
	// EraseEmail removes every request from email and its thread and returns how
	// many requests it removed. The address is matched without regard to case.
	EraseEmail(ctx context.Context, email string) (int, error)
	// Purge removes closed requests closed before t, with their threads, and
	// returns how many.
	Purge(ctx context.Context, t time.Time) (int, error)
}

// refAlphabet is Crockford's base32: no I, L, O or U, so a reference read aloud or
// copied by hand cannot be mistaken. 32 symbols, so one random byte masked to five
// bits picks one without bias.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// RefLen is the length of a reference, dash included.
const RefLen = 9

// NewRef returns a random reference such as K7Q4-M2XH (40 bits) read from rnd, or
// crypto/rand when rnd is nil.
func NewRef(rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", err
	}
	out := make([]byte, 0, RefLen)
	for i, x := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, refAlphabet[x&31])
	}
	return string(out), nil
}

// ParseRef reads a reference as a person may type it: any case, the dash optional,
// and the letters Crockford's alphabet leaves out read as the digits they look like
// (O as 0, I and L as 1). Returns ErrNotFound, naming no field, for anything else:
// a malformed reference is as absent as an unknown one.
func ParseRef(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) == RefLen && s[4] == '-' {
		s = s[:4] + s[5:]
	}
	if len(s) != RefLen-1 {
		return "", privacy.Errorf(privacy.ErrNotFound, "no such contact request")
	}
	out := make([]byte, 0, RefLen)
	for i := range len(s) {
		c := s[i]
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(refAlphabet, c) < 0 {
			return "", privacy.Errorf(privacy.ErrNotFound, "no such contact request")
		}
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, c)
	}
	return string(out), nil
}
