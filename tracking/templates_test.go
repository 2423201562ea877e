package tracking_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/pseudotr"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

// TestTemplateOverride: a host's override that restyles and translates one
// path's page changes that page, and every other page is byte for byte the
// default's.
func TestTemplateOverride(t *testing.T) {
	french := reportSite(t, tracking.HandlerConfig{Templates: fstest.MapFS{"fr.html": {Data: []byte(`
{{define "path-title"}}Vues de {{.R.Path}}{{end}}
{{define "path"}}<div class="fr-page"><p><a href="{{base}}/?from={{.Form.From}}&amp;to={{.Form.To}}">Toutes les pages</a></p>
<p><strong>{{.R.Views}}</strong> vues de <code>{{.R.Path}}</code> du {{date .R.From}} au {{last .R.To}}</p></div>{{end}}`)}}})
	defaults := reportSite(t, tracking.HandlerConfig{})

	w := do(french, http.MethodGet, "/page?path=%2Fblog%2F%7Bslug%7D&from=2025-05-01&to=2025-05-31")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	assert.Contains(t, body, "<title>Vues de /blog/{slug}</title>")
	assert.Contains(t, body, `<div class="fr-page">`)
	assert.Contains(t, body, "<strong>12</strong> vues de <code>/blog/{slug}</code> du 2025-05-01 au 2025-05-31")
	assert.NotContains(t, body, "views of")

	for _, target := range []string{
		"/?from=2025-05-01&to=2025-05-31",
		"/?from=2025-05-10&to=2025-05-01&top=0",
		"/page?from=2025-05-01",
		"/page?path=%2Ffour&from=2025-05-01&to=2025-05-31",
	} {
		want := do(defaults, http.MethodGet, target)
		got := do(french, http.MethodGet, target)
		assert.Equal(t, want.Code, got.Code, target)
		assert.Equal(t, want.Body.String(), got.Body.String(), target)
		assert.NotContains(t, got.Body.String(), "Vues", target)
	}
	assert.Equal(t, do(defaults, http.MethodPost, "/").Body.String(), do(french, http.MethodPost, "/").Body.String())
}

func TestTemplateOverrideErrors(t *testing.T) {
	svc, _ := newService(t, tracking.Config{})
	for _, tc := range []struct {
		name     string
		override fstest.MapFS
		want     string
	}{
		{"ErrUnknownTemplate", fstest.MapFS{"mine.html": {Data: []byte(`{{define "reprot"}}x{{end}}`)}}, `mine.html defines "reprot"`},
		{"ErrSyntax", fstest.MapFS{"report.html": {Data: []byte(`{{define "report"}}{{if}}{{end}}`)}}, "report.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tracking.NewHandler(svc, tracking.HandlerConfig{Templates: tc.override})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "HandlerConfig.Templates")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("ErrExecute", func(t *testing.T) {
		var log bytes.Buffer
		h := reportSite(t, tracking.HandlerConfig{Logger: slog.New(slog.NewTextHandler(&log, nil)),
			Templates: fstest.MapFS{"x.html": {Data: []byte(`{{define "report"}}{{.Missing}}{{end}}`)}}})
		w := do(h, http.MethodGet, "/")
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Contains(t, w.Body.String(), "<p>The report could not be shown.</p>")
		assert.Contains(t, log.String(), "Missing")
	})
}

// TestEveryWordInTemplates renders every page from DefaultTemplates with every
// word put in capitals: a lowercase word left that is not the data shown is
// English written in Go.
func TestEveryWordInTemplates(t *testing.T) {
	over := fstest.MapFS{}
	for name, b := range pseudotr.Translate(t, tracking.DefaultTemplates) {
		over[name] = &fstest.MapFile{Data: b}
	}
	h := reportSite(t, tracking.HandlerConfig{Templates: over})
	// The values counted, and the sentences of Go's errors, which templates word by
	// Code when they translate.
	data := []string{"/blog/{slug}", "/five", "example.net", "Firefox", "Chrome", "text/html",
		"must be a date like", "must be a number from 1 to 100", "must not be before from", "No page with at least 5 views in this range",
		"was given more than once", "is required", "Sign in first", "must be one of today, 7d, 30d or 12m", "must not be given with from or to",
		"text/csv", "charset=utf-8", "base64"}
	for _, target := range []string{
		"/?from=2025-05-01&to=2025-05-31",
		"/?from=2025-05-01&to=2025-05-01",
		"/?from=2024-01-01&to=2024-01-31",
		"/page?path=%2Fblog%2F%7Bslug%7D&from=2025-05-01&to=2025-05-31",
		"/page?path=%2Ffive&from=2025-05-01&to=2025-05-01",
		"/page?path=%2Ffour&from=2025-05-01&to=2025-05-31",
		"/page?from=2025-05-01&from=2025-05-02",
		"/?from=x&to=y&top=z",
		"/?from=2025-05-10&to=2025-05-01",
		"/?range=today",
		"/?range=12m",
		"/?range=1y",
		"/?range=7d&from=2025-05-01",
	} {
		t.Run(target, func(t *testing.T) {
			w := do(h, http.MethodGet, target)
			require.Less(t, w.Code, 500, w.Body.String())
			assert.Empty(t, pseudotr.LeftOnPage(t, w.Body.String(), data), "English left on the page:\n%s", w.Body.String())
			assert.True(t, strings.ContainsFunc(w.Body.String(), unicode.IsUpper))
		})
	}
	t.Run("MethodNotAllowed", func(t *testing.T) {
		w := do(h, http.MethodPost, "/")
		require.Equal(t, http.StatusMethodNotAllowed, w.Code)
		assert.Empty(t, pseudotr.LeftOnPage(t, w.Body.String(), nil), w.Body.String())
	})
	t.Run("Unauthorized", func(t *testing.T) {
		w := do(reportSite(t, tracking.HandlerConfig{Templates: over, Role: privacy.RoleAdmin}), http.MethodGet, "/")
		require.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Empty(t, pseudotr.LeftOnPage(t, w.Body.String(), data), w.Body.String())
	})
	t.Run("Broken", func(t *testing.T) {
		broken := fstest.MapFS{"x.html": {Data: []byte(`{{define "report"}}{{.Missing}}{{end}}`)}}
		for k, f := range over {
			broken[k] = f
		}
		w := do(reportSite(t, tracking.HandlerConfig{Templates: broken}), http.MethodGet, "/")
		require.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Empty(t, pseudotr.LeftOnPage(t, w.Body.String(), nil), w.Body.String())
	})
}
