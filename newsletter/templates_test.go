package newsletter_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/consentkit/consentkit/newsletter"
)

// varying are the parts of a page or mail that differ from one run to the next: the
// tokens of links, the form's signed timestamp and the confirmation link's expiry.
var varying = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\?t=[A-Za-z0-9_-]+`), "?t=TOKEN"},
	{regexp.MustCompile(`name="ts" value="[^"]*"`), `name="ts" value="STAMP"`},
	{regexp.MustCompile(`\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC`), "EXPIRES"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d`), "WHEN"},
	{regexp.MustCompile(`(data-field="per-minute">)\d+`), "${1}RATE"},
	{regexp.MustCompile(`(data-field="left">)[^<]*`), "${1}LEFT"},
}

func steady(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, v := range varying {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// tour visits every page of e's handler, in every state a person can see it, and
// returns each page's status and body, and each mail's subject and bodies, by name.
// It changes e's data, so each tour needs an env of its own.
func tour(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	page := func(name, method, path, body string) {
		t.Helper()
		ct := ""
		if method == http.MethodPost {
			ct = formType
		}
		res := e.do(t, method, path, ct, body)
		out[name] = http.StatusText(res.Code) + "\n" + steady(res.Body)
	}
	mail := func(name, rcpt string, n int) string {
		t.Helper()
		m := e.mails(t, rcpt, n)[n-1]
		out[name] = steady(m.Subject() + "\n\n" + m.Text + "\n\n" + m.HTML)
		return m.Text
	}
	page("subscribe", http.MethodGet, "/newsletter/subscribe", "")
	page("subscribe-invalid", http.MethodPost, "/newsletter/subscribe", url.Values{"email": {"ann at example"}, "ts": {e.stamp()}}.Encode())
	page("subscribe-too-fast", http.MethodPost, "/newsletter/subscribe", url.Values{"email": {ann}, "newsletter": {"on"}, "ts": {e.signer.Stamp()}}.Encode())
	page("subscribed", http.MethodPost, "/newsletter/subscribe", url.Values{"email": {ann}, "newsletter": {"on"}, "promotions": {"on"}, "ts": {e.stamp()}}.Encode())

	confirm := link(t, mail("confirmation-mail", ann, 1), "confirm")
	page("confirm", http.MethodGet, confirm, "")
	page("confirmed", http.MethodPost, confirm, "")
	page("link-used", http.MethodPost, confirm, "")
	page("link-incomplete", http.MethodGet, "/newsletter/confirm", "")

	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListPromotions, Subject: "Offer", Markdown: "Cheap **today**."})
	require.NoError(t, err)
	require.NoError(t, e.svc.TestSend(editor(), c.ID, "editor@example.com"))
	mail("test-mail", "editor@example.com", 1)
	_, err = e.svc.Schedule(editor(), c.ID, e.clock.Now())
	require.NoError(t, err)
	_, err = e.svc.SendDue(context.Background())
	require.NoError(t, err)
	unsub := link(t, mail("campaign-mail", ann, 2), "unsubscribe")
	prefs := strings.Replace(unsub, "unsubscribe", "preferences", 1)

	page("unsubscribe", http.MethodGet, unsub, "")
	page("preferences", http.MethodGet, prefs, "")
	page("preferences-unchanged", http.MethodPost, prefs, "newsletter=on&promotions=on")
	page("unsubscribed", http.MethodPost, unsub, "")
	page("preferences-left", http.MethodPost, prefs, "")

	staff := func(name, method, path, body string) {
		t.Helper()
		ct := ""
		if method == http.MethodPost {
			ct = formType
		}
		res := e.do(t, method, "/newsletter/staff/campaigns"+path, ct, body, "X-Test-Actor", "editor")
		out[name] = http.StatusText(res.Code) + "\n" + steady(res.Body)
	}
	e.sent(t, c.Ref(), 1, "the campaign, whose page shows its progress")
	id := fmt.Sprintf("/%d", c.ID)
	staff("staff-campaigns", http.MethodGet, "", "")
	staff("staff-new", http.MethodGet, "/new", "")
	staff("staff-draft-invalid", http.MethodPost, "", "list=x&subject=&markdown=")
	staff("staff-campaign-sent", http.MethodGet, id, "")
	staff("staff-preview", http.MethodGet, id+"/preview", "")
	d, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Offer", Markdown: "Cheap."})
	require.NoError(t, err)
	draft := fmt.Sprintf("/%d", d.ID)
	staff("staff-edit", http.MethodGet, draft+"/edit", "")
	staff("staff-campaign-saved", http.MethodGet, draft+"?done=saved", "")
	staff("staff-test-invalid", http.MethodPost, draft+"/test", "to=ann%40example.org")
	staff("staff-send", http.MethodGet, draft+"/send", "")
	staff("staff-send-later", http.MethodGet, draft+"/send?at=2099-01-01T09:00", "")
	staff("staff-send-unconfirmed", http.MethodPost, draft+"/send", "at=")
	_, err = e.svc.Schedule(editor(), d.ID, e.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	staff("staff-campaign-scheduled", http.MethodGet, draft+"?done=scheduled", "")
	staff("staff-not-found", http.MethodGet, "/999", "")
	return out
}

// frenchForm restyles the subscribe form and puts it in French: one template and
// its title, in a file of the host's own. Its faults are worded by field.
var frenchForm = fstest.MapFS{"fr.html": {Data: []byte(`
{{define "subscribe-title"}}Abonnement{{end}}
{{define "subscribe"}}
{{with .Errors}}<ul class="erreurs">{{range .}}<li>{{if eq .Field "email"}}Cette adresse ne convient pas.{{else if eq .Field "lists"}}Choisissez au moins une liste.{{else}}{{.Text}}{{end}}</li>{{end}}</ul>{{end}}
<form class="abonnement" method="post" action="{{base}}/subscribe">
<label>Adresse électronique <input name="email" type="email" value="{{.Email}}" required></label>
{{range .Lists}}<label><input name="{{.Name}}" type="checkbox" value="on"{{if .Checked}} checked{{end}}> {{if eq .Name "promotions"}}Les promotions{{else}}La lettre{{end}}</label>{{end}}
<input type="hidden" name="ts" value="{{.Stamp}}">
<button class="principal">S'abonner</button>
</form>
{{end}}
`)}}

func TestOverrideTranslatesOneForm(t *testing.T) {
	want := tour(t, newEnv(t, "mem"))
	got := tour(t, newEnv(t, "mem", func(_ *newsletter.Config, h *newsletter.HandlerConfig) { h.Templates = frenchForm }))
	require.Equal(t, slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)))
	for name := range want {
		if name == "subscribe" || strings.HasPrefix(name, "subscribe-") {
			assert.NotEqual(t, want[name], got[name], name)
			assert.Contains(t, got[name], "<title>Abonnement</title>", name)
			assert.Contains(t, got[name], `<form class="abonnement" method="post" action="/newsletter/subscribe">`, name)
			assert.NotContains(t, got[name], "Your email address", name)
			continue
		}
		assert.Equal(t, want[name], got[name], "%s: only the form was overridden", name)
	}
	assert.Contains(t, got["subscribe-invalid"], "Bad Request\n", "a refused form is still refused")
	assert.Contains(t, got["subscribe-invalid"], "<li>Cette adresse ne convient pas.</li><li>Choisissez au moins une liste.</li>")
	assert.Contains(t, got["subscribe-invalid"], `value="ann at example"`, "what the visitor typed is kept")
	assert.Contains(t, got["subscribe-too-fast"], "<li>The form was sent too quickly; please wait a moment and send it again</li>",
		"a fault the translation does not word is shown in English")
	assert.Contains(t, got["confirm"], "OK\n", "the French form subscribed")
}

// frenchMail puts the confirmation mail in French (a whole file, as a host copies
// confirm.txt) and the footer of a campaign's text (one template).
var frenchMail = fstest.MapFS{
	"confirm.txt": {Data: []byte(`{{define "confirm-subject"}}
Confirmez votre abonnement à
{{if eq (len .Lists) 2}}la lettre et aux promotions{{else}}{{text "list-titles" .Lists}}{{end}} de {{.Operator}}
{{end}}
{{define "confirm-mail"}}Bonjour,

pour confirmer, ouvrez ce lien : {{.URL}}

Il expire le {{.Expires.Format "02/01/2006 à 15:04"}}.
{{end}}`)},
	"pied.txt": {Data: []byte(`{{define "campaign-text"}}{{.Text}}
-- 
Se désabonner : {{.Unsubscribe}}
{{end}}`)},
}

func TestOverrideTranslatesMail(t *testing.T) {
	e := newEnv(t, "mem", func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.Templates = frenchMail })
	ctx := context.Background()
	require.NoError(t, e.svc.Subscribe(ctx, ann, bothLists))
	msg := e.mails(t, ann, 1)[0]
	assert.Equal(t, "Confirmez votre abonnement à la lettre et aux promotions de Example Ltd", msg.Subject(),
		"the subject is one line, whatever lines its template has")
	text := strings.ReplaceAll(msg.Text, "\r\n", "\n")
	assert.Regexp(t, `^Bonjour,\n\npour confirmer, ouvrez ce lien : http://127\.0\.0\.1:8080/newsletter/confirm\?t=\S+\n\nIl expire le \d\d/\d\d/\d{4} à \d\d:\d\d\.\n$`, text)
	_, err := e.svc.Confirm(ctx, token(t, link(t, msg.Text, "confirm")))
	require.NoError(t, err, "the translated mail's link confirms")

	e.campaign(t, newsletter.ListNewsletter, "Numéro 1", "Bonjour **à tous**.")
	msg = e.mails(t, ann, 2)[1]
	text = strings.ReplaceAll(msg.Text, "\r\n", "\n")
	assert.Regexp(t, `^Bonjour à tous\.\n\n-- \nSe désabonner : http://127\.0\.0\.1:8080/newsletter/unsubscribe\?t=\S+\n$`, text,
		"the recipient's own link fills the translated footer")
	assert.Equal(t, link(t, msg.Text, "unsubscribe"), link(t, strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>"), "unsubscribe"))
	assert.Contains(t, msg.HTML, "You receive this because you subscribed to the list Newsletter of Example Ltd",
		"the HTML, not overridden, keeps the default")
	res := e.do(t, http.MethodGet, "/newsletter/subscribe", "", "")
	assert.Contains(t, res.Body, "Your email address", "the Service's overrides are not the Handler's")
}

func TestOverrideOfUnknownTemplateRefused(t *testing.T) {
	e := newEnv(t, "mem")
	for _, tc := range []struct {
		name, file, text, want string
	}{
		{"ErrMisspelt", "mine.txt", `{{define "confirm-mial"}}x{{end}}`, `mine.txt defines "confirm-mial"`},
		{"ErrMisspeltInHTML", "mine.html", `{{define "subscribe"}}x{{end}}{{define "preferncs"}}x{{end}}`, `mine.html defines "preferncs"`},
		{"ErrSyntax", "subscribe.html", `{{define "subscribe"}}{{if}}{{end}}`, "subscribe.html"},
		{"ErrNoSuchFunc", "mine.html", `{{define "subscribe"}}{{translate .Email}}{{end}}`, `"translate" not defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := fstest.MapFS{tc.file: {Data: []byte(tc.text)}}
			_, err := newsletter.NewHandler(e.svc, newsletter.HandlerConfig{Templates: bad})
			require.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "HandlerConfig.Templates")
			cfg := e.config
			cfg.Templates = bad
			_, err = newsletter.New(cfg)
			require.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "Config.Templates")
		})
	}
}

// TestBrokenOverrideShowsInternalError: a host's template that fails as it runs
// gives the visitor the internal-error page and the operator a log line, never a
// half-written page.
func TestBrokenOverrideShowsInternalError(t *testing.T) {
	var log strings.Builder
	e := newEnv(t, "mem", func(_ *newsletter.Config, h *newsletter.HandlerConfig) {
		h.Templates = fstest.MapFS{"mine.html": {Data: []byte(`{{define "subscribe"}}<p>{{.Email.Missing}}</p>{{end}}`)}}
		h.Log = slog.New(slog.NewTextHandler(&log, nil))
	})
	res := e.do(t, http.MethodGet, "/newsletter/subscribe", "", "")
	assert.Equal(t, http.StatusInternalServerError, res.Code)
	assert.Contains(t, res.Body, "<h1>Something went wrong</h1>")
	assert.Equal(t, 1, strings.Count(res.Body, "<p>"), "nothing of the broken page is shown")
	assert.Contains(t, log.String(), "Missing")
}

// pseudoTranslate returns a template file with every ASCII letter written outside
// its actions ({{...}}) and, in HTML, outside its tags, swapped for the letter's
// fullwidth form ("Save" becomes "Ｓａｖｅ"): a translation that leaves none of the
// default words.
func pseudoTranslate(src string, html bool) string {
	var b strings.Builder
	inTag := false
	for len(src) > 0 {
		if strings.HasPrefix(src, "{{") {
			end := strings.Index(src, "}}") + 2
			b.WriteString(src[:end])
			src = src[end:]
			continue
		}
		r, n := utf8.DecodeRuneInString(src)
		src = src[n:]
		switch {
		case html && r == '<':
			inTag = true
		case html && r == '>':
			inTag = false
		case !inTag && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'):
			r += 0xFEE0
		}
		b.WriteRune(r)
	}
	return b.String()
}

// visibleText returns the text a person sees of a page or mail: its text and the
// attributes shown to them, without its markup.
func visibleText(doc string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(doc))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		tok := z.Token()
		switch tt {
		case html.TextToken:
			b.WriteString(tok.Data + " ")
		case html.StartTagToken, html.SelfClosingTagToken:
			for _, a := range tok.Attr {
				if slices.Contains([]string{"title", "alt", "placeholder", "aria-label"}, a.Key) {
					b.WriteString(a.Val + " ")
				}
			}
		}
	}
	return b.String()
}

// TestEveryWordIsInTemplates: with every file of DefaultTemplates pseudo-translated,
// no page or mail shows a word of English. What may remain is data: addresses and
// links, the operator's name, the site's lists (Config.Lists, which the host words),
// the editor's campaign, the link's expiry date (whose
// month Go's time layout words; a translation words it by .Expires.Month), and the
// faults' own sentences, which stay in Go and which a translation words by
// FieldError.Code (here, the override of field-error).
func TestEveryWordIsInTemplates(t *testing.T) {
	pseudo := fstest.MapFS{"zz-faults.html": {Data: []byte(`{{define "field-error"}}ⓔ {{.Field}}{{end}}`)}}
	files, err := fs.ReadDir(newsletter.DefaultTemplates, ".")
	require.NoError(t, err)
	for _, f := range files {
		b, err := fs.ReadFile(newsletter.DefaultTemplates, f.Name())
		require.NoError(t, err)
		pseudo[f.Name()] = &fstest.MapFile{Data: []byte(pseudoTranslate(string(b), path.Ext(f.Name()) == ".html"))}
	}
	want := tour(t, newEnv(t, "mem"))
	got := tour(t, newEnv(t, "mem", func(c *newsletter.Config, h *newsletter.HandlerConfig) { c.Templates, h.Templates = pseudo, pseudo }))
	data := regexp.MustCompile(`https?://\S+|\S+@\S+|Example Ltd|Offer|Cheap|today|EXPIRES|WHEN|RATE|LEFT|UTC|\b(email|lists|ts|list|subject|markdown|to|at|confirm)\b|` + listWords())
	english := regexp.MustCompile(`[A-Za-z]+`)
	for name, out := range got {
		status, doc, _ := strings.Cut(out, "\n")
		if !strings.HasSuffix(name, "-mail") {
			wantStatus, _, _ := strings.Cut(want[name], "\n")
			assert.Equal(t, wantStatus, status, "%s: the translated page does what the default does", name)
		} else {
			doc = out
		}
		left := english.FindAllString(data.ReplaceAllString(visibleText(doc), ""), -1)
		assert.Empty(t, left, "%s: words not from the templates:\n%s", name, doc)
	}
}

// listWords matches the titles and descriptions of DefaultLists.
func listWords() string {
	var words []string
	for _, d := range newsletter.DefaultLists() {
		words = append(words, regexp.QuoteMeta(d.Title), regexp.QuoteMeta(d.Description))
	}
	return strings.Join(words, "|")
}
