package privacy

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

//go:embed policypage.md.tmpl
var policyFS embed.FS

var policyTmpl = template.Must(template.New("policypage.md.tmpl").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.Format("2 January 2006") },
	"md":   escapeMarkdown,
}).ParseFS(policyFS, "policypage.md.tmpl"))

// PolicyMarkdown renders the policy page as Markdown from the policy and the
// contracts of the holders registered in r: the page describes what they hold, for
// how long and why, and nothing else.
func PolicyMarkdown(p *Policy, r *Registry) ([]byte, error) {
	type section struct {
		Heading string
		Texts   []string
	}
	byHeading := map[string]*section{}
	var extra []*section
	for _, c := range r.Contracts() {
		for _, s := range c.Sections {
			sec := byHeading[s.Heading]
			if sec == nil {
				sec = &section{Heading: s.Heading}
				byHeading[s.Heading] = sec
				switch s.Heading {
				case SectionCollected, SectionVisits, SectionChildren:
				default:
					extra = append(extra, sec)
				}
			}
			sec.Texts = append(sec.Texts, strings.TrimSpace(s.Text))
		}
	}
	texts := func(heading string) []string {
		if sec := byHeading[heading]; sec != nil {
			return sec.Texts
		}
		return nil
	}
	history := append([]Change(nil), p.History...)
	for i, j := 0, len(history)-1; i < j; i, j = i+1, j-1 {
		history[i], history[j] = history[j], history[i]
	}
	var b bytes.Buffer
	err := policyTmpl.Execute(&b, map[string]any{
		"P": p, "Purposes": r.Purposes(), "Categories": r.Categories(), "History": history, "MinAge": MinAge,
		"Collected": texts(SectionCollected), "Visits": texts(SectionVisits), "Children": texts(SectionChildren),
		"Sections": extra,
	})
	return b.Bytes(), err
}

// PolicyHTML renders the policy page as an HTML fragment (no script, no style).
func PolicyHTML(p *Policy, r *Registry) ([]byte, error) {
	md, err := PolicyMarkdown(p, r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	// goldmark's default renderer drops raw HTML, so policy text cannot inject markup.
	if err := goldmark.New(goldmark.WithExtensions(extension.Table)).Convert(md, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// HumanDuration writes a retention period in hours, days, months or years, as the
// policy page does: "7 days", "6 months", "1 year".
func HumanDuration(d time.Duration) string {
	days := int(d.Hours() / 24)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return "as long as needed"
	case days < 1:
		return plural(int(d.Hours()), "hour")
	case days%365 == 0:
		return plural(days/365, "year")
	case days >= 60 && days%30 == 0, days >= 365:
		return plural((days+15)/30, "month")
	}
	return plural(days, "day")
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`)

// escapeMarkdown keeps operator-supplied text literal in the Markdown.
func escapeMarkdown(s string) string { return mdEscaper.Replace(s) }
