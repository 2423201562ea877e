package comments

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Rel is the rel attribute every link in a comment carries.
const Rel = "nofollow ugc noopener"

// Renderer turns comment Markdown into sanitized HTML. It is safe for concurrent use.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// NewRenderer returns the renderer every comment goes through: goldmark with raw
// HTML off (CommonMark plus autolinks and strikethrough), images turned into links,
// then bluemonday's UGC policy allowing only http, https and mailto URLs.
func NewRenderer() *Renderer {
	md := goldmark.New(
		goldmark.WithExtensions(extension.Linkify, extension.Strikethrough),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(linkTransformer{}, 100))),
	)
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.AllowAttrs("rel").Matching(regexp.MustCompile(`^` + Rel + `$`)).OnElements("a")
	return &Renderer{md: md, policy: p}
}

// Render returns the sanitized HTML for Markdown src. src is expected to have passed
// privacy.CheckMultiline; anything else is still rendered safely.
func (r *Renderer) Render(src string) (string, error) {
	var buf bytes.Buffer
	buf.Grow(len(src) + len(src)/2 + 16)
	if err := r.md.Convert([]byte(src), &buf); err != nil {
		return "", err
	}
	return strings.TrimSpace(r.policy.SanitizeReader(&buf).String()), nil
}

// Links counts the links in rendered html.
func Links(html string) int { return strings.Count(html, "<a ") }

// linkTransformer marks every link rel="nofollow ugc noopener" and turns every image
// into a link to it, so that no comment makes a reader's browser fetch from a server
// the commenter chose.
type linkTransformer struct{}

func (linkTransformer) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	var images []*ast.Image
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link, *ast.AutoLink:
			n.SetAttributeString("rel", []byte(Rel))
		case *ast.Image:
			images = append(images, n)
		}
		return ast.WalkContinue, nil
	})
	for _, img := range images {
		link := ast.NewLink()
		link.Destination, link.Title = img.Destination, img.Title
		link.SetAttributeString("rel", []byte(Rel))
		for c := img.FirstChild(); c != nil; {
			next := c.NextSibling()
			link.AppendChild(link, c)
			c = next
		}
		if link.ChildCount() == 0 {
			link.AppendChild(link, ast.NewString([]byte("image")))
		}
		img.Parent().ReplaceChild(img.Parent(), img, link)
	}
}
