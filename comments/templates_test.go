package comments_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

func withTemplates(pages, mail fs.FS) option {
	return func(c *comments.Config, h *comments.HandlerConfig) { c.Templates, h.Templates = mail, pages }
}

// french restyles and translates the comment form alone, as a host would: one
// {{define}}, wording the errors by their Code.
var french = fstest.MapFS{"fr.html": {Data: []byte(`{{define "form"}}<form id="comment-form" class="formulaire" method="post" action="{{.Action}}">
{{if .Errors}}<div class="erreurs" role="alert"><p>Le commentaire n’a pas été publié :</p><ul>{{range .Errors}}<li>{{if eq .Code "required"}}{{if eq .Field "name"}}Le nom{{else}}Le commentaire{{end}} est obligatoire{{else if eq .Code "too-many-links"}}Au plus {{.Limit}} liens, s’il vous plaît{{else}}{{.Text}}{{end}}</li>{{end}}</ul></div>{{end}}
<input type="hidden" name="ts" value="{{.Stamp}}">
{{with .Parent}}<input type="hidden" name="parent" value="{{.ID}}">{{end}}
<p class="hp" hidden><label for="cf-website">Laissez ce champ vide</label> <input id="cf-website" name="website"></p>
<label for="cf-name">Nom (affiché)</label> <input id="cf-name" name="name" value="{{.Values.Name}}">
<label for="cf-email">Adresse e-mail (jamais affichée)</label> <input id="cf-email" name="email" type="email">
<label for="cf-body">Commentaire</label> <textarea id="cf-body" name="body">{{.Values.Body}}</textarea>
<button type="submit">Publier le commentaire</button>
</form>{{end}}`)}}

// TestOverrideForm: a host's form, restyled and in French, is the one every
// view of a thread shows, and only those: every other page is byte for byte
// what the defaults make.
func TestOverrideForm(t *testing.T) {
	plain := tour(t, newEnv(t, "mem", withPages(3)))
	fr := tour(t, newEnv(t, "mem", withPages(3), withTemplates(french, nil)))
	require.Len(t, fr, len(plain))
	for i := range plain {
		if strings.HasPrefix(plain[i].name, "thread") && plain[i].name != "thread bad page" {
			assert.Contains(t, fr[i].text, `<button type="submit">Publier le commentaire</button>`, plain[i].name)
			assert.Contains(t, fr[i].text, `class="formulaire"`, plain[i].name)
			assert.NotContains(t, fr[i].text, "Post comment", plain[i].name)
			continue
		}
		assert.Equal(t, plain[i].text, fr[i].text, "%s: a page without the form is unchanged", plain[i].name)
	}
	errs := fr[slicesIndex(fr, "thread form errors")].text
	assert.Contains(t, errs, "<li>Le nom est obligatoire</li>", "worded by the error's Code")
	assert.Contains(t, errs, "<li>Au plus 3 liens, s’il vous plaît</li>", "with the rule's Limit")
	assert.Contains(t, errs, "<li>The email address contains a space, control or invisible character</li>", "or by the error's English text")
}

func slicesIndex(pages []shown, name string) int {
	for i, p := range pages {
		if p.name == name {
			return i
		}
	}
	panic("no page " + name)
}

// TestOverrideMail sends the confirmation mail of a host's template over SMTP.
func TestOverrideMail(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		mail := fstest.MapFS{"confirm.txt": {Data: []byte(`{{define "confirm-subject"}}Confirmez les notifications{{end}}
{{define "confirm-text"}}Bonjour ! Confirmez ici : {{.ConfirmURL}} (valable {{.ValidHours}} heures).
Ne plus rien recevoir : {{.StopURL}}
{{end}}`)}}
		e := newEnv(t, kind, withTemplates(nil, mail))
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Tell me", FollowUp: true})
		msgs := e.mail.Server.Wait(1, wait)
		require.Len(t, msgs, 1)
		assert.Equal(t, "Confirmez les notifications", msgs[0].Subject())
		assert.Contains(t, msgs[0].Text, "(valable 48 heures)")
		w := e.get(t, link(t, msgs[0].Text, "confirm"), "")
		assert.Equal(t, http.StatusOK, w.Code, "the link in the host's text works")
		assert.Contains(t, msgs[0].Header.Get("List-Unsubscribe"), link(t, msgs[0].Text, "stop"))
	})
}

// TestOverrideUnknownTemplate: a misspelt name fails at start-up, named.
func TestOverrideUnknownTemplate(t *testing.T) {
	e := newEnv(t, "mem")
	bad := fstest.MapFS{"mine.html": {Data: []byte(`{{define "formulaire"}}<form></form>{{end}}`)}}
	_, err := comments.NewHandler(e.svc, comments.HandlerConfig{Signer: e.handlerSigner(), Templates: bad})
	require.ErrorContains(t, err, `"formulaire"`)
	_, err = comments.New(comments.Config{Store: e.store, Mailer: e.mail.Mailer, Auditor: e.auditor, Key: e.key, BaseURL: base,
		Templates: fstest.MapFS{"mail.txt": {Data: []byte(`{{define "reply-subjet"}}x{{end}}`)}}})
	require.ErrorContains(t, err, `"reply-subjet"`)
	_, err = comments.NewHandler(e.svc, comments.HandlerConfig{Signer: e.handlerSigner(),
		Templates: fstest.MapFS{"form.html": {Data: []byte(`{{define "form"}}<form>{{.Nope}</form>{{end}}`)}}})
	require.ErrorContains(t, err, "form.html", "a template that does not parse is named")
}

// pseudo returns a copy of DefaultTemplates with every word a person reads in
// it changed (its letters' case swapped): the text outside actions and tags,
// and the attributes read aloud or shown (aria-label, the reason's value).
func pseudo(t *testing.T) fstest.MapFS {
	out := fstest.MapFS{}
	files, err := fs.ReadDir(comments.DefaultTemplates, ".")
	require.NoError(t, err)
	swap := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsUpper(r) {
				return unicode.ToLower(r)
			}
			return unicode.ToUpper(r)
		}, s)
	}
	attr := regexp.MustCompile(`(aria-label="|name="why" maxlength="200" value=")([^"{]*)"`)
	for _, f := range files {
		b, err := fs.ReadFile(comments.DefaultTemplates, f.Name())
		require.NoError(t, err)
		var s strings.Builder
		src := string(b)
		for len(src) > 0 {
			loc := actionOrTag(f.Name()).FindStringIndex(src)
			if loc == nil {
				s.WriteString(swap(src))
				break
			}
			s.WriteString(swap(src[:loc[0]]))
			piece := src[loc[0]:loc[1]]
			if strings.HasPrefix(piece, "<") {
				piece = attr.ReplaceAllStringFunc(piece, func(m string) string {
					sm := attr.FindStringSubmatch(m)
					return sm[1] + swap(sm[2]) + `"`
				})
			}
			s.WriteString(piece)
			src = src[loc[1]:]
		}
		out[f.Name()] = &fstest.MapFile{Data: []byte(s.String())}
	}
	return out
}

func actionOrTag(file string) *regexp.Regexp {
	if strings.HasSuffix(file, ".txt") {
		return regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	}
	return regexp.MustCompile(`(?s)\{\{.*?\}\}|<[^>]*>`)
}

// segments splits a page into what a person reads: the text between tags and
// the attributes read aloud; a mail into its lines.
func segments(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<[^>]*>|[^<]+`).FindAllString(text, -1) {
		if strings.HasPrefix(m, "<") {
			for _, a := range regexp.MustCompile(`(?:aria-label|value)="([^"]*)"`).FindAllStringSubmatch(m, -1) {
				out = append(out, a[1])
			}
			continue
		}
		for line := range strings.SplitSeq(m, "\n") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// TestEveryWordInTemplates renders every page and mail with templates whose
// every word is changed, and finds no text left as the defaults write it but
// what a visitor or the Go code of errors wrote: no word a person reads is in
// the package's Go code.
func TestEveryWordInTemplates(t *testing.T) {
	p := pseudo(t)
	plain := tour(t, newEnv(t, "mem", withPages(3)))
	changed := tour(t, newEnv(t, "mem", withPages(3), withTemplates(p, p)))
	require.Len(t, changed, len(plain))
	// What is not the package's words: what commenters wrote (names, their
	// initials, comments, the thread), the site, addresses, URLs, times (in
	// dates, Go's month names), the values a form sends, DeletedName, and the
	// messages of errors, which templates word by FieldError.Code.
	data := regexp.MustCompile(`https://\S+|tag:\S+|\d{4}-\d\d-\d\dT[\d:]+Z|\d+ November 2026, [\d:]+ UTC|&lt;.*?&gt;|` +
		`The email address contains a space, control or invisible character|This link is not valid|Sign in first|` +
		`A comment can be edited for 15m0s after posting; you can still delete it|Page: must be a page number from 1`)
	words := map[string]bool{}
	for w := range strings.FieldsSeq("Ann Lee AL Bob B Cy D Dee Eve Hello there again see Seen first A reply Trusted Mailed to Under a deleted one " +
		"blog hello world Example Ltd ann example org checking pending approved rejected approve reject edit delete resume on") {
		words[w] = true
	}
	package_ := func(seg string) bool {
		for _, w := range regexp.MustCompile(`\pL+`).FindAllString(data.ReplaceAllString(seg, ""), -1) {
			if !words[w] {
				return true
			}
		}
		return false
	}
	for i := range plain {
		a, b := segments(plain[i].text), segments(changed[i].text)
		require.Len(t, b, len(a), plain[i].name)
		for k := range a {
			if a[k] == b[k] && package_(a[k]) {
				t.Errorf("%s: %q is written by Go code, not by a template", plain[i].name, a[k])
			}
		}
	}
	assert.Contains(t, changed[slicesIndex(changed, "thread")].text, "lEAVE A COMMENT", "the pseudo-translation is served")
	assert.Contains(t, changed[slicesIndex(changed, "confirm mail")].text, "cONFIRM REPLY NOTIFICATIONS")
}

// TestOverrideCommentWords: the words of a comment in the list come from their
// templates whether or not they can be made once: a date that is more than a
// .Format, a reply link naming the author in an attribute, or in a URL.
func TestOverrideCommentWords(t *testing.T) {
	words := fstest.MapFS{"list.html": {Data: []byte(`{{define "date"}}le {{.Day}}/{{printf "%d" .Month}}/{{.Year}}{{end}}
{{define "comment-reply"}}<span title="Répondre à {{.}}">Répondre</span>{{end}}
{{define "comment-edited"}} (modifié){{end}}`)}}
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), withTemplates(words, nil))
	a := e.post(t, comments.Input{Name: `Ann "A+B" <Lee>`, Email: ann, Body: "Bonjour"})
	_, err := e.svc.Edit(ctx, a.ManageToken, "Bonjour !")
	require.NoError(t, err)
	page := e.get(t, threadPath, "").Body.String()
	assert.Contains(t, page, `<time datetime="2026-11-02T09:00:00Z">le 2/11/2026</time></a> (modifié)</header>`)
	assert.Contains(t, page, `#comment-form"><span title="Répondre à Ann &#34;A+B&#34; &lt;Lee&gt;">Répondre</span></a>`,
		"the name is escaped as its place in the template needs")

	words["list.html"] = &fstest.MapFile{Data: []byte(`{{define "comment-reply"}}<a href="/u/{{.}}">{{slice . 0 3}}</a>{{end}}`)}
	e = newEnv(t, "mem", withModeration(comments.ModerateNone), withTemplates(words, nil))
	e.post(t, comments.Input{Name: `Ann "A+B" <Lee>`, Email: ann, Body: "Bonjour"})
	assert.Contains(t, e.get(t, threadPath, "").Body.String(), `<a href="/u/Ann%20%22A&#43;B%22%20%3cLee%3e">Ann</a>`,
		"a template that does more than write the name as text runs for each comment")
}

// TestHandlersShareService: two Handlers of one Service, with different
// markup, share its thread cache and still each serve their own.
func TestHandlersShareService(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello"})
	fr, err := comments.NewHandler(e.svc, comments.HandlerConfig{Signer: e.handlerSigner(), Templates: french})
	require.NoError(t, err)
	for range 2 {
		assert.Contains(t, e.get(t, threadPath, "").Body.String(), "Post comment")
		w := httptest.NewRecorder()
		fr.ServeHTTP(w, httptest.NewRequest(http.MethodGet, threadPath, nil))
		assert.Contains(t, w.Body.String(), "Publier le commentaire")
		assert.Contains(t, w.Body.String(), "<p>Hello</p>")
	}
}

// TestFeedFirstThenPage: a thread read first for a feed or JSON is cached
// rendered with the default markup, which a Handler without Templates uses: its
// page is then served without reading the thread again.
func TestFeedFirstThenPage(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello"})
	require.Equal(t, http.StatusOK, e.get(t, "/feed/"+topic, "").Code)
	require.Equal(t, http.StatusOK, e.get(t, threadPath, "application/json").Code)
	assert.Contains(t, e.get(t, threadPath, "").Body.String(), "<p>Hello</p>")
	st := e.svc.CacheStats()
	assert.Equal(t, int64(1), st.Misses, "one read of the thread")
	assert.Equal(t, int64(2), st.Hits)
}

// TestDefaultListFast: with the default templates, and with a translation that
// keeps their shape, the comment list runs no template for each comment.
func TestDefaultListFast(t *testing.T) {
	e := newEnv(t, "mem")
	assert.True(t, comments.FastList(e.handler))
	fr, err := comments.NewHandler(e.svc, comments.HandlerConfig{Signer: e.handlerSigner(), Templates: fstest.MapFS{"fr.html": {Data: []byte(
		`{{define "date"}}{{.Format "02/01/2006 15:04"}}{{end}}{{define "comment-reply"}}Répondre<span class="visually-hidden"> à {{.}}</span>{{end}}`)}}})
	require.NoError(t, err)
	assert.True(t, comments.FastList(fr))
}
