package accounts

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

//go:embed templates/*.html templates/*.txt
var embedded embed.FS

// DefaultTemplates holds every word the package shows or sends: the pages and
// forms (*.html, html/template) and the mail, page titles and messages (*.txt,
// text/template), one file per group of pages. A host reads or copies them and
// overrides whole files or single {{define}}s through Config.Templates and
// HandlerConfig.Templates (see the package doc).
var DefaultTemplates, _ = fs.Sub(embedded, "templates") // a literal embedded directory: no error

func parseTemplates(override fs.FS) (*privacy.Templates, error) {
	t, err := privacy.ParseTemplates(DefaultTemplates, override, nil)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return t, nil
}

// say renders the text template name: a sentence, a title or a mail's part.
func say(t *privacy.Templates, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.Text.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("accounts: template %q: %w", name, err)
	}
	return b.String(), nil
}

// span is a duration as the templates word it (the "duration" template): whole
// days, whole hours, or Go's notation for anything else.
type span struct {
	Days  int    // d in whole days, 0 when not a whole number of days
	Hours int    // d in whole hours, 0 when not a whole number of hours
	Other string // d as Go writes it: "1h30m0s"
}

func spanOf(d time.Duration) span {
	s := span{Other: d.String()}
	if d%(24*time.Hour) == 0 {
		s.Days = int(d / (24 * time.Hour))
	}
	if d%time.Hour == 0 {
		s.Hours = int(d / time.Hour)
	}
	return s
}

// mailData is what every mail template receives.
type mailData struct {
	Site     string // Policy.SiteURL
	Operator string // Policy.Operator, under every mail
	Link     string // the mail's link, when it has one
	// Valid is how long the link works; Retention how long until what is kept
	// for it is deleted unused.
	Valid, Retention span
	Approved         time.Time // when a parent agreed
}
