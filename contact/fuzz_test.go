package contact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
	"github.com/consentkit/consentkit/privacy/web"
)

var fields = map[string]bool{"name": true, "email": true, "subject": true, "message": true, "category": true}

func fuzzSeeds(f *testing.F) {
	ok := url.Values{"name": {"Ann"}, "email": {visitor}, "subject": {"Hi"}, "message": {"Hello\r\nthere"}, "category": {"Support"}}
	f.Add([]byte(ok.Encode()), false)
	f.Add([]byte("name=Ann%0D%0ABcc%3A+victim%40example.net&email=ann%40example.org&subject=s&message=m"), false)
	f.Add([]byte("email=ann%40example.org&subject=%FF&message=%00"), false)
	f.Add([]byte("email=a&email=b"), false)
	f.Add([]byte("email=ann%40example.org&subject=%3Cscript%3E&message=%3C3"), false)
	f.Add([]byte(`{"name":"Ann","email":"ann@example.org","subject":"Hi","message":"Hello\nthere","category":"Support"}`), true)
	f.Add([]byte(`{"email":"ann@example.org\r\nBcc: x@example.net","subject":"s","message":"m"}`), true)
	f.Add([]byte("{\"email\":\"ann@example.org\",\"subject\":\"\xff\",\"message\":\"\\u0000\"}"), true)
	f.Add([]byte(`{"email":["a"],"subject":{"x":1}}`), true)
}

func fuzzRequest(body []byte, asJSON bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if asJSON {
		r.Header.Set("Content-Type", "application/json")
	} else {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Accept", "application/json")
	return r
}

// FuzzSubmission runs untrusted bodies through the form decoder and the validator.
// Whatever is refused is refused as ErrInvalid naming a field; whatever passes is
// plain, bounded text that is stored and whose notification goes to the operator
// alone, with no header the visitor wrote.
func FuzzSubmission(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		vals, err := web.Decode(fuzzRequest(body, asJSON), 1<<20)
		if err != nil {
			// The field may be "": a JSON key can be empty (FuzzHandler checks that
			// the handler then names the body).
			require.ErrorIs(t, err, privacy.ErrInvalid)
			return
		}
		outbox := privacymem.New()
		mailer := privacy.NewMailer(mailtest.Policy(), outbox, nil)
		svc, err := contact.New(contact.Config{Store: contactmem.New(), Mailer: mailer,
			Auditor: &privacy.Auditor{Log: outbox}, SupportInbox: inbox})
		require.NoError(t, err)

		in := contact.SubmissionFrom(vals)
		out, err := svc.Validate(in)
		if err != nil {
			require.ErrorIs(t, err, privacy.ErrInvalid)
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				require.True(t, fields[privacy.FieldOf(e)], "error %q names no field of the form", e)
			}
			return
		}
		for name, v := range map[string]string{"name": out.Name, "email": out.Email, "subject": out.Subject, "category": out.Category} {
			require.True(t, utf8.ValidString(v), name)
			for _, r := range v {
				require.False(t, unicode.IsControl(r), "%s holds control character %U", name, r)
			}
			require.NotContains(t, v, "<script", name)
		}
		require.True(t, utf8.ValidString(out.Message))
		require.NotContains(t, out.Message, "\r")
		require.LessOrEqual(t, utf8.RuneCountInString(out.Name), contact.MaxName)
		require.LessOrEqual(t, utf8.RuneCountInString(out.Subject), contact.MaxSubject)
		require.LessOrEqual(t, utf8.RuneCountInString(out.Message), contact.DefaultMaxMessage)
		again, err := svc.Validate(out)
		require.NoError(t, err, "validation is idempotent")
		require.Equal(t, out, again)

		r, err := svc.Submit(context.Background(), in)
		require.NoError(t, err, "what passes validation is stored and notified")
		items, err := outbox.Claim(context.Background(), "fuzz", 10, time.Now().Add(time.Minute), time.Minute)
		require.NoError(t, err)
		require.Len(t, items, 1)
		m, err := smtp.Build(&items[0].Message)
		require.NoError(t, err)
		var raw bytes.Buffer
		_, err = m.WriteTo(&raw)
		require.NoError(t, err)
		parsed, err := mail.ReadMessage(&raw)
		require.NoError(t, err)
		to, err := parsed.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, to, 1)
		require.Equal(t, inbox, to[0].Address)
		require.Empty(t, parsed.Header.Get("Cc"))
		require.Empty(t, parsed.Header.Get("Bcc"))
		rt, err := parsed.Header.AddressList("Reply-To")
		require.NoError(t, err)
		require.Len(t, rt, 1)
		require.Equal(t, r.Email, rt[0].Address)
	})
}

// FuzzHandler posts untrusted bodies, with a valid timestamp where the body lets
// one be added, to the handler: never a 5xx, never a panic, every 400 names a field.
func FuzzHandler(f *testing.F) {
	fuzzSeeds(f)
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	outbox := privacymem.New()
	svc, err := contact.New(contact.Config{Store: contactmem.New(), Mailer: privacy.NewMailer(mailtest.Policy(), outbox, nil),
		Auditor: &privacy.Auditor{Log: outbox}, SupportInbox: inbox, Now: clk.Now})
	require.NoError(f, err)
	signer := &web.Signer{Key: bytes.Repeat([]byte("k"), 32), Now: clk.Now}
	stamp := signer.Stamp()
	clk.Add(10 * time.Second)
	h, err := contact.NewHandler(svc, contact.HandlerConfig{Signer: signer, Limiter: web.NewLimiter(1<<30, time.Second, 1<<30)})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		if !asJSON {
			body = append(body, "&ts="+stamp...)
		} else if i := bytes.LastIndexByte(body, '}'); i > 0 {
			body = append(body[:i:i], `,"ts":"`+stamp+`"}`...)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, fuzzRequest(body, asJSON))
		require.Less(t, w.Code, 500, w.Body.String())
		require.Empty(t, w.Header().Values("Set-Cookie"))
		if w.Code == http.StatusBadRequest {
			var b web.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b))
			require.NotEmpty(t, b.Error.Field, b.Error.Message)
		}
	})
}

// FuzzParseRef reads references typed into URLs: a reference it accepts is
// canonical, and reading it again gives it back.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"K7Q4-M2XH", "k7q4m2xh", "OIL0-0000", "../../x", "", "K7Q4-M2XÜ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := contact.ParseRef(s)
		if err != nil {
			require.ErrorIs(t, err, privacy.ErrNotFound)
			return
		}
		require.Regexp(t, refPattern, ref)
		again, err := contact.ParseRef(ref)
		require.NoError(t, err)
		require.Equal(t, ref, again)
		require.Equal(t, strings.ToUpper(ref), ref)
	})
}
