package newsletter

import (
	"bytes"
	"fmt"
	htmlpkg "html"
	"html/template"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/consentkit/consentkit/privacy"
)

// MaxMarkdownLen is the longest campaign body accepted, in characters.
const MaxMarkdownLen = 100_000

// Render turns a campaign's Markdown into its HTML body and plain-text alternative.
// Images are refused (a remote image is a tracking pixel: it tells its host who
// opened the mail and when), and so is raw HTML and any link that is not http, https
// or mailto. Links are kept exactly as written: nothing is rewritten or tracked.
// Returns ErrInvalid naming the field "markdown".
func Render(markdown string) (html, plain string, err error) {
	if err := privacy.CheckMultiline("markdown", markdown, MaxMarkdownLen, true); err != nil {
		return "", "", err
	}
	if strings.Contains(strings.ToLower(markdown), markHost) {
		return "", "", privacy.Invalid("markdown", "contains %q, which is reserved for the unsubscribe links", markHost)
	}
	src := []byte(markdown)
	md := goldmark.New()
	doc := md.Parser().Parse(text.NewReader(src))
	if err := checkMarkdown(doc, src); err != nil {
		return "", "", err
	}
	var buf bytes.Buffer
	if err := md.Renderer().Render(&buf, src, doc); err != nil {
		return "", "", privacy.Invalid("markdown", "could not be rendered")
	}
	// goldmark already escapes raw HTML and drops dangerous links; the sanitizer is a
	// second wall in case either ever changes.
	html = sanitizer().Sanitize(buf.String())
	var tb strings.Builder
	writeText(&tb, doc, src)
	return html, strings.TrimSpace(tb.String()) + "\n", nil
}

func sanitizer() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(false) // leave links exactly as the editor wrote them
	p.AllowURLSchemes("http", "https", "mailto")
	return p
}

func checkMarkdown(doc ast.Node, src []byte) error {
	var bad error
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Image:
			bad = privacy.Invalid("markdown", "images are not allowed: a remote image tells its host who opened the mail")
		case *ast.HTMLBlock, *ast.RawHTML:
			bad = privacy.Invalid("markdown", "HTML is not allowed; write Markdown")
		case *ast.Link:
			if !allowedLink(string(n.Destination)) {
				bad = privacy.Invalid("markdown", "link %q: only http, https and mailto links are allowed", clip(string(n.Destination), 80))
			}
		case *ast.AutoLink:
			if !allowedLink(string(n.URL(src))) && n.AutoLinkType != ast.AutoLinkEmail {
				bad = privacy.Invalid("markdown", "link %q: only http, https and mailto links are allowed", clip(string(n.URL(src)), 80))
			}
		}
		if bad != nil {
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return bad
}

func allowedLink(dest string) bool {
	d := strings.ToLower(strings.TrimSpace(dest))
	return strings.HasPrefix(d, "https://") || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "mailto:")
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// writeText writes the plain-text alternative of a Markdown document: the words as
// written, links as "text (url)", list items with their markers.
func writeText(w *strings.Builder, n ast.Node, src []byte) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		writeBlock(w, c, src, "")
	}
}

func writeBlock(w *strings.Builder, n ast.Node, src []byte, indent string) {
	switch n := n.(type) {
	case *ast.Heading:
		var b strings.Builder
		writeInline(&b, n, src)
		line := strings.TrimSpace(b.String())
		w.WriteString(indent + line + "\n")
		mark := "-"
		if n.Level == 1 {
			mark = "="
		}
		w.WriteString(indent + strings.Repeat(mark, max(3, len([]rune(line)))) + "\n\n")
	case *ast.Paragraph, *ast.TextBlock:
		var b strings.Builder
		writeInline(&b, n, src)
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			w.WriteString(indent + line + "\n")
		}
		if _, tight := n.(*ast.TextBlock); !tight {
			w.WriteString("\n")
		}
	case *ast.ThematicBreak:
		w.WriteString(indent + "----\n\n")
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		lines := n.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			w.WriteString(indent + "    " + strings.TrimRight(string(seg.Value(src)), "\r\n") + "\n")
		}
		w.WriteString("\n")
	case *ast.Blockquote:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			writeBlock(w, c, src, indent+"> ")
		}
	case *ast.List:
		i := n.Start
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "- "
			if n.IsOrdered() {
				marker = fmt.Sprintf("%d. ", i)
				i++
			}
			var b strings.Builder
			for c := item.FirstChild(); c != nil; c = c.NextSibling() {
				writeBlock(&b, c, src, "")
			}
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			for j, line := range lines {
				if j == 0 {
					w.WriteString(indent + marker + line + "\n")
				} else if line == "" {
					w.WriteString("\n")
				} else {
					w.WriteString(indent + strings.Repeat(" ", len(marker)) + line + "\n")
				}
			}
		}
		w.WriteString("\n")
	default:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			writeBlock(w, c, src, indent)
		}
	}
}

func writeInline(w *strings.Builder, n ast.Node, src []byte) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			w.Write(c.Value(src))
			switch {
			case c.HardLineBreak():
				w.WriteString("\n")
			case c.SoftLineBreak():
				w.WriteString("\n")
			}
		case *ast.String:
			w.Write(c.Value)
		case *ast.Link:
			var b strings.Builder
			writeInline(&b, c, src)
			label, dest := b.String(), string(c.Destination)
			w.WriteString(label)
			if label != dest {
				w.WriteString(" (" + dest + ")")
			}
		case *ast.AutoLink:
			w.Write(c.URL(src))
		default:
			writeInline(w, c, src)
		}
	}
}

// mailParts are the values a campaign mail is built from.
type mailParts struct {
	Subject     string
	Operator    string
	List        List
	Body        template.HTML // rendered and sanitized campaign body
	Text        string
	Unsubscribe string
	Preferences string
}

// mailTemplate is a campaign's mail with the recipient's own links left open: the
// body is rendered once per campaign, not once per recipient.
type mailTemplate struct{ html, text string }

// The marks stand where the recipient's links go. html/template leaves them as they
// are in an href, and no editor's text can hold them: Render refuses markHost.
const (
	markHost  = ".mark.invalid"
	unsubMark = "https://unsubscribe" + markHost + "/"
	prefsMark = "https://preferences" + markHost + "/"
)

func newMailTemplate(t *privacy.Templates, p mailParts) (mailTemplate, error) {
	p.Unsubscribe, p.Preferences = unsubMark, prefsMark
	html, err := execHTML(t, "campaign-html", p)
	if err != nil {
		return mailTemplate{}, err
	}
	text, err := execText(t, "campaign-text", p)
	return mailTemplate{html: string(html), text: text}, err
}

// fill returns the mail to one recipient. The links passed privacy.CheckURL, so
// escaping them for an HTML attribute is all they need.
func (m mailTemplate) fill(unsub, prefs string) (html, text string) {
	h := strings.NewReplacer(unsubMark, htmlpkg.EscapeString(unsub), prefsMark, htmlpkg.EscapeString(prefs))
	t := strings.NewReplacer(unsubMark, unsub, prefsMark, prefs)
	return h.Replace(m.html), t.Replace(m.text)
}
