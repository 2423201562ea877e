package privacy_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
)

func TestParseTemplates(t *testing.T) {
	defaults := fstest.MapFS{
		"form.html":   {Data: []byte(`{{define "form"}}<form>{{template "button" .}}</form>{{end}}{{define "button"}}<button>{{.}}</button>{{end}}`)},
		"confirm.txt": {Data: []byte(`{{define "confirm"}}Hello {{.}}, confirm: {{shout "now"}}{{end}}`)},
		"notes.md":    {Data: []byte(`not a template`)},
		"sub/x.html":  {Data: []byte(`{{define "ignored"}}{{end}}`)},
		"page.html":   {Data: []byte(`{{define "page"}}<main>{{template "form" .}}</main>{{end}}`)},
	}
	funcs := map[string]any{"shout": strings.ToUpper}
	render := func(t *testing.T, tm *privacy.Templates) (string, string) {
		var h, m strings.Builder
		require.NoError(t, tm.HTML.ExecuteTemplate(&h, "page", "Send <now>"))
		require.NoError(t, tm.Text.ExecuteTemplate(&m, "confirm", "Ann <a>"))
		return h.String(), m.String()
	}

	t.Run("Defaults", func(t *testing.T) {
		tm, err := privacy.ParseTemplates(defaults, nil, funcs)
		require.NoError(t, err)
		h, m := render(t, tm)
		assert.Equal(t, `<main><form><button>Send &lt;now&gt;</button></form></main>`, h)
		assert.Equal(t, `Hello Ann <a>, confirm: NOW`, m, "mail is text: nothing escaped")
		assert.Nil(t, tm.HTML.Lookup("ignored"), "only the root's files are read")
	})
	t.Run("OneTemplate", func(t *testing.T) {
		tm, err := privacy.ParseTemplates(defaults, fstest.MapFS{
			"mine.html": {Data: []byte(`{{define "button"}}<button class="big">Envoyer {{.}}</button>{{end}}`)},
		}, funcs)
		require.NoError(t, err)
		h, _ := render(t, tm)
		assert.Equal(t, `<main><form><button class="big">Envoyer Send &lt;now&gt;</button></form></main>`, h)
	})
	t.Run("WholeFile", func(t *testing.T) {
		tm, err := privacy.ParseTemplates(defaults, fstest.MapFS{
			"confirm.txt": {Data: []byte(`{{define "confirm"}}Bonjour {{.}}{{end}}`)},
		}, funcs)
		require.NoError(t, err)
		_, m := render(t, tm)
		assert.Equal(t, `Bonjour Ann <a>`, m)
	})
	t.Run("ErrUnknownName", func(t *testing.T) {
		_, err := privacy.ParseTemplates(defaults, fstest.MapFS{
			"mine.html": {Data: []byte(`{{define "buton"}}x{{end}}`)},
		}, funcs)
		require.ErrorContains(t, err, `mine.html defines "buton"`)
	})
	t.Run("ErrSyntax", func(t *testing.T) {
		_, err := privacy.ParseTemplates(defaults, fstest.MapFS{"form.html": {Data: []byte(`{{define "form"}}`)}}, funcs)
		require.ErrorContains(t, err, "override")
	})
}
