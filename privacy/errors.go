package privacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
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
	Kind       error
	Field      string
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

// statuses is the one map from error kind to HTTP status.
var statuses = []struct {
	kind   error
	status int
}{
	{ErrInvalid, http.StatusBadRequest},
	{ErrUnauthorized, http.StatusUnauthorized},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrConflict, http.StatusConflict},
	{ErrGone, http.StatusGone},
	{ErrRateLimited, http.StatusTooManyRequests},
	{ErrUnavailable, http.StatusServiceUnavailable},
}

// HTTPStatus returns the HTTP status for err: the status of its kind, or 500. The
// outermost *Error decides, so a 503 that wraps a refusal stays a 503.
func HTTPStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		err = e.Kind
	}
	for _, s := range statuses {
		if errors.Is(err, s.kind) {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of an error response.
type ErrorBody struct {
	Error struct {
		Status  int    `json:"status"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

// Describe returns the status, field and message to show for err. Internal errors
// are described only as such: their text may hold anything.
func Describe(err error) ErrorBody {
	var b ErrorBody
	b.Error.Status = HTTPStatus(err)
	var e *Error
	switch {
	case b.Error.Status == http.StatusInternalServerError:
		b.Error.Message = "internal error"
	case errors.As(err, &e):
		b.Error.Field = e.Field
		b.Error.Message = e.Message
		if b.Error.Message == "" {
			b.Error.Message = e.Kind.Error()
		}
	default:
		for _, s := range statuses {
			if errors.Is(err, s.kind) {
				b.Error.Message = s.kind.Error()
				break
			}
		}
		var re *RefusalError
		if errors.As(err, &re) {
			b.Error.Message = "this message is not allowed by the privacy policy"
		}
	}
	return b
}

// SetRetryAfter sets the Retry-After header when err carries a delay.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
}

// WriteJSONError writes err as a JSON error body with its status. Only internal
// errors are logged: the others are the caller's to fix, not the operator's.
func WriteJSONError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	b := Describe(err)
	if b.Error.Status == http.StatusInternalServerError && log != nil {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	SetRetryAfter(w, err)
	WriteJSON(w, b.Error.Status, b)
}

// WriteJSON writes v as a JSON response with status: the one way every
// capability's JSON API answers.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
