package newsletter

import (
	"embed"
	"fmt"
	htmlpkg "html"
	"html/template"
	"io/fs"
	"strings"

	"github.com/consentkit/consentkit/privacy"
)

//go:embed templates/*.html templates/*.txt
var templateFiles embed.FS

// DefaultTemplates holds every word the package shows or mails, as the templates
// the pages (*.html, html/template) and mails (*.txt, text/template; campaign.html
// is a mail's HTML) render from. A host copies what it wants to change and passes
// its files as HandlerConfig.Templates and Config.Templates; see the package doc.
// fs.Sub fails only for an invalid directory name.
var DefaultTemplates, _ = fs.Sub(templateFiles, "templates")

// parseTemplates parses DefaultTemplates with override (nil for none) on top.
// Every template can call {{base}}, the path the Handler's pages are mounted at,
// {{text "name" data}}, the output of the text template name, which lets a page
// and a mail word a list with the same template (lists.txt), {{list .}}, the
// ListDef of a list's name, and {{statuses}}, the statuses of a campaign past its
// draft.
func parseTemplates(override fs.FS, base string, list func(List) ListDef) (*privacy.Templates, error) {
	var t *privacy.Templates
	t, err := privacy.ParseTemplates(DefaultTemplates, override, map[string]any{
		"base": func() string { return base },
		"list": list,
		"statuses": func() []CampaignStatus {
			return []CampaignStatus{CampaignScheduled, CampaignSending, CampaignSent, CampaignCancelled}
		},
		"text": func(name string, data any) (string, error) { return execText(t, name, data) },
	})
	return t, err
}

// execText returns the output of t's text template name.
func execText(t *privacy.Templates, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.Text.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("newsletter: template %s: %w", name, err)
	}
	return b.String(), nil
}

// execHTML returns the output of t's HTML template name.
func execHTML(t *privacy.Templates, name string, data any) (template.HTML, error) {
	var b strings.Builder
	if err := t.HTML.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("newsletter: template %s: %w", name, err)
	}
	return template.HTML(b.String()), nil
}

// plainHTML returns the text of t's HTML template name, unescaped: a page title,
// which the Layout escapes itself.
func plainHTML(t *privacy.Templates, name string, data any) (string, error) {
	h, err := execHTML(t, name, data)
	return htmlpkg.UnescapeString(string(h)), err
}

// subject returns the output of t's text template name as a mail subject: one
// line, whatever line breaks an override's template holds, and short enough.
func subject(t *privacy.Templates, name string, data any) (string, error) {
	s, err := execText(t, name, data)
	return clip(strings.Join(strings.Fields(s), " "), privacy.MaxSubjectLen-1), err
}
