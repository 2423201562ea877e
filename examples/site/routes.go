package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/yuin/goldmark"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
)

//go:embed static posts templates
var assets embed.FS

var pageTmpl = template.Must(template.ParseFS(assets, "templates/*.html"))

// csp allows only the site's own script and stylesheet: no inline script, no
// inline style, no third party.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "interest-cohort=(), browsing-topics=()")
		next.ServeHTTP(w, r)
	})
}

// layout is the site's web.Layout: every capability's pages share it. Asked by the
// staff shell's script for a fragment (fragmentHeader), it writes the page's body
// only, its title in titleHeader.
func (s *Site) layout(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", fragmentHeader)
	if r.Header.Get(fragmentHeader) == "1" {
		h.Set(titleHeader, url.PathEscape(title))
		w.WriteHeader(status)
		io.WriteString(w, string(body))
		return
	}
	w.WriteHeader(status)
	if err := pageTmpl.ExecuteTemplate(w, "layout.html", map[string]any{
		"Title": title, "Body": body, "Site": s.policy.Operator, "Mailbox": s.mailbox != nil, "Path": r.URL.Path,
	}); err != nil {
		s.log.Error("layout", "err", err)
	}
}

// page renders one of the site's own templates inside the layout.
func (s *Site) page(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var b bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("page", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.layout(w, r, status, title, template.HTML(b.String()))
}

func (s *Site) routes(formKey []byte, privacyWeb *web.Handler) (http.Handler, error) {
	sign := s.signer(formKey)
	var err error
	if s.posts, err = loadPosts(); err != nil {
		return nil, err
	}
	contactH, err := contact.NewHandler(s.contact, contact.HandlerConfig{Signer: sign, Layout: s.layout, Log: s.log, BaseURL: "/contact"})
	if err != nil {
		return nil, err
	}
	// A comment form sent back with its faults, or with a preview, is shown in
	// the post it belongs to.
	postPage := func(_ *http.Request, thread string) (string, template.HTML, template.HTML, bool) {
		p, ok := s.post(thread)
		return p.Title, p.before, p.after, ok
	}
	if s.commentsH, err = comments.NewHandler(s.comments, comments.HandlerConfig{Signer: sign, Layout: s.layout, Log: s.log,
		ThreadPage: postPage}); err != nil {
		return nil, err
	}
	newsH, err := newsletter.NewHandler(s.newsletter, newsletter.HandlerConfig{Signer: sign, Layout: s.layout, Log: s.log})
	if err != nil {
		return nil, err
	}
	accountsH, err := accounts.NewHandler(s.accounts, accounts.HandlerConfig{Layout: s.layout, Signer: sign, Log: s.log})
	if err != nil {
		return nil, err
	}
	statsH, err := tracking.NewHandler(s.stats, tracking.HandlerConfig{Layout: s.layout, Logger: s.log, Role: privacy.RoleAdmin, BaseURL: "/stats",
		Title: s.pageTitle})
	if err != nil {
		return nil, err
	}

	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /blog", s.blogIndex)
	mux.HandleFunc("GET /blog/{slug}", s.blogPost)
	mux.HandleFunc("GET /member", s.appPage("Member area", "member.html"))
	mux.HandleFunc("GET /staff", s.appPage("Staff area", "staff-home.html"))
	// Each handler routes on the path after its BaseURL, so it is mounted as is.
	mux.Handle("/accounts/", accountsH)
	mux.Handle("/contact/", contactH)
	mux.Handle("/comments/", s.commentsH)
	mux.Handle("/newsletter/", newsH)
	mux.Handle("/privacy/", privacyWeb)
	mux.Handle("/stats/", statsH)
	for _, p := range []string{"/contact", "/newsletter", "/privacy", "/stats"} {
		mux.Handle("GET "+p, http.RedirectHandler(p+"/", http.StatusMovedPermanently))
	}
	if s.mailbox != nil {
		mux.HandleFunc("GET /dev/mailbox", s.devMailbox)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, http.StatusNotFound, "Not found", "notfound.html", nil)
	})

	var h http.Handler = mux
	if s.tracker != nil {
		h = s.tracker.Handler(h)
	}
	h = s.accounts.Authenticate(s.staffShell(h))
	h = s.clientAddr(h)
	h = web.NoCookies(h, web.NoCookiesOptions{Log: s.log})
	return securityHeaders(h), nil
}

func (s *Site) home(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, s.policy.Operator, "home.html", map[string]any{"Posts": s.posts})
}

func (s *Site) appPage(title, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.page(w, r, http.StatusOK, title, name, nil) }
}

// post is a blog post embedded in the binary, rendered once at start-up: the
// posts change only with the binary.
type post struct {
	Slug, Title string
	Body        template.HTML
	// The post's page before and after its comments (post.html), for
	// comments.Handler.ServeThread to frame the thread with.
	before, after template.HTML
}

var titleRE = regexp.MustCompile(`(?m)^# (.+)$`)

// threadMarker stands for the comments while a post's page is rendered.
const threadMarker = "<!--site:thread-->"

// loadPosts renders every embedded post, newest first.
func loadPosts() ([]post, error) {
	entries, err := fs.ReadDir(assets, "posts")
	if err != nil {
		return nil, err
	}
	var out []post
	for _, e := range entries {
		src, err := fs.ReadFile(assets, "posts/"+e.Name())
		if err != nil {
			return nil, err
		}
		p := post{Slug: strings.TrimSuffix(e.Name(), ".md")}
		if m := titleRE.FindSubmatchIndex(src); m != nil {
			p.Title = string(src[m[2]:m[3]])
			src = append(src[:m[0]:m[0]], src[m[1]:]...) // the layout shows the title
		}
		var b bytes.Buffer
		if err := goldmark.Convert(src, &b); err != nil { // the posts are ours; raw HTML stays off
			return nil, fmt.Errorf("post %s: %w", e.Name(), err)
		}
		p.Body = template.HTML(b.String())
		b.Reset()
		if err := pageTmpl.ExecuteTemplate(&b, "post.html", map[string]any{"Post": p, "Thread": template.HTML(threadMarker)}); err != nil {
			return nil, err
		}
		before, after, ok := strings.Cut(b.String(), threadMarker)
		if !ok {
			return nil, fmt.Errorf("post.html shows no thread")
		}
		p.before, p.after = template.HTML(before), template.HTML(after)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug > out[j].Slug })
	return out, nil
}

// post returns the post of slug. Only posts take comments.
func (s *Site) post(slug string) (post, bool) {
	for _, p := range s.posts {
		if p.Slug == slug {
			return p, true
		}
	}
	return post{}, false
}

func (s *Site) blogIndex(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "Blog", "blog.html", map[string]any{"Posts": s.posts})
}

// pageTitle names a page the usage report lists: a post by its title (each is
// counted under its own path, see TrackerConfig.ByPath in site.go).
func (s *Site) pageTitle(path string) string {
	if slug, ok := strings.CutPrefix(path, "/blog/"); ok {
		if p, ok := s.post(slug); ok {
			return p.Title
		}
	}
	return ""
}

func (s *Site) blogPost(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	p, ok := s.post(slug)
	if !ok {
		s.page(w, r, http.StatusNotFound, "Not found", "notfound.html", nil)
		return
	}
	// The post's own bytes are made once; the thread's once per version.
	if err := s.commentsH.ServeThread(w, r, slug, p.Title, p.before, p.after); err != nil {
		s.log.Error("comments fragment", "err", err)
		s.page(w, r, http.StatusOK, p.Title, "post.html", map[string]any{"Post": p,
			"Thread": template.HTML("<p>Comments are unavailable right now.</p>")})
	}
}

// web.Layout is satisfied by (*Site).layout.
var _ web.Layout = (*Site)(nil).layout
