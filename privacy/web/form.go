package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

// MaxBody is the default limit on a form or JSON body.
const MaxBody = 64 << 10

// Honeypot is the name of the hidden field a person leaves empty and a bot fills.
const Honeypot = "website"

// TimestampField is the name of the hidden field that carries the signed time the
// form was served.
const TimestampField = "ts"

// WantsJSON reports whether the request asks for JSON: a JSON body, or an Accept
// header that prefers application/json to text/html.
func WantsJSON(r *http.Request) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// Decode reads a request's fields from a JSON object or a URL-encoded form into a
// flat map, with a body of at most max bytes (MaxBody when 0). A field given twice,
// a JSON value that is not a string, number or boolean, or a body that is too large or
// of an unsupported type is ErrInvalid.
func Decode(r *http.Request, max int64) (url.Values, error) {
	if max <= 0 {
		max = MaxBody
	}
	body := http.MaxBytesReader(nil, r.Body, max)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		return decodeJSON(body)
	case "application/x-www-form-urlencoded", "":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, tooLarge(err)
		}
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, privacy.Invalid("body", "the form could not be read")
		}
		for k, vs := range v {
			if len(vs) > 1 {
				return nil, privacy.Invalid(k, "was given more than once")
			}
		}
		return v, nil
	}
	return nil, privacy.Invalid("content-type", "send application/x-www-form-urlencoded or application/json")
}

func tooLarge(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return privacy.Invalid("body", "the request is larger than %d bytes", mb.Limit)
	}
	return privacy.Invalid("body", "the request body could not be read")
}

func decodeJSON(r io.Reader) (url.Values, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, tooLarge(err)
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(b) {
		return nil, privacy.Invalid("body", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, privacy.Invalid("body", "the body is not a JSON object")
	}
	if dec.More() {
		return nil, privacy.Invalid("body", "the body holds more than one JSON value")
	}
	v := url.Values{}
	for k, m := range raw {
		if k == "" {
			return nil, privacy.Invalid("body", "a field has no name")
		}
		var x any
		if err := json.Unmarshal(m, &x); err != nil {
			return nil, privacy.Invalid(k, "could not be read")
		}
		switch x := x.(type) {
		case string:
			v.Set(k, x)
		case bool:
			if x {
				v.Set(k, "on")
			}
		case float64:
			v.Set(k, strings.TrimSpace(string(m)))
		case nil:
		default:
			return nil, privacy.Invalid(k, "must be a string, number or boolean")
		}
	}
	return v, nil
}

// Signer signs and checks the timestamp hidden in each form.
type Signer struct {
	Key    []byte        // at least 32 random bytes, the same in every process of a site
	MinAge time.Duration // a form submitted sooner than this is refused (default 3s)
	MaxAge time.Duration // a form older than this is refused (default 24h)
	Now    func() time.Time
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Stamp returns the value for the TimestampField of a form served now.
func (s *Signer) Stamp() string {
	b := make([]byte, 8, 8+sha256.Size)
	binary.BigEndian.PutUint64(b, uint64(s.now().Unix()))
	return base64.RawURLEncoding.EncodeToString(s.mac(b))
}

func (s *Signer) mac(b []byte) []byte {
	h := hmac.New(sha256.New, s.Key)
	h.Write([]byte("consentkit form\x00"))
	h.Write(b[:8])
	return h.Sum(b[:8])
}

// Check verifies a stamp: ErrInvalid naming TimestampField if it is missing, forged,
// too fresh (a bot) or too old (reload the page).
func (s *Signer) Check(stamp string) error {
	b, err := base64.RawURLEncoding.DecodeString(stamp)
	if err != nil || len(b) != 8+sha256.Size || !hmac.Equal(s.mac(append([]byte(nil), b[:8]...)), b) {
		return privacy.Invalid(TimestampField, "the form has expired or was altered; reload the page")
	}
	minAge, maxAge := s.MinAge, s.MaxAge
	if minAge == 0 {
		minAge = 3 * time.Second
	}
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	age := s.now().Sub(time.Unix(int64(binary.BigEndian.Uint64(b)), 0))
	switch {
	case age < minAge:
		return privacy.Invalid(TimestampField, "the form was sent too quickly; please wait a moment and send it again")
	case age > maxAge:
		return privacy.Invalid(TimestampField, "the form has expired; reload the page")
	}
	return nil
}

// Bot reports whether the honeypot field was filled. Callers answer a bot as if it
// had succeeded and store nothing.
func Bot(v url.Values) bool { return v.Get(Honeypot) != "" }
