package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// statuses is the one map from error kind to HTTP status.
var statuses = []struct {
	kind   error
	status int
}{
	{privacy.ErrInvalid, http.StatusBadRequest},
	{privacy.ErrUnauthorized, http.StatusUnauthorized},
	{privacy.ErrForbidden, http.StatusForbidden},
	{privacy.ErrNotFound, http.StatusNotFound},
	{privacy.ErrConflict, http.StatusConflict},
	{privacy.ErrGone, http.StatusGone},
	{privacy.ErrRateLimited, http.StatusTooManyRequests},
	{privacy.ErrUnavailable, http.StatusServiceUnavailable},
}

// HTTPStatus returns the HTTP status for err: the status of its kind, or 500. The
// outermost *Error decides, so a 503 that wraps a refusal stays a 503.
func HTTPStatus(err error) int {
	var e *privacy.Error
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
	var e *privacy.Error
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
		var re *privacy.RefusalError
		if errors.As(err, &re) {
			b.Error.Message = "this message is not allowed by the privacy policy"
		}
	}
	return b
}

// SetRetryAfter sets the Retry-After header when err carries a delay.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var e *privacy.Error
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
