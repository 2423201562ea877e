package web_test

import (
	"io/fs"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// A host translates the data request form and its confirmation mail; the policy page
// keeps the defaults.
func TestTemplatesOverride(t *testing.T) {
	var rights *privacy.Rights
	e := newEnv(t, func(c *web.Config) {
		c.Templates = fstest.MapFS{"fr.html": {Data: []byte(`{{define "sent"}}<p>Si l'adresse est valide, un lien de confirmation arrive.</p>{{end}}`)}}
		rights = c.Rights
		rights.Templates = fstest.MapFS{"rights.txt": {Data: []byte(`{{define "rights-confirm-subject"}}Confirmez votre demande{{end}}{{define "rights-confirm"}}Lien : {{.Link}}{{end}}`)}}
	})
	w := e.do(postForm("/request", url.Values{"email": {"ann@example.org"}, "kind": {"export"}}))
	require.Equal(t, 202, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "un lien de confirmation arrive")
	msg := e.mail.Server.Wait(1, 5*time.Second)[0]
	assert.Contains(t, msg.Header.Get("Subject"), "Confirmez votre demande")
	assert.True(t, strings.HasPrefix(msg.Text, "Lien : http://127.0.0.1:8080/privacy/confirm?t="), msg.Text)

	w = e.do(httptest.NewRequest("GET", "/", nil))
	assert.Contains(t, w.Body.String(), "sets no cookies", "the policy page is the default one")
}

func TestTemplatesOverrideRefused(t *testing.T) {
	for name, mod := range map[string]func(*web.Config){
		"unknown page":  func(c *web.Config) { c.Templates = fstest.MapFS{"x.html": {Data: []byte(`{{define "snet"}}{{end}}`)}} },
		"broken policy": func(c *web.Config) { c.Templates = fstest.MapFS{"policy.md": {Data: []byte(`{{if}}`)}} },
		"unknown mail": func(c *web.Config) {
			c.Rights.Templates = fstest.MapFS{"x.txt": {Data: []byte(`{{define "confirm-rights"}}{{end}}`)}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			store := memstore.New()
			cfg := web.Config{Policy: &privacy.Policy{}, Rights: &privacy.Rights{}, Registry: &privacy.Registry{}, Store: store, Auditor: &privacy.Auditor{Log: store},
				Disclosures: &privacy.Disclosures{Store: store, Registry: &privacy.Registry{}, Auditor: &privacy.Auditor{Log: store}}}
			mod(&cfg)
			_, err := web.New(cfg)
			require.ErrorContains(t, err, "templates: ")
		})
	}
}

// Every default page and mail template file is one a host can name.
func TestDefaultTemplatesListed(t *testing.T) {
	for fsys, want := range map[fs.FS][]string{web.DefaultTemplates: {"pages.html", "policy.md"}, privacy.DefaultTemplates: {"rights.txt"}} {
		got, err := fs.Glob(fsys, "*")
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}
