package comments

import (
	"bytes"
	"net/url"
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

// linkTransformer marks every link rel="nofollow ugc noopener", unwraps links to
// anything but http, https and mailto URLs (their text stays), and turns every
// image into a link to it — or into its text inside a link — so that no comment
// makes a reader's browser fetch from a server the commenter chose. bluemonday
// still checks every URL after this; this pass makes the HTML say what it does.
type linkTransformer struct{}

func (linkTransformer) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	var links, images []ast.Node
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n.(type) {
		case *ast.Link, *ast.AutoLink:
			links = append(links, n)
		case *ast.Image:
			images = append(images, n)
		}
		return ast.WalkContinue, nil
	})
	for _, n := range links {
		switch l := n.(type) {
		case *ast.Link:
			if !allowedURL(string(l.Destination)) {
				unwrap(l)
				continue
			}
		case *ast.AutoLink:
			u := string(l.URL(src))
			if l.AutoLinkType == ast.AutoLinkEmail {
				u = "mailto:" + u
			}
			if !allowedURL(u) {
				l.Parent().ReplaceChild(l.Parent(), l, ast.NewString(l.Label(src)))
				continue
			}
		}
		n.SetAttributeString("rel", []byte(Rel))
	}
	for _, img := range images {
		img := img.(*ast.Image)
		if img.Parent() == nil {
			continue
		}
		if insideLink(img) || !allowedURL(string(img.Destination)) {
			unwrap(img)
			continue
		}
		link := ast.NewLink()
		link.Destination, link.Title = img.Destination, img.Title
		link.SetAttributeString("rel", []byte(Rel))
		moveChildren(img, link)
		if link.ChildCount() == 0 {
			link.AppendChild(link, ast.NewString([]byte("image")))
		}
		img.Parent().ReplaceChild(img.Parent(), img, link)
	}
}

// allowedURL reports whether u is an absolute http(s) URL with a host, or mailto.
func allowedURL(u string) bool {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return p.Host != ""
	case "mailto":
		return true
	}
	return false
}

func insideLink(n ast.Node) bool {
	for p := n.Parent(); p != nil; p = p.Parent() {
		if _, ok := p.(*ast.Link); ok {
			return true
		}
	}
	return false
}

// unwrap replaces n with its children.
func unwrap(n ast.Node) {
	parent := n.Parent()
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		parent.InsertBefore(parent, n, c)
		c = next
	}
	parent.RemoveChild(parent, n)
}

func moveChildren(from, to ast.Node) {
	for c := from.FirstChild(); c != nil; {
		next := c.NextSibling()
		to.AppendChild(to, c)
		c = next
	}
}
