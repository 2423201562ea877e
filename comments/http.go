package comments

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// HandlerConfig configures a Handler. Zero fields take the defaults documented on them.
type HandlerConfig struct {
	// Signer signs the timestamp hidden in the comment form; required, with a Key of
	// at least 32 bytes shared by every process of the site. Its MinAge (3 s by
	// default) refuses forms sent faster than a person can type.
	Signer *web.Signer
	// Limiter bounds comments per client address, in memory only. Default: 10 an
	// hour after a burst of 5.
	Limiter *web.Limiter
	// TrustedHeader names the header that carries the client address behind a
	// trusted proxy, e.g. "X-Forwarded-For"; empty uses the connection's address.
	TrustedHeader string
	// Layout wraps every page; web.Plain by default.
	Layout web.Layout
	// LayoutKey declares that Layout depends on the request only through
	// the string LayoutKey returns for it: given two requests with one key,
	// and the same status, title and body, Layout writes the same status,
	// headers and bytes. A thread's page (GET /t/, ServeThread) is then framed
	// by one call of Layout per key, title and HTML around the thread while
	// the thread is unchanged, its views reusing what that call wrote and the
	// headers it set, instead of a call per view. Return "" for a Layout that
	// reads nothing of the request. Nil runs Layout at each view, but for the
	// default Layout (Layout nil), web.Plain, which reads nothing of it.
	LayoutKey func(r *http.Request) string
	// Log receives internal errors only; discarded when nil.
	Log *slog.Logger
	// ThreadPage returns the host's own page of thread (a blog post), its
	// title and its HTML before and after the thread section, as the host
	// gives them to ServeThread; ok false for a thread the host shows no page
	// of. When set, the thread section the Handler shows itself (GET /t/, and
	// the form shown again with its errors or a preview) is placed in that
	// page, so a visitor never leaves the article. Nil shows the section
	// alone in the Layout.
	ThreadPage func(r *http.Request, thread string) (title string, before, after template.HTML, ok bool)
	// Templates are the host's overrides of DefaultTemplates for the pages and
	// the form (the *.html files); nil for the defaults. NewHandler fails on one
	// that does not parse or defines a template the defaults do not. The
	// Service's thread cache keeps a thread rendered one way: Handlers of one
	// Service with different Templates (a site in two languages) re-render a
	// thread each time a view alternates between them, so they are best given
	// a Service each.
	Templates fs.FS
}

// Handler serves threads, their forms and feeds, the author's manage page, the
// follow-up confirmation and stop pages, and the moderation queue, as
// server-rendered HTML that needs no JavaScript or as JSON (chosen by
// web.WantsJSON). Mount it where Config.BaseURL points, with any router:
//
//	mux.Handle("/comments/", h)                           // net/http
//	mux.Handle("/comments/", http.StripPrefix("/comments", h))
//	r.Mount("/comments", h)                               // chi
//	r.PathPrefix("/comments").Handler(h)                  // gorilla/mux
//
// It routes on the path after the BaseURL's (web.Mount), and the links on its
// pages start with that path, never with the request's. Routes, relative to it:
//
//	GET  /t/{thread...}           a page of the thread (?page=N, 1 the oldest) and its form (?reply=ID answers a comment); JSON: the page, its paging and a form stamp
//	POST /t/{thread...}           post: name, email, body, parent, follow_up, ts, website (the honeypot); preview=1 only shows the comment rendered
//	GET  /feed/{thread...}        the thread's Atom feed
//	GET  /manage/{token}          the author's page: edit (for EditWindow) and delete
//	POST /manage/{token}          action=edit with body, or action=delete
//	GET  /confirm/{token}         asks to confirm reply notifications; changes nothing
//	POST /confirm/{token}         confirms
//	GET  /stop/{token}            asks to stop reply notifications; changes nothing
//	POST /stop/{token}            stops (also RFC 8058 one-click); action=resume resumes
//	GET  /moderate                moderators: the queue (?status=pending|approved|rejected, ?thread=, ?page=N, ?limit=)
//	POST /moderate                moderators: action=approve or reject, comment-{id}=on for each comment chosen (or ids=1,2,...); status, thread, page, limit to go back to
//	POST /moderate/{id}/{action}  moderators: approve, reject, delete, or email (why) to read the address
//
// Moderator routes need an actor with privacy.RoleModerator in the request context
// (the host's sign-in middleware puts it there). Every POST is refused when it comes
// from another origin (http.CrossOriginProtection). No response sets a cookie, and
// no response but the moderator's audited email answer holds a commenter's
// address: not even the form re-shown after an error, which asks for it again.
//
// A thread's page (HTML or JSON) is served from bytes made once per thread
// version (see ServeThread), gzip-encoded when the request allows, with a
// strong ETag: a browser keeps it (private, no-cache) and is answered 304 while
// the thread is unchanged and the page's form stamp can still post. Every other
// page is no-store.
type Handler struct {
	svc     *Service
	cfg     HandlerConfig
	markup  *markup
	handler http.Handler
	stamps  *stamper
	static  bool // Layout's frames may be reused (HandlerConfig.LayoutKey)
}

// NewHandler returns the handler for svc, mounted at the path of svc's BaseURL.
// It returns an error when svc is nil, cfg has no Signer or the Signer's key is
// shorter than 32 bytes, or cfg.Templates does not parse or defines a template
// that DefaultTemplates does not (the error names it).
func NewHandler(svc *Service, cfg HandlerConfig) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("comments: NewHandler needs a Service")
	}
	if cfg.Signer == nil || len(cfg.Signer.Key) < 32 {
		return nil, errors.New("comments: HandlerConfig.Signer with a key of at least 32 bytes is required")
	}
	if cfg.Limiter == nil {
		cfg.Limiter = web.NewLimiter(10, time.Hour, 5)
	}
	static := cfg.LayoutKey != nil
	if cfg.Layout == nil {
		cfg.Layout, static = web.Plain, true
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := svc.markup
	if cfg.Templates != nil {
		var err error
		if m, err = newMarkup(cfg.Templates); err != nil {
			return nil, err
		}
	}
	stamps, err := newStamper(svc.rand, cfg.Signer.Key)
	if err != nil {
		return nil, err
	}
	h := &Handler{svc: svc, cfg: cfg, markup: m, stamps: stamps, static: static}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{thread...}", h.thread)
	mux.HandleFunc("POST /t/{thread...}", h.post)
	mux.HandleFunc("GET /feed/{thread...}", h.feed)
	mux.HandleFunc("GET /manage/{token}", h.manage)
	mux.HandleFunc("POST /manage/{token}", h.manageSubmit)
	mux.HandleFunc("GET /confirm/{token}", h.confirm)
	mux.HandleFunc("POST /confirm/{token}", h.confirmSubmit)
	mux.HandleFunc("GET /stop/{token}", h.stop)
	mux.HandleFunc("POST /stop/{token}", h.stopSubmit)
	mux.HandleFunc("GET /moderate", h.queue)
	mux.HandleFunc("POST /moderate", h.moderateMany)
	mux.HandleFunc("POST /moderate/{id}/{action}", h.moderate)
	protected := http.NewCrossOriginProtection().Handler(mux)
	h.handler = web.Mount(svc.mount, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, protected)
	}))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// serve sets the headers every answer carries; r's path is relative to the mount.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// Token pages carry their token in the URL: no Referer may take it elsewhere.
	hd := w.Header()
	for k, v := range securityHeaders {
		hd[k] = v
	}
	if !strings.HasPrefix(r.URL.Path, "/feed/") {
		// Pages may hold a manage link, a form stamp or a moderator's view.
		hd["Cache-Control"] = headerNoStore
	}
	next.ServeHTTP(w, r)
}

// securityHeaders are the headers web.SecurityHeaders sets, made once.
var securityHeaders = func() http.Header {
	c := &layoutCapture{header: http.Header{}}
	web.SecurityHeaders(c)
	return c.header
}()

func (h *Handler) maxBody() int64 { return int64(h.svc.cfg.MaxBody)*12 + 8<<10 }

// decode reads r's form with web.Decode, blaming a body too large on the
// comment, the one field that can make it so, in the units the form states.
func (h *Handler) decode(r *http.Request) (url.Values, error) {
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	vals, err := web.Decode(r, h.maxBody())
	if err != nil && body.n > h.maxBody() {
		return nil, &privacy.Error{Kind: privacy.ErrInvalid, Field: "body", Code: "too-long", Limit: h.svc.cfg.MaxBody,
			Message: fmt.Sprintf("is longer than %d characters", h.svc.cfg.MaxBody)}
	}
	return vals, err
}

// countingReader counts the bytes read from a request body: web.Decode reads
// one more than its limit before it refuses a body.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

func (h *Handler) logInternal(r *http.Request, err error) {
	if web.HTTPStatus(err) == http.StatusInternalServerError {
		h.cfg.Log.ErrorContext(r.Context(), "comments", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// render executes page name, titled by template name+"-title", into the host's
// layout; a page that fails to render is logged and answered with "broken".
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	title, body, err := h.page(name, data)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "comments: render", "page", name, "err", err)
		status = http.StatusInternalServerError
		if title, body, err = h.page("broken", nil); err != nil {
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	h.cfg.Layout(w, r, status, title, body)
}

// page renders template name and its title, as text for the Layout to escape.
func (h *Handler) page(name string, data any) (title string, body template.HTML, err error) {
	var t, b bytes.Buffer
	if err := h.markup.tpl.HTML.ExecuteTemplate(&t, name+"-title", data); err != nil {
		return "", "", err
	}
	if err := h.markup.tpl.HTML.ExecuteTemplate(&b, name, data); err != nil {
		return "", "", err
	}
	return html.UnescapeString(t.String()), template.HTML(b.String()), nil
}

// errorPage is what the error template shows.
type errorPage struct {
	Status  int
	Field   string
	Message string
}

// fail answers err as JSON or as an HTML page saying what went wrong.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if web.WantsJSON(r) {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	h.logInternal(r, err)
	web.SetRetryAfter(w, err)
	b := web.Describe(err)
	h.render(w, r, b.Error.Status, "error", errorPage{Status: b.Error.Status, Field: b.Error.Field, Message: b.Error.Message})
}

// threadPage is what the thread template shows.
type threadPage struct {
	View     ThreadView // the page's comments, shared with the thread cache: read only
	List     string     // View's heading and comments as HTML (listHTML)
	Paging   Paging     // its links are relative: ?page=N
	Feed     string
	Action   string
	Stamp    string
	Parent   *Public
	Values   Input         // Email is never shown
	Preview  template.HTML // the body rendered, after the Preview button; "" otherwise
	Posted   *postedPage   // the author's own comment, opened by ?posted={manage token}
	Inline   bool          // the form is under the comment answered (Parent), not at the end
	Errors   []web.FieldError
	Err      map[string]string // the text of each field's first error (web.ByField)
	MaxName  int
	MaxEmail int
	MaxBody  int
	MaxLinks int
}

func findComment(ps []Public, id int64) *Public {
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
		if p := findComment(ps[i].Replies, id); p != nil {
			return p
		}
	}
	return nil
}

// page returns page n of shown, where n is the request's ?page= (1 when absent).
// Returns ErrInvalid naming "page" for one that is not a number and ErrNotFound
// naming "page" for one the thread does not have.
func page(r *http.Request, shown *shownThread) (int, error) {
	if r.URL.RawQuery == "" {
		return 1, nil
	}
	q := r.URL.Query().Get("page")
	if q == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, privacy.Invalid("page", "must be a page number from 1")
	}
	if n > len(shown.pages) {
		return 0, &privacy.Error{Kind: privacy.ErrNotFound, Field: "page", Message: "this page of comments does not exist"}
	}
	return n, nil
}

// paging describes page n of shown, its links made of prefix + "?page=N".
func paging(shown *shownThread, n int, prefix string) Paging {
	p := Paging{Page: n, Pages: len(shown.pages)}
	if n > 1 {
		p.Prev = prefix + "?page=" + strconv.Itoa(n-1)
	}
	if n < p.Pages {
		p.Next = prefix + "?page=" + strconv.Itoa(n+1)
	}
	return p
}

// threadPage prepares the thread's page the request asks for with ?page=; when
// lenient, as when a posted form is shown again with its errors, a bad page
// number shows the first page rather than failing.
func (h *Handler) threadPage(r *http.Request, thread string, v Input, ferr error, lenient bool) (threadPage, error) {
	shown, err := h.svc.shown(r.Context(), thread, h.markup)
	if err != nil {
		return threadPage{}, err
	}
	n, err := page(r, shown)
	if err != nil {
		if !lenient {
			return threadPage{}, err
		}
		n = 1
	}
	stamp := h.stamp()
	pg := shown.pages[n-1]
	view := ThreadView{Thread: shown.view.Thread, Count: shown.view.Count, Comments: pg.comments}
	p := threadPage{View: view, List: pg.list, Paging: paging(shown, n, ""), Feed: h.svc.FeedURL(thread),
		Action: h.svc.mount + "/t/" + thread + pageQuery(n), Stamp: stamp,
		Values: v, Err: map[string]string{}, MaxName: MaxNameLen, MaxEmail: privacy.MaxEmailLen, MaxBody: h.svc.cfg.MaxBody, MaxLinks: h.svc.cfg.MaxLinks}
	parent := v.ParentID
	if parent == 0 {
		parent, _ = strconv.ParseInt(r.URL.Query().Get("reply"), 10, 64)
	}
	if parent > 0 {
		if c := findComment(shown.view.Comments, parent); c != nil && !c.Deleted {
			pc := *c
			pc.Replies = nil
			p.Parent = &pc
			// Under the comment when it is on this page and the templates allow.
			p.Inline = h.markup.inline && findComment(pg.comments, parent) != nil
		}
	}
	if token := r.URL.Query().Get("posted"); token != "" {
		p.Posted = h.posted(r, thread, token)
	}
	if ferr != nil {
		p.Errors = web.FieldErrors(ferr, h.markup.label)
		p.Err = web.ByField(p.Errors)
	}
	return p, nil
}

// Fragment returns one page of thread's comments and the form as HTML for the
// host to place in its own page: the page's ?page= query picks the page of
// comments (links to the others are relative, ?page=N) and ?reply= the comment
// answered. The form posts to the Handler at Config.BaseURL. Returns ErrInvalid
// naming "thread" or "page", and ErrNotFound naming "thread" or "page".
func (h *Handler) Fragment(r *http.Request, thread string) (template.HTML, error) {
	p, err := h.threadPage(r, thread, Input{}, nil, false)
	if err != nil {
		return "", err
	}
	return h.markup.threadHTML(p)
}

// threadJSON is the JSON answer to GET /t/{thread}: one page of the thread,
// where the others are, and what a script needs to post to it.
type threadJSON struct {
	ThreadView
	Paging Paging `json:"paging"`
	Form   struct {
		Timestamp string `json:"ts"`
		Honeypot  string `json:"honeypot"`
		MaxBody   int    `json:"max_body"`
		MaxLinks  int    `json:"max_links"`
	} `json:"form"`
}

func (h *Handler) thread(w http.ResponseWriter, r *http.Request) {
	thread := r.PathValue("thread")
	if web.WantsJSON(r) {
		shown, err := h.svc.shown(r.Context(), thread, nil)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		n, err := page(r, shown)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		body, err := h.svc.pageJSON(shown, n)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.Header()["Content-Type"] = jsonType
		fr, last := body.frame(shown, "json", n, nil, nil, http.StatusOK, nil)
		h.serveHoled(w, r, body, fr, last)
		return
	}
	title, before, after := h.hostPage(r, thread)
	if err := h.ServeThread(w, r, thread, title, before, after); err != nil {
		h.fail(w, r, err)
	}
}

// showThread shows the thread section for the form sent with v: again with
// ferr's faults beside its fields, or with preview, the body rendered.
func (h *Handler) showThread(w http.ResponseWriter, r *http.Request, status int, thread string, v Input, ferr error, preview template.HTML) {
	p, err := h.threadPage(r, thread, v, ferr, true)
	if err == nil {
		p.Preview = preview
		var page template.HTML
		if page, err = h.markup.threadHTML(p); err == nil {
			title, before, after := h.hostPage(r, thread)
			h.cfg.Layout(w, r, status, title, before+page+after)
			return
		}
	}
	h.fail(w, r, err)
}

// hostPage returns the host's page around thread's section (ThreadPage), or
// the section's own title and nothing around it.
func (h *Handler) hostPage(r *http.Request, thread string) (title string, before, after template.HTML) {
	if h.cfg.ThreadPage != nil {
		if title, before, after, ok := h.cfg.ThreadPage(r, thread); ok {
			return title, before, after
		}
	}
	return h.markup.title, "", ""
}

// postedJSON is the answer to a posted comment. ManageURL is given only here.
type postedJSON struct {
	Status    Status  `json:"status"`
	Comment   *Public `json:"comment,omitempty"`
	ManageURL string  `json:"manage_url,omitempty"`
}

// postedPage is the notice an author sees on the thread's page after posting,
// from the manage token in the URL they were sent to: their comment, pending
// or published, and the link to edit or delete it. No cookie is needed, and no
// one without the token sees a pending comment.
type postedPage struct {
	Comment     Public
	Status      Status
	FollowUp    bool
	ManageURL   string
	EditMinutes int
}

// posted returns the notice for the comment that token manages, when it is
// one of thread's and not deleted; nil otherwise, so that a stale or mistyped
// link shows the page as anyone sees it.
func (h *Handler) posted(r *http.Request, thread, token string) *postedPage {
	c, err := h.svc.byManage(r.Context(), token)
	if err != nil {
		h.logInternal(r, err)
		return nil
	}
	if c.Thread != thread || c.Status == StatusDeleted {
		return nil
	}
	return &postedPage{Comment: h.svc.public(c), Status: c.Status, FollowUp: c.FollowUp,
		ManageURL: h.svc.base + "/manage/" + token, EditMinutes: int(h.svc.cfg.EditWindow / time.Minute)}
}

// postedURL is where a browser is sent after posting: the thread's page,
// with the manage token when there is one, so the page shows the author's
// comment to them alone.
func (h *Handler) postedURL(thread, token string) string {
	u := h.svc.ThreadURL(thread)
	if token == "" {
		return u + "#comments"
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "posted=" + url.QueryEscape(token) + "#comment-posted"
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	thread := r.PathValue("thread")
	asJSON := web.WantsJSON(r)
	var in Input
	fail := func(err error) {
		h.logInternal(r, err)
		if asJSON {
			web.WriteJSONError(w, r, nil, err)
			return
		}
		web.SetRetryAfter(w, err)
		if privacy.FieldOf(err) == "thread" {
			h.fail(w, r, err)
			return
		}
		h.showThread(w, r, web.HTTPStatus(err), thread, in, err, "")
	}
	if err := h.svc.checkThread(r.Context(), thread); err != nil {
		fail(err)
		return
	}
	vals, err := h.decode(r)
	if err != nil {
		fail(err)
		return
	}
	in = Input{Thread: thread, Name: vals.Get("name"), Email: vals.Get("email"), Body: vals.Get("body"), FollowUp: vals.Get("follow_up") != ""}
	if p := vals.Get("parent"); p != "" {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			fail(privacy.Invalid("parent", "is not a comment on this page"))
			return
		}
		in.ParentID = id
	}
	if vals.Get("preview") != "" && !asJSON {
		// Nothing is stored and the stamp is not spent: the form is shown again,
		// the comment rendered above its button as it would be published.
		html, err := h.svc.checkBody(in.Body)
		if err != nil {
			fail(err)
			return
		}
		h.showThread(w, r, http.StatusOK, thread, in, nil, template.HTML(html))
		return
	}
	var out postedJSON
	token := ""
	if web.Bot(vals) {
		// A bot is told it succeeded, so it learns nothing; nothing is stored or sent.
		out.Status = StatusPending
	} else {
		if in.stamp, in.stampExpires, err = h.checkStamp(r.Context(), vals.Get(web.TimestampField)); err != nil {
			fail(err)
			return
		}
		// Counted after the cheap checks, so a person fixing a typo is not locked
		// out by a form that never reached the store.
		if err := h.cfg.Limiter.Check(r, h.cfg.TrustedHeader); err != nil {
			fail(err)
			return
		}
		posted, err := h.svc.Post(r.Context(), in)
		if err != nil {
			fail(err)
			return
		}
		out = postedJSON{Status: posted.Status, Comment: &posted.Comment, ManageURL: h.svc.base + "/manage/" + posted.ManageToken}
		token = posted.ManageToken
	}
	if asJSON {
		web.WriteJSON(w, http.StatusCreated, out)
		return
	}
	// See Other, so that a refresh or Back loads the page and never posts again.
	http.Redirect(w, r, h.postedURL(thread, token), http.StatusSeeOther)
}

func (h *Handler) feed(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc.Atom(r.Context(), r.PathValue("thread"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

type managePage struct {
	M         *Managed
	ThreadURL string
	Saved     bool
	Notice    string // why the comment can no longer be edited
	Body      string
	Errors    []web.FieldError
	Err       map[string]string
}

func (h *Handler) showManage(w http.ResponseWriter, r *http.Request, status int, m Managed, p managePage) {
	p.M, p.ThreadURL = &m, h.svc.ThreadURL(m.Thread)
	h.render(w, r, status, "manage", p)
}

func (h *Handler) manage(w http.ResponseWriter, r *http.Request) {
	m, err := h.svc.Manage(r.Context(), r.PathValue("token"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, m)
		return
	}
	h.showManage(w, r, http.StatusOK, m, managePage{})
}

func (h *Handler) manageSubmit(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if _, err := h.svc.Manage(r.Context(), token); err != nil {
		h.fail(w, r, err)
		return
	}
	vals, err := h.decode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch vals.Get("action") {
	case "edit":
		m, err := h.svc.Edit(r.Context(), token, vals.Get("body"))
		if err == nil {
			if web.WantsJSON(r) {
				web.WriteJSON(w, http.StatusOK, m)
				return
			}
			h.showManage(w, r, http.StatusOK, m, managePage{Saved: true})
			return
		}
		cur, gerr := h.svc.Manage(r.Context(), token)
		if web.WantsJSON(r) || gerr != nil || !(errors.Is(err, privacy.ErrInvalid) || errors.Is(err, privacy.ErrGone)) {
			h.fail(w, r, err)
			return
		}
		p := managePage{Body: vals.Get("body"), Errors: web.FieldErrors(err, h.markup.label)}
		p.Err = web.ByField(p.Errors)
		if errors.Is(err, privacy.ErrGone) {
			p.Body, p.Notice = "", p.Errors[0].Text
			p.Errors, p.Err = nil, nil
		}
		h.showManage(w, r, web.HTTPStatus(err), cur, p)
	case "delete":
		if err := h.svc.Delete(r.Context(), token); err != nil {
			h.fail(w, r, err)
			return
		}
		if web.WantsJSON(r) {
			web.WriteJSON(w, http.StatusOK, map[string]bool{"deleted": true})
			return
		}
		h.render(w, r, http.StatusOK, "deleted", nil)
	default:
		h.fail(w, r, privacy.Invalid("action", "must be edit or delete"))
	}
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.CheckConfirmation(r.Context(), r.PathValue("token")); err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]bool{"confirmed": false})
		return
	}
	h.render(w, r, http.StatusOK, "confirm", nil)
}

func (h *Handler) confirmSubmit(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Confirm(r.Context(), r.PathValue("token")); err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]bool{"confirmed": true})
		return
	}
	h.render(w, r, http.StatusOK, "confirmed", nil)
}

func (h *Handler) stop(w http.ResponseWriter, r *http.Request) {
	stopped, err := h.svc.Stopped(r.Context(), r.PathValue("token"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]bool{"stopped": stopped})
		return
	}
	h.showStop(w, r, stopPage{Stopped: stopped})
}

// stopPage is what the stop template shows.
type stopPage struct {
	Stopped bool
	Done    string // "stopped" or "resumed" after the form was sent, else ""
}

func (h *Handler) showStop(w http.ResponseWriter, r *http.Request, p stopPage) {
	h.render(w, r, http.StatusOK, "stop", p)
}

func (h *Handler) stopSubmit(w http.ResponseWriter, r *http.Request) {
	action := ""
	// RFC 8058 lets a mail client send the one-click POST as multipart; it holds
	// nothing but List-Unsubscribe=One-Click, which means stop.
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		vals, err := web.Decode(r, 4<<10)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		action = vals.Get("action")
	}
	var err error
	switch action {
	case "", "stop":
		err = h.svc.Stop(r.Context(), r.PathValue("token"))
	case "resume":
		err = h.svc.Resume(r.Context(), r.PathValue("token"))
	default:
		err = privacy.Invalid("action", "must be stop or resume")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	stopped := action != "resume"
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]bool{"stopped": stopped})
		return
	}
	p := stopPage{Stopped: stopped, Done: "stopped"}
	if !stopped {
		p.Done = "resumed"
	}
	h.showStop(w, r, p)
}

// queuePage is what the queue template shows: one page of the comments with
// one status, perhaps of one thread.
type queuePage struct {
	Action   string // the queue's URL, and the bulk form's
	Status   Status
	Thread   string
	Page     int
	Limit    int // the page size asked for with ?limit=; 0 for the default
	Prev     string
	Next     string
	Statuses []Status
	Held     []Held
	Email    string
	EmailID  int64
	Done     string // "approve" or "reject" after a bulk action, else ""
	Count    int    // comments the bulk action changed
	Skipped  int    // comments it left, moderated or deleted meanwhile
	Errors   []web.FieldError
}

// queueView is where a moderator is in the queue: its filter and page.
type queueView struct {
	filter QueueFilter
	page   int
	limit  int // as asked; 0 for the default
}

// queueViewOf reads a queue view from q (?status, ?thread, ?page, ?limit).
// Returns ErrInvalid naming "page" or "limit".
func queueViewOf(q url.Values) (queueView, error) {
	v := queueView{filter: QueueFilter{Status: Status(q.Get("status")), Thread: q.Get("thread")}, page: 1}
	if v.filter.Status == "" {
		v.filter.Status = StatusPending
	}
	if n := q.Get("limit"); n != "" {
		l, err := strconv.Atoi(n)
		if err != nil || l < 1 || l > 500 {
			return v, privacy.Invalid("limit", "must be a number from 1 to 500")
		}
		v.limit, v.filter.Limit = l, l
	}
	if n := q.Get("page"); n != "" {
		p, err := strconv.Atoi(n)
		if err != nil || p < 1 || p > 1e6 {
			return v, privacy.Invalid("page", "must be a page number from 1")
		}
		v.page = p
	}
	size := v.filter.Limit
	if size == 0 {
		size = 100 // Queue's default
	}
	v.filter.Offset = (v.page - 1) * size
	return v, nil
}

// url returns the queue's URL for v at page, with extra query values.
func (h *Handler) queueURL(v queueView, page int, extra url.Values) string {
	q := url.Values{"status": {string(v.filter.Status)}}
	if v.filter.Thread != "" {
		q.Set("thread", v.filter.Thread)
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	if v.limit > 0 {
		q.Set("limit", strconv.Itoa(v.limit))
	}
	for k, vs := range extra {
		q[k] = vs
	}
	return h.svc.mount + "/moderate?" + q.Encode()
}

func (h *Handler) showQueue(w http.ResponseWriter, r *http.Request, status int, v queueView, p queuePage) {
	held, more, err := h.svc.queue(r.Context(), v.filter)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Action, p.Status, p.Thread, p.Page, p.Limit, p.Held = h.svc.mount+"/moderate", v.filter.Status, v.filter.Thread, v.page, v.limit, held
	if v.page > 1 {
		p.Prev = h.queueURL(v, v.page-1, nil)
	}
	if more {
		p.Next = h.queueURL(v, v.page+1, nil)
	}
	p.Statuses = []Status{StatusPending, StatusApproved, StatusRejected}
	h.render(w, r, status, "queue", p)
}

func (h *Handler) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v, err := queueViewOf(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		held, more, err := h.svc.queue(r.Context(), v.filter)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if held == nil {
			held = []Held{}
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"comments": held, "page": v.page, "more": more})
		return
	}
	p := queuePage{}
	if d := q.Get("done"); d == "approve" || d == "reject" {
		p.Done = d
		p.Count, _ = strconv.Atoi(q.Get("n"))
		p.Skipped, _ = strconv.Atoi(q.Get("skipped"))
	}
	h.showQueue(w, r, http.StatusOK, v, p)
}

// maxBulk bounds the comments one bulk action changes: a page of the queue.
const maxBulk = 500

// moderateMany approves or rejects the comments chosen in the queue, then sends the moderator back to the page of the queue the form
// came from (status, thread, page, limit), saying how many changed. A comment
// moderated or deleted meanwhile by someone else is skipped and counted.
func (h *Handler) moderateMany(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		h.fail(w, r, err)
		return
	}
	vals, err := web.Decode(r, 64<<10)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := queueViewOf(vals)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action := vals.Get("action")
	var ids []int64
	var errs []error
	if action != "approve" && action != "reject" {
		errs = append(errs, privacy.Invalid("action", "must be approve or reject"))
	}
	// web.Decode takes each field once: a checkbox is a field of its own,
	// comment-{id}; a script may send ids, comma-separated.
	var picked []string
	for k := range vals {
		if id, ok := strings.CutPrefix(k, "comment-"); ok {
			picked = append(picked, id)
		}
	}
	if s := vals.Get("ids"); s != "" {
		picked = append(picked, strings.Split(s, ",")...)
	}
	slices.Sort(picked)
	for _, s := range slices.Compact(picked) {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, privacy.Invalid("ids", "%q is not a comment id", s))
			break
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 0 && len(errs) == 0:
		errs = append(errs, privacy.Invalid("ids", "choose at least one comment"))
	case len(ids) > maxBulk:
		errs = append(errs, privacy.Invalid("ids", "choose at most %d comments at once", maxBulk))
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if web.WantsJSON(r) {
			h.fail(w, r, err)
			return
		}
		h.showQueue(w, r, http.StatusBadRequest, v, queuePage{Errors: web.FieldErrors(err, h.markup.label)})
		return
	}
	done, skipped := 0, 0
	for _, id := range ids {
		if action == "approve" {
			err = h.svc.Approve(ctx, id)
		} else {
			err = h.svc.Reject(ctx, id)
		}
		if errors.Is(err, privacy.ErrConflict) || errors.Is(err, privacy.ErrNotFound) {
			skipped++
			continue
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		done++
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"done": action, "changed": done, "skipped": skipped})
		return
	}
	http.Redirect(w, r, h.queueURL(v, v.page, url.Values{"done": {action}, "n": {strconv.Itoa(done)}, "skipped": {strconv.Itoa(skipped)}}), http.StatusSeeOther)
}

func (h *Handler) moderate(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.fail(w, r, privacy.Invalid("id", "is not a comment id"))
		return
	}
	vals, err := web.Decode(r, 4<<10)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The page of the queue the form was on, to go back to; the default one
	// when the form does not say.
	v, err := queueViewOf(vals)
	if err != nil {
		v, _ = queueViewOf(nil)
	}
	ctx := r.Context()
	action := r.PathValue("action")
	switch action {
	case "approve":
		err = h.svc.Approve(ctx, id)
	case "reject":
		err = h.svc.Reject(ctx, id)
	case "delete":
		err = h.svc.Remove(ctx, id)
	case "email":
		addr, err := h.svc.CommenterEmail(ctx, id, vals.Get("why"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if web.WantsJSON(r) {
			web.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "email": addr})
			return
		}
		h.showQueue(w, r, http.StatusOK, v, queuePage{Email: addr, EmailID: id})
		return
	default:
		err = privacy.Invalid("action", "must be approve, reject, delete or email")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "done": action})
		return
	}
	http.Redirect(w, r, h.queueURL(v, v.page, nil), http.StatusSeeOther)
}
