package privacy

import (
	"errors"
	"fmt"
	"time"
)

// The error kinds. Every error a consentkit service returns on purpose is one of
// these, checked with errors.Is; anything else is an internal error.
var (
	ErrInvalid      = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("not signed in")
	ErrForbidden    = errors.New("forbidden")
	ErrRateLimited  = errors.New("too many requests")
	ErrUnavailable  = errors.New("temporarily unavailable")
	ErrGone         = errors.New("expired or already used")
)

// Error is a classified error: its Kind is one of the Err* kinds above, Field names the
// input field at fault (for ErrInvalid), and Message is safe to show to the person
// who sent the request.
type Error struct {
	Kind  error
	Field string
	// Code names the rule an ErrInvalid broke ("required", "too-long", ...) when
	// Message is a predicate of the field ("is required"): a page then puts the
	// field's label before it, or shows its own text for the code (a translation).
	Code string
	// Limit is the bound a "too-long" rule enforces.
	Limit      int
	Message    string
	RetryAfter time.Duration // with ErrRateLimited and ErrUnavailable
	Err        error         // the underlying cause, never shown
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.Error()
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Invalid returns an ErrInvalid error naming the field at fault.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// InvalidRule returns an ErrInvalid error naming the field at fault and the rule it
// broke; the message is a predicate of the field: InvalidRule("name", "required",
// "is required").
func InvalidRule(field, code, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errorf returns an error of the given kind with a message safe to show.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// FieldOf returns the field an ErrInvalid error names, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
