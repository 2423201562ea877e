package privacy

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxEmailLen is the longest address accepted (RFC 5321's path limit less the brackets).
const MaxEmailLen = 254

// NormalizeEmail trims s, checks that it is one plain address (no display name, no
// comments, no control characters) and lower-cases its domain. The local part is kept
// as typed and no provider-specific rewriting is done. Returns an ErrInvalid error
// naming the field "email".
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", Invalid("email", "an email address is required")
	case len(s) > MaxEmailLen:
		return "", Invalid("email", "the email address is longer than %d characters", MaxEmailLen)
	case !utf8.ValidString(s):
		return "", Invalid("email", "the email address is not valid UTF-8")
	}
	for _, r := range s {
		// Format characters (zero-width space, soft hyphen, direction overrides)
		// would make one address look like another.
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return "", Invalid("email", "the email address contains a space, control or invisible character")
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || at > 64 {
		return "", Invalid("email", "this is not an email address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", Invalid("email", "this is not an email address")
	}
	domain := strings.ToLower(s[at+1:])
	// IDNA registration rules: letters, digits and inner hyphens in each label, valid
	// punycode, no empty label; an internationalised domain is kept as typed.
	if _, err := idna.Registration.ToASCII(domain); err != nil || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", Invalid("email", "the address's domain is not valid")
	}
	return s[:at+1] + domain, nil
}

// AddressKey is the form in which two addresses are compared: addr (as
// NormalizeEmail returns it) lower-cased whole, local part included. One person
// types Zed@example.org one day and zed@example.org the next, and P1 (one address,
// one account), export and erasure must treat both as the same address; mailbox
// providers that treat the local part's case as significant are too rare to be
// worth two accounts for one person. Stores look addresses up, and hold them
// unique, by this key; they keep and mail the address as typed.
//
// SQL stores compare LOWER() of the stored address with LOWER() of the one asked
// for; the database's case folding agrees with this one on every ASCII address.
func AddressKey(addr string) string { return strings.ToLower(addr) }

// CheckText validates one line of untrusted text: valid UTF-8, no control characters
// (so it is safe in a mail header), at most max characters, and present when required.
// The error names field.
func CheckText(field, s string, max int, required bool) error {
	return checkText(field, s, max, required, false)
}

// CheckMultiline is CheckText for text that may span lines: tabs and line breaks
// are allowed, other control characters and NUL are not.
func CheckMultiline(field, s string, max int, required bool) error {
	return checkText(field, s, max, required, true)
}

func checkText(field, s string, max int, required, multiline bool) error {
	if !utf8.ValidString(s) {
		return InvalidRule(field, "utf8", "is not valid UTF-8 text")
	}
	n := utf8.RuneCountInString(s)
	if required && strings.TrimSpace(s) == "" {
		return InvalidRule(field, "required", "is required")
	}
	if n > max {
		return &Error{Kind: ErrInvalid, Field: field, Code: "too-long", Limit: max, Message: fmt.Sprintf("is longer than %d characters", max)}
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return InvalidRule(field, "control", "contains a control character")
		}
		if r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' {
			return InvalidRule(field, "bidi", "contains a text-direction override character")
		}
	}
	return nil
}
