package accounts_test

import (
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// The pages a visitor opens without sending anything, and the mailed links' pages.
var getPages = []string{"/accounts/register", "/accounts/register?code=1", "/accounts/signin", "/accounts/reset",
	"/accounts/verify?token=" + strings.Repeat("A", 43), "/accounts/reset/confirm?token=" + strings.Repeat("A", 43),
	"/accounts/email/confirm?token=" + strings.Repeat("A", 43), "/accounts/parental?token=" + strings.Repeat("A", 43)}

// A host restyles and translates the sign-in form and its title: the form is
// served in French, refusals included, and every other page is byte for byte the
// default.
func TestTemplatesOverrideOneForm(t *testing.T) {
	e := newEnv(t)
	plain := newServer(t, e, accounts.HandlerConfig{})
	fr := newServer(t, e, accounts.HandlerConfig{Templates: fstest.MapFS{
		"connexion.html": {Data: []byte(`{{define "signin"}}{{template "errors" .}}
<form class="connexion" method="post" action="{{.Base}}/signin" novalidate>
{{template "guards" .}}
{{template "field" (.Field "email" "Adresse électronique" "email" "username" true)}}
{{template "field" (.Field "password" "Mot de passe" "password" "current-password" true)}}
<p><button type="submit" class="principal">Se connecter</button></p>
</form>{{end}}`)},
		"connexion.txt": {Data: []byte(`{{define "title-signin"}}Connexion à l'espace membre{{end}}`)},
	}})

	page := fr.do(http.MethodGet, "/accounts/signin", "", "", nil)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, `<title>Connexion à l&#39;espace membre</title>`, "the title is text, escaped once by the layout")
	assert.Contains(t, page.body, `<form class="connexion" method="post" action="/accounts/signin" novalidate>`)
	assert.Contains(t, page.body, `<label for="password">Mot de passe</label>`)
	assert.Contains(t, page.body, `<button type="submit" class="principal">Se connecter</button>`)
	assert.NotContains(t, page.body, "Sign in")
	assert.NotContains(t, page.body, "Forgot your password?")

	e.member("fr@example.org", "correct horse")
	wrong := fr.form("/accounts/signin", url.Values{"email": {"fr@example.org"}, "password": {"wrong horse"}})
	assert.Equal(t, http.StatusUnauthorized, wrong.status)
	assert.Contains(t, wrong.body, "Se connecter", "a refusal shows the host's form again")
	assert.Contains(t, wrong.body, `value="fr@example.org"`)

	for _, p := range getPages {
		if p == "/accounts/signin" {
			continue
		}
		want, got := plain.do(http.MethodGet, p, "", "", nil), fr.do(http.MethodGet, p, "", "", nil)
		assert.Equal(t, want.status, got.status, p)
		assert.Equal(t, want.body, got.body, p)
	}
	assert.Contains(t, plain.do(http.MethodGet, "/accounts/signin", "", "", nil).body, "Forgot your password?", "the other handler keeps the defaults")
}

// A host's wording of one mail, given to the Service, is what goes out over SMTP,
// link and signature included; the Handler, given no templates of its own, shows
// the Service's wording too.
func TestTemplatesOverrideMail(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) {
		c.Templates = fstest.MapFS{"fr.txt": {Data: []byte(`{{define "reset.subject"}}Réinitialiser votre mot de passe{{end}}
{{define "reset.body"}}Pour choisir un nouveau mot de passe, ouvrez {{.Link}} (valable {{.Valid.Hours}} h).{{end}}
{{define "registered"}}Consultez votre boîte aux lettres.{{end}}`)}}
	})
	e.member("r@example.org", "correct horse") // the verification mail keeps its default wording
	require.NoError(t, e.svc.RequestReset(t.Context(), "r@example.org"))
	m := e.mailTo("r@example.org", "Réinitialiser votre mot de passe")
	assert.Regexp(t, `^Pour choisir un nouveau mot de passe, ouvrez http://127.0.0.1:8080/accounts/reset/confirm\?token=[A-Za-z0-9_-]{43} \(valable 1 h\)\.\n\n-- \nExample Ltd\n$`, strings.ReplaceAll(m.Text, "\r\n", "\n"))
	require.NoError(t, e.svc.ResetPassword(t.Context(), e.linkToken(m), "fresh horse staple"))
	e.signIn("r@example.org", "fresh horse staple")

	s := newServer(t, e, accounts.HandlerConfig{})
	reg := map[string]any{"email": "new@example.org", "password": "correct horse", "birth_date": "1990-01-01"}
	js := s.json(http.MethodPost, "/accounts/register", "", reg)
	require.Equal(t, http.StatusAccepted, js.status, js.body)
	assert.Contains(t, js.body, `"message":"Consultez votre boîte aux lettres."`)
	pg := s.form("/accounts/register", url.Values{"email": {"new2@example.org"}, "password": {"correct horse"}, "birth_date": {"1990-01-01"}})
	assert.Contains(t, pg.body, "<p>Consultez votre boîte aux lettres.</p>")
}

// An override naming a template the package does not have, or that does not
// parse, is refused when the Service or Handler is built, naming it.
func TestTemplatesOverrideRefused(t *testing.T) {
	e := newEnv(t)
	cfg := func(tpl fs.FS) accounts.Config {
		return accounts.Config{Store: memstore.New(), Mailer: e.mail.Mailer, Consents: e.consents, Auditor: e.auditor, Templates: tpl}
	}
	t.Run("ErrServiceUnknown", func(t *testing.T) {
		_, err := accounts.New(cfg(fstest.MapFS{"mail.txt": {Data: []byte(`{{define "reset.subjet"}}x{{end}}`)}}))
		require.ErrorContains(t, err, `mail.txt defines "reset.subjet"`)
	})
	t.Run("ErrHandlerUnknown", func(t *testing.T) {
		_, err := accounts.NewHandler(e.svc, accounts.HandlerConfig{Templates: fstest.MapFS{"mine.html": {Data: []byte(`{{define "sigin"}}x{{end}}`)}}})
		require.ErrorContains(t, err, `mine.html defines "sigin"`)
	})
	t.Run("ErrSyntax", func(t *testing.T) {
		_, err := accounts.NewHandler(e.svc, accounts.HandlerConfig{Templates: fstest.MapFS{"signin.html": {Data: []byte(`{{define "signin"}}{{.Base}`)}}})
		require.ErrorContains(t, err, "signin.html")
	})
}

var (
	actionRE = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	labelRE  = regexp.MustCompile(`(\.Field "[^"]*" ")([^"]*)"`)
	phraseRE = regexp.MustCompile(`[A-Za-z][A-Za-z',.;:?!-]*(?: [A-Za-z',.;:?!-]+)+`)
	wordRE   = regexp.MustCompile(`[A-Za-z]{2,}`)
)

// pseudo turns every ASCII letter a person would read in a template (text outside
// actions and tags, and the labels given to "field") into its fullwidth form, and
// returns the English phrases it changed.
func pseudo(src string, isHTML bool) (out string, phrases []string) {
	fw := func(s string) string {
		phrases = append(phrases, phraseRE.FindAllString(s, -1)...)
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'ａ'
			case r >= 'A' && r <= 'Z':
				return r - 'A' + 'Ａ'
			}
			return r
		}, s)
	}
	var b strings.Builder
	inTag := false
	literal := func(s string) {
		start := 0
		for i, r := range s {
			if !isHTML || (r != '<' && r != '>') {
				continue
			}
			if !inTag {
				b.WriteString(fw(s[start:i]))
			} else {
				b.WriteString(s[start:i])
			}
			inTag, start = r == '<', i
		}
		if inTag {
			b.WriteString(s[start:])
		} else {
			b.WriteString(fw(s[start:]))
		}
	}
	last := 0
	for _, loc := range actionRE.FindAllStringIndex(src, -1) {
		literal(src[last:loc[0]])
		act := src[loc[0]:loc[1]]
		if isHTML {
			act = labelRE.ReplaceAllStringFunc(act, func(m string) string {
				g := labelRE.FindStringSubmatch(m)
				return g[1] + fw(g[2]) + `"`
			})
		}
		b.WriteString(act)
		last = loc[1]
	}
	literal(src[last:])
	return b.String(), phrases
}

// visible is what a person reads of a page: its text without tags.
func visible(body string) string {
	return html.UnescapeString(regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " "))
}

// Every word a person reads on the package's pages, in its JSON messages and in
// its mail comes from its templates: with every default file overridden by a
// pseudo-translation, no default phrase is left anywhere, and no English word
// either, but for the data (links, the operator's name, the child's code, a
// date's month) and the Go errors' own texts, which pages may word by Code.
func TestTemplatesHoldEveryWord(t *testing.T) {
	over := fstest.MapFS{}
	var phrases []string
	entries, err := fs.ReadDir(accounts.DefaultTemplates, ".")
	require.NoError(t, err)
	for _, de := range entries {
		b, err := fs.ReadFile(accounts.DefaultTemplates, de.Name())
		require.NoError(t, err)
		out, ps := pseudo(string(b), strings.HasSuffix(de.Name(), ".html"))
		over[de.Name()] = &fstest.MapFile{Data: []byte(out)}
		phrases = append(phrases, ps...)
	}
	require.Greater(t, len(phrases), 60, "the defaults' phrases were found")

	e := newEnv(t, func(c *accounts.Config) { c.Templates = over })
	s := newServer(t, e, accounts.HandlerConfig{}) // the Handler takes the Service's
	type shown struct{ what, text string }
	var clean, faulty []shown // clean: no Go error text on it
	page := func(what string, r resp, wantStatus int) {
		t.Helper()
		require.Equal(t, wantStatus, r.status, "%s: %s", what, r.body)
		clean = append(clean, shown{what, visible(r.body)})
	}
	message := func(what string, r resp) {
		t.Helper()
		var m struct{ Message string }
		require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
		require.NotEmpty(t, m.Message, what)
		clean = append(clean, shown{what, m.Message})
	}
	mails := func(addr string, n int) []mailtest.Message {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(e.mail.Server.To(addr)) < n && time.Now().Before(deadline) {
			e.mail.Dispatcher.Wake()
			time.Sleep(10 * time.Millisecond)
		}
		got := e.mail.Server.To(addr)
		require.Equal(t, n, len(got), addr)
		return got
	}

	for _, p := range getPages {
		page("GET "+p, s.do(http.MethodGet, p, "", "", nil), http.StatusOK)
	}
	const pw = "correct horse"
	adult := url.Values{"email": {"ann@example.org"}, "password": {pw}, "birth_date": {"1990-01-01"}}
	page("registered", s.form("/accounts/register", adult), http.StatusAccepted)
	tok := e.linkToken(mails("ann@example.org", 1)[0])
	page("verified", s.form("/accounts/verify", url.Values{"token": {tok}, "password": {pw}}), http.StatusOK)
	page("registered again", s.form("/accounts/register", adult), http.StatusAccepted)
	page("reset sent", s.form("/accounts/reset", url.Values{"email": {"ann@example.org"}}), http.StatusAccepted)
	var reset mailtest.Message
	for _, m := range mails("ann@example.org", 3) { // delivered in any order
		if strings.Contains(m.Text, "/reset/confirm?token=") {
			reset = m
		}
	}
	tok = e.linkToken(reset)
	page("password changed", s.form("/accounts/reset/confirm", url.Values{"token": {tok}, "password": {pw}}), http.StatusOK)
	page("signed in", s.form("/accounts/signin", url.Values{"email": {"ann@example.org"}, "password": {pw}}), http.StatusOK)

	for _, addr := range []string{"bob@example.org", "cy@example.org"} { // at most 3 mails to one address a day
		_, err = e.svc.Register(t.Context(), accounts.RegisterInput{Email: addr, Password: pw, BirthDate: "1990-01-01"})
		require.NoError(t, err)
		require.NoError(t, e.svc.Verify(t.Context(), e.linkToken(mails(addr, 1)[0]), pw))
	}
	session, _ := e.signIn("bob@example.org", pw)
	message("email change", s.json(http.MethodPost, "/accounts/me/email", session, map[string]any{"email": "cy@example.org", "password": pw}))
	message("email change", s.json(http.MethodPost, "/accounts/me/email", session, map[string]any{"email": "bob2@example.org", "password": pw}))
	mails("bob@example.org", 2) // before the address moves, or the guard holds it back
	tok = e.linkToken(mails("bob2@example.org", 1)[0])
	page("email confirmed", s.form("/accounts/email/confirm", url.Values{"token": {tok}}), http.StatusOK)

	// The staff page, to an admin: the list, a grant and a revoke said done, and
	// refusals beside the grant form's fields or above it.
	require.NoError(t, e.svc.GrantRole(t.Context(), "ann@example.org", privacy.RoleAdmin))
	require.NoError(t, e.svc.GrantRole(t.Context(), "cy@example.org", privacy.RoleModerator))
	admin, _ := e.signIn("ann@example.org", pw)
	addr := regexp.MustCompile(`[a-z0-9]+@example\.org`) // the members' addresses are data
	staff := func(what string, r resp, want int) {
		t.Helper()
		r.body = addr.ReplaceAllString(r.body, "")
		page(what, r, want)
	}
	staff("staff", s.staffPage(admin, ""), http.StatusOK)
	staff("staff granted", s.staffPage(admin, "?done=granted&role=editor"), http.StatusOK)
	staff("staff revoked", s.staffPage(admin, "?done=revoked&role=support"), http.StatusOK)
	for _, r := range []resp{
		s.postStaff("/accounts/staff/grant", admin, url.Values{"email": {"ghost@example.org"}, "role": {""}}),
		s.postStaff("/accounts/staff/revoke", admin, url.Values{"email": {"ann@example.org"}, "role": {"admin"}}),
	} {
		faulty = append(faulty, shown{"staff refusal", visible(addr.ReplaceAllString(r.body, ""))})
	}

	child := url.Values{"email": {"kid@example.org"}, "password": {pw}, "birth_date": {childBirthDate()}}
	page("parental required", s.form("/accounts/register", child), http.StatusOK)
	codePage := s.form("/accounts/parental/request", url.Values{"parent_email": {"mum@example.org"}})
	code := regexp.MustCompile(`id="consent-code">([^<]+)<`).FindStringSubmatch(codePage.body)
	require.NotNil(t, code, codePage.body)
	codePage.body = strings.ReplaceAll(codePage.body, code[1], "")
	page("parental code", codePage, http.StatusAccepted)
	tok = e.linkToken(mails("mum@example.org", 1)[0])
	page("parent agreed", s.form("/accounts/parental/answer", url.Values{"token": {tok}, "answer": {"approve"}}), http.StatusOK)
	e.clock.Advance(25 * time.Hour)
	_, err = e.svc.SendParentalConfirmations(t.Context())
	require.NoError(t, err)
	mails("mum@example.org", 2)

	message("register JSON", s.json(http.MethodPost, "/accounts/register", "", map[string]any{"email": "jo@example.org", "password": pw, "birth_date": "1990-01-01"}))
	message("under 13 JSON", s.json(http.MethodPost, "/accounts/register", "", map[string]any{"email": "jo@example.org", "password": pw, "birth_date": childBirthDate()}))
	message("parental JSON", s.json(http.MethodPost, "/accounts/parental/request", "", map[string]any{"parent_email": "dad@example.org"}))
	message("reset JSON", s.json(http.MethodPost, "/accounts/reset", "", map[string]any{"email": "cy@example.org"}))

	for _, r := range []resp{
		s.form("/accounts/register", url.Values{"email": {"ann@"}, "password": {"short"}, "birth_date": {"1990-01-01"}, "display_name": {strings.Repeat("x", 101)}}),
		s.form("/accounts/register", url.Values{"email": {"ann@"}, "password": {"short"}, "birth_date": {"x"}}),
		s.form("/accounts/parental/request", url.Values{"parent_email": {"mum"}}),
		s.form("/accounts/signin", url.Values{"email": {"ann@example.org"}, "password": {"wrong horse"}}),
		s.form("/accounts/reset/confirm", url.Values{"token": {"x"}, "password": {pw}}),
	} {
		faulty = append(faulty, shown{"refusal", visible(r.body)})
	}

	mails("cy@example.org", 3)
	mails("jo@example.org", 1)
	mails("dad@example.org", 1)
	data := regexp.MustCompile(`https?://\S+|Example Ltd|\d{1,2} [A-Z][a-z]+ \d{4}`) // the month is Go's; a template picks the layout
	sent := e.mail.Server.Messages()
	var to []string
	for _, m := range sent {
		to = append(to, m.To...)
	}
	require.Equal(t, 13, len(sent), "mail went to %v", to)
	for _, m := range sent {
		clean = append(clean, shown{"mail " + m.Subject(), data.ReplaceAllString(m.Subject()+"\n"+m.Text, "")})
	}
	for _, sh := range append(clean, faulty...) {
		for _, p := range phrases {
			if strings.Count(p, " ") >= 2 || len(p) >= 12 { // "at least" is in Go's "Use at least 8 characters" too
				assert.False(t, strings.Contains(sh.text, p), "%s shows %q", sh.what, p)
			}
		}
	}
	for _, sh := range clean {
		assert.Empty(t, wordRE.FindAllString(sh.text, -1), "%s: %q", sh.what, sh.text)
	}
}
