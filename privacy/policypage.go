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

// Features is what the site actually runs. The policy page describes these and
// nothing else: a capability that is off is not described as on.
type Features struct {
	Accounts   bool // sign-up, member resources, the age screen
	Contact    bool
	Comments   bool
	Newsletter bool // newsletter and promotions lists
	// Tracking describes the usage tally; nil means no usage is tallied.
	Tracking *TrackingFeature
}

// TrackingFeature describes how usage is tallied.
type TrackingFeature struct {
	MinCount  int           // values seen fewer times are reported as "(other)"
	Retention time.Duration // how long counts are kept
}

//go:embed policypage.md.tmpl
var policyFS embed.FS

var policyTmpl = template.Must(template.New("policypage.md.tmpl").Funcs(template.FuncMap{
	"duration": humanDuration,
	"date":     func(t time.Time) string { return t.Format("2 January 2006") },
	"md":       escapeMarkdown,
}).ParseFS(policyFS, "policypage.md.tmpl"))

// PolicyMarkdown renders the policy page as Markdown from the policy and what the
// site runs.
func PolicyMarkdown(p *Policy, f Features) ([]byte, error) {
	type purpose struct {
		Purpose     Purpose
		Description string
	}
	var purposes []purpose
	for _, pu := range Purposes() {
		if d, ok := p.Purposes[pu]; ok && purposeInUse(pu, f) {
			purposes = append(purposes, purpose{pu, d})
		}
	}
	history := append([]Change(nil), p.History...)
	for i, j := 0, len(history)-1; i < j; i, j = i+1, j-1 {
		history[i], history[j] = history[j], history[i]
	}
	var b bytes.Buffer
	err := policyTmpl.Execute(&b, map[string]any{
		"P": p, "F": f, "Purposes": purposes, "History": history, "MinAge": MinAge,
	})
	return b.Bytes(), err
}

// PolicyHTML renders the policy page as an HTML fragment (no script, no style).
func PolicyHTML(p *Policy, f Features) ([]byte, error) {
	md, err := PolicyMarkdown(p, f)
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

func purposeInUse(p Purpose, f Features) bool {
	switch p {
	case PurposeAccount, PurposeParentalConsent:
		return f.Accounts
	case PurposeSupport:
		return f.Contact
	case PurposeCommentFollowUp:
		return f.Comments
	case PurposeNewsletter, PurposePromotions:
		return f.Newsletter
	}
	return true
}

// humanDuration writes a retention period in days, months or years.
func humanDuration(d time.Duration) string {
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
