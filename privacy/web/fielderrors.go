package web

import (
	"errors"
	"fmt"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

// FieldError is one fault of a submitted form, as a page shows it: beside its field
// and in the summary above the form.
type FieldError struct {
	// Field is the input's name, or "" for a fault of no field the page shows
	// (shown in the summary only).
	Field string
	// Code and Limit are the rule's, from privacy.Error, for a template that
	// words the fault itself (a translation); "" when the message is a sentence.
	Code  string
	Limit int
	// Text is the fault in English, a sentence: "Name is required."
	Text string
}

// FieldErrors lists every fault err holds, one error or several joined with
// errors.Join, in order. label names each field as the page shows it, or returns ""
// for a field the page does not show. A rule's predicate ("is required") is put
// after the field's label; any other message is shown as it is, capitalised.
// Internal errors are described only as such.
func FieldErrors(err error, label func(field string) string) []FieldError {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		if _, single := err.(*privacy.Error); !single {
			var out []FieldError
			for _, part := range joined.Unwrap() {
				out = append(out, FieldErrors(part, label)...)
			}
			return out
		}
	}
	d := Describe(err)
	fe := FieldError{Text: upperFirst(d.Error.Message)}
	if d.Error.Status == http.StatusInternalServerError {
		return []FieldError{fe}
	}
	var e *privacy.Error
	rule := errors.As(err, &e) && e.Code != ""
	l := label(d.Error.Field)
	switch {
	case l == "" && rule:
		fe.Text = fmt.Sprintf("The %s field %s", d.Error.Field, e.Message)
	case rule:
		fe.Field, fe.Code, fe.Limit, fe.Text = d.Error.Field, e.Code, e.Limit, l+" "+e.Message
	case l != "":
		fe.Field = d.Error.Field
	}
	return []FieldError{fe}
}

// ByField returns the text of each field's first fault, by field name, for
// templates that mark the inputs.
func ByField(errs []FieldError) map[string]string {
	m := map[string]string{}
	for _, e := range errs {
		if _, seen := m[e.Field]; e.Field != "" && !seen {
			m[e.Field] = e.Text
		}
	}
	return m
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// SecurityHeaders sets the headers every page and answer of consentkit sends: no
// MIME sniffing, no Referer (mailed links carry tokens in their URLs), and no
// framing by another site. A host's own headers (a Content-Security-Policy, say)
// are its to add.
func SecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
