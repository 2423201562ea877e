package contact_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/internal/pseudotr"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// french restyles and translates the form alone: its title, its markup and the
// wording of its faults, by Code.
var french = fstest.MapFS{"fr.html": {Data: []byte(`
{{define "form-title"}}Contactez-nous{{end}}
{{define "form"}}<form class="fr-contact" method="post" action="{{.Base}}/">
<input type="hidden" name="ts" value="{{.Stamp}}">
{{range .Errors}}<p class="fr-error">{{if eq .Field "subject"}}Objet{{else}}{{.Field}}{{end}} : {{if eq .Code "required"}}obligatoire{{else}}{{.Text}}{{end}}</p>{{end}}
<label>Votre adresse e-mail <input name="email" value="{{.Values.Email}}"></label>
<label>Objet <input name="subject" value="{{.Values.Subject}}"></label>
<label>Message <textarea name="message">{{.Values.Message}}</textarea></label>
<button>Envoyer</button></form>{{end}}`)}}

// TestTemplateOverride: a host's override of one form changes that form, and
// every other page is byte for byte what the defaults serve.
func TestTemplateOverride(t *testing.T) {
	e := newEnv(t, "mem", func(_ *contact.Config, h *contact.HandlerConfig) { h.Templates = french })
	plain, err := contact.NewHandler(e.svc, contact.HandlerConfig{Signer: e.signer, Limiter: web.NewLimiter(1000, time.Second, 1000), BaseURL: "/"})
	require.NoError(t, err)
	defaults := withActor(plain)

	w := do(t, e.handler, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, "<title>Contactez-nous</title>")
	assert.Contains(t, body, `<form class="fr-contact" method="post" action="/">`)
	assert.Contains(t, body, "Votre adresse e-mail")
	assert.NotContains(t, body, "Your email address")
	assert.NotContains(t, do(t, defaults, httptest.NewRequest(http.MethodGet, "/", nil)).Body.String(), "Contactez")

	v := e.values()
	v.Set("subject", "")
	w = do(t, e.handler, formRequest("/", v))
	require.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `<p class="fr-error">Objet : obligatoire</p>`, "faults worded by their Code")
	assert.Contains(t, w.Body.String(), `value="ann@example.org"`, "what was typed is kept")

	refs := regexp.MustCompile(`[0-9A-Z]{4}-[0-9A-Z]{4}`)
	sent := func(h http.Handler) string {
		w := do(t, h, formRequest("/", e.values()))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		return refs.ReplaceAllString(w.Body.String(), "REF")
	}
	assert.Equal(t, sent(defaults), sent(e.handler), "the page after sending is the default")

	r, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	for _, p := range []struct{ method, path, role, body string }{
		{"GET", "/requests?status=all", "support", ""},
		{"GET", "/requests?status=closed", "support", ""},
		{"GET", "/requests/" + r.Ref, "support", ""},
		{"POST", "/requests/" + r.Ref + "/reply", "support", "text=+"},
		{"GET", "/requests/ZZZZ-ZZZZ", "support", ""},
		{"GET", "/requests", "", ""},
		{"GET", "/requests?status=pending", "support", ""},
	} {
		serve := func(h http.Handler) string {
			req := httptest.NewRequest(p.method, p.path, strings.NewReader(p.body))
			if p.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if p.role != "" {
				req.Header.Set("X-Test-Role", p.role)
			}
			w := do(t, h, req)
			return http.StatusText(w.Code) + "\n" + w.Body.String()
		}
		want := serve(defaults)
		assert.Equal(t, want, serve(e.handler), "%s %s", p.method, p.path)
		assert.NotContains(t, want, "Contactez")
	}
}

// TestMailTemplateOverride: the host's override of a mail template changes the
// mail delivered over SMTP; the mail it leaves alone is the default.
func TestMailTemplateOverride(t *testing.T) {
	e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) {
		c.Acknowledge = true
		c.Templates = fstest.MapFS{"fr.txt": {Data: []byte(`
{{define "notification-subject"}}Nouvelle demande {{.Ref}} : {{.Subject}}{{end}}
{{define "ack"}}Merci de nous avoir écrit. Votre référence : {{.Ref}}
{{end}}`)}}
	})
	r, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	require.Len(t, e.mail.Server.Wait(2, 5*time.Second), 2)
	note := e.mail.Server.To(inbox)
	require.Len(t, note, 1)
	assert.Equal(t, "Nouvelle demande "+r.Ref+" : Order 1234 has not arrived", note[0].Subject())
	assert.Contains(t, note[0].Text, "New contact request "+r.Ref, "the body left alone is the default")
	ack := e.mail.Server.To(visitor)
	require.Len(t, ack, 1)
	assert.Equal(t, "We received your message", ack[0].Subject())
	assert.Equal(t, "Merci de nous avoir écrit. Votre référence : "+r.Ref+"\n", strings.ReplaceAll(ack[0].Text, "\r\n", "\n"))

	_, err = e.svc.Reply(support, r.Ref, "On its way.")
	require.NoError(t, err)
	msgs := e.mail.Server.Wait(3, 5*time.Second)
	require.Len(t, msgs, 3)
	reply := e.mail.Server.To(visitor)[1]
	assert.Equal(t, "Re: Order 1234 has not arrived ["+r.Ref+"]", reply.Subject())
	assert.Equal(t, "On its way.\n\n-- \nYour reference: "+r.Ref+"\n", strings.ReplaceAll(reply.Text, "\r\n", "\n"))
}

func TestTemplateOverrideErrors(t *testing.T) {
	e := newEnv(t, "mem")
	hcfg := contact.HandlerConfig{Signer: e.signer}
	cases := []struct {
		name     string
		override fstest.MapFS
		want     string
	}{
		{"ErrUnknownPage", fstest.MapFS{"mine.html": {Data: []byte(`{{define "from"}}x{{end}}`)}}, `mine.html defines "from"`},
		{"ErrUnknownMail", fstest.MapFS{"mine.txt": {Data: []byte(`{{define "notificaton"}}x{{end}}`)}}, `mine.txt defines "notificaton"`},
		{"ErrSyntax", fstest.MapFS{"form.html": {Data: []byte(`{{define "form"}}<p>{{.Base}</p>{{end}}`)}}, "form.html"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hcfg.Templates = tc.override
			_, err := contact.NewHandler(e.svc, hcfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "HandlerConfig.Templates")
			assert.Contains(t, err.Error(), tc.want)

			cfg := contact.Config{Store: e.store, Mailer: e.mail.Mailer, Auditor: &privacy.Auditor{Log: e.priv}, SupportInbox: inbox, Templates: tc.override}
			_, err = contact.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Config.Templates")
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	t.Run("ErrExecutePage", func(t *testing.T) {
		var log bytes.Buffer
		e := newEnv(t, "mem", func(_ *contact.Config, h *contact.HandlerConfig) {
			h.Templates = fstest.MapFS{"x.html": {Data: []byte(`{{define "sent"}}{{.Missing}}{{end}}`)}}
			h.Log = slog.New(slog.NewTextHandler(&log, nil))
		})
		w := do(t, e.handler, formRequest("/", e.values()))
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Contains(t, w.Body.String(), "<title>Something went wrong</title>")
		assert.Contains(t, log.String(), "Missing")
	})
	t.Run("ErrExecuteMail", func(t *testing.T) {
		e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) {
			c.Templates = fstest.MapFS{"x.txt": {Data: []byte(`{{define "notification"}}{{.Missing}}{{end}}`)}}
		})
		_, err := e.svc.Submit(context.Background(), valid())
		require.Error(t, err)
		reqs, msgs := e.count(t)
		assert.Zero(t, reqs, "a request whose notification cannot be written is not kept")
		assert.Zero(t, msgs)
	})
}

// TestEveryWordInTemplates renders every page and mail from DefaultTemplates
// with every word put in capitals: a lowercase word left that is not the data
// shown is English written in Go.
func TestEveryWordInTemplates(t *testing.T) {
	over := fstest.MapFS{}
	for name, b := range pseudotr.Translate(t, contact.DefaultTemplates) {
		over[name] = &fstest.MapFile{Data: b}
	}
	e := newEnv(t, "mem", func(c *contact.Config, h *contact.HandlerConfig) {
		c.Acknowledge = true
		c.Templates = over
		h.Templates = over
	})
	in := valid()
	// The data the pages show, and the sentences of Go's errors, which templates
	// word by Code when they translate.
	data := []string{in.Name, visitor, in.Subject, in.Category, "Hello,", "my order has not arrived yet.", "Thanks, Ann",
		"staff@example.com", "We shipped it.", "is required", "Sign in first", "General question", "Feedback"}
	r, err := e.svc.Submit(context.Background(), in)
	require.NoError(t, err)
	_, err = e.svc.Submit(context.Background(), in)
	require.NoError(t, err)

	v := e.values()
	v.Set("subject", "")
	reply := formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {"We shipped it."}})
	reply.Header.Set("X-Test-Role", "support")
	require.Equal(t, http.StatusSeeOther, do(t, e.handler, reply).Code)
	pages := []struct {
		name string
		req  *http.Request
		role string
	}{
		{"Form", httptest.NewRequest(http.MethodGet, "/", nil), ""},
		{"FormFaults", formRequest("/", v), ""},
		{"Sent", formRequest("/", e.values()), ""},
		{"List", httptest.NewRequest(http.MethodGet, "/requests?limit=1&offset=1", nil), "support"},
		{"ListEmpty", httptest.NewRequest(http.MethodGet, "/requests?status=closed", nil), "support"},
		{"Request", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref, nil), "support"},
		{"ReplyFault", formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {" "}}), "support"},
		{"RepliedPage", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref+"?done=replied", nil), "support"},
		{"ClosedPage", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref+"?done=closed", nil), "support"},
		{"ReopenedPage", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref+"?done=reopened", nil), "support"},
		{"Unauthorized", httptest.NewRequest(http.MethodGet, "/requests", nil), ""},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			if p.role != "" {
				p.req.Header.Set("X-Test-Role", p.role)
			}
			w := do(t, e.handler, p.req)
			require.Less(t, w.Code, 500, w.Body.String())
			body := w.Body.String()
			assert.Empty(t, pseudotr.LeftOnPage(t, body, data), "English left on the page:\n%s", body)
			assert.True(t, strings.ContainsFunc(body, unicode.IsUpper), "the page shows the translation")
		})
	}
	t.Run("Failed", func(t *testing.T) {
		broken := fstest.MapFS{"x.html": {Data: []byte(`{{define "form"}}{{.Missing}}{{end}}`)}}
		for k, f := range over {
			broken[k] = f
		}
		h, err := contact.NewHandler(e.svc, contact.HandlerConfig{Signer: e.signer, BaseURL: "/", Templates: broken})
		require.NoError(t, err)
		w := do(t, h, httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Empty(t, pseudotr.LeftOnPage(t, w.Body.String(), nil), w.Body.String())
	})
	t.Run("Mail", func(t *testing.T) {
		msgs := e.mail.Server.Wait(5, 5*time.Second)
		require.Len(t, msgs, 5, "three notifications, one acknowledgement (one a day per address), a reply")
		for _, m := range msgs {
			left := pseudotr.Left(m.Subject()+"\n"+m.Text, append(data, "https://example.com/contact", "Mon, 02 Nov 2026"))
			assert.Empty(t, left, "English left in the mail:\n%s", m.Text)
		}
	})
}
