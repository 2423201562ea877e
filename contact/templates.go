package contact

import (
	"embed"
	"html"
	"io/fs"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

//go:embed templates/*.html templates/*.txt
var embedded embed.FS

// DefaultTemplates holds every word the capability shows or sends: the pages and
// forms (*.html, html/template) and the mail (*.txt, text/template), each file
// saying what its templates are given. A host restyles or translates them by
// overriding whole files or single {{define}}s: HandlerConfig.Templates for the
// pages, Config.Templates for the mail.
var DefaultTemplates, _ = fs.Sub(embedded, "templates") // a literal embedded directory: no error

var funcs = map[string]any{
	"time":  fmtTime,
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"split": func(s string) []string { return strings.Split(s, "\n") },
}

// parseTemplates parses DefaultTemplates with override on top; what it returns
// names the template at fault.
func parseTemplates(override fs.FS) (*privacy.Templates, error) {
	return privacy.ParseTemplates(DefaultTemplates, override, funcs)
}

// plainText executes the HTML template name and returns its output as text: for a
// page's title, which the Layout escapes itself, and for a field's label, which
// ends up inside a sentence that the page escapes.
func plainText(t *privacy.Templates, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.HTML.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return html.UnescapeString(b.String()), nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
