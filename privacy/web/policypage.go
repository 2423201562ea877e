package web

import (
	"io/fs"

	"github.com/consentkit/consentkit/privacy"

	"bytes"
	"embed"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

//go:embed templates
var templateFS embed.FS

// DefaultTemplates is the markup of the kernel's pages: pages.html (the data request
// pages) and policy.md (the policy page, in Markdown). Copy and edit them to
// override them (Config.Templates).
var DefaultTemplates, _ = fs.Sub(templateFS, "templates")

var funcs = map[string]any{
	"date": func(t time.Time) string { return t.Format("2 January 2006") },
	"md":   escapeMarkdown,
}

// defaults are DefaultTemplates parsed, for PolicyMarkdown and PolicyHTML.
var defaults = func() *privacy.Templates {
	t, err := privacy.ParseTemplates(DefaultTemplates, nil, funcs)
	if err != nil {
		panic(err)
	}
	return t
}()

// PolicyMarkdown renders the policy page as Markdown from the policy and the
// contracts of the holders registered in r: the page describes what they hold, for
// how long and why, and nothing else.
func PolicyMarkdown(p *privacy.Policy, r *privacy.Registry) ([]byte, error) {
	return policyMarkdown(defaults, p, r)
}

// PolicyHTML renders the policy page as an HTML fragment (no script, no style).
func PolicyHTML(p *privacy.Policy, r *privacy.Registry) ([]byte, error) {
	return policyHTML(defaults, p, r)
}

func policyMarkdown(t *privacy.Templates, p *privacy.Policy, r *privacy.Registry) ([]byte, error) {
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
				case privacy.SectionCollected, privacy.SectionVisits, privacy.SectionChildren:
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
	history := append([]privacy.Change(nil), p.History...)
	for i, j := 0, len(history)-1; i < j; i, j = i+1, j-1 {
		history[i], history[j] = history[j], history[i]
	}
	var b bytes.Buffer
	err := t.Text.ExecuteTemplate(&b, "policy.md", map[string]any{
		"P": p, "Purposes": r.Purposes(), "Categories": r.Categories(), "History": history, "MinAge": privacy.MinAge,
		"Collected": texts(privacy.SectionCollected), "Visits": texts(privacy.SectionVisits), "Children": texts(privacy.SectionChildren),
		"Sections": extra,
	})
	return b.Bytes(), err
}

func policyHTML(t *privacy.Templates, p *privacy.Policy, r *privacy.Registry) ([]byte, error) {
	md, err := policyMarkdown(t, p, r)
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

var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`)

// escapeMarkdown keeps operator-supplied text literal in the Markdown.
func escapeMarkdown(s string) string { return mdEscaper.Replace(s) }
