package contact

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// HandlerConfig configures a Handler. Zero fields take the defaults documented on them.
type HandlerConfig struct {
	// Signer signs the timestamp hidden in the form; required, with a Key of at
	// least 32 bytes shared by every process of the site. Its MinAge (3 s by
	// default) refuses forms sent faster than a person can type.
	Signer *web.Signer
	// Limiter bounds submissions per client address, in memory only. Default:
	// 5 per hour after a burst of 5.
	Limiter *web.Limiter
	// TrustedHeader names the header that carries the client address behind a
	// trusted proxy, e.g. "X-Forwarded-For"; empty uses the connection's address.
	TrustedHeader string
	// Layout wraps every page; web.Plain by default.
	Layout web.Layout
	// Log receives internal errors only; discarded when nil.
	Log *slog.Logger
	// BaseURL is the URL, or only the path, at which the host mounts the Handler,
	// e.g. "/contact": the Handler routes on the path after it, and the links and
	// forms on its pages start with it. Default: "/contact".
	BaseURL string
	// Templates is the host's overrides of DefaultTemplates; nil for the defaults.
	// The pages render from them: a file named as a default file replaces it, and
	// any file may redefine single templates ({{define "form"}}).
	Templates fs.FS
}

// Handler serves the contact form and the staff pages, as server-rendered HTML
// that needs no JavaScript or as JSON (chosen by web.WantsJSON). Mount it at
// HandlerConfig.BaseURL, with any router:
//
//	mux.Handle("/contact/", h)                           // net/http
//	mux.Handle("/contact/", http.StripPrefix("/contact", h))
//	r.Mount("/contact", h)                               // chi
//	r.PathPrefix("/contact").Handler(h)                  // gorilla/mux
//
// It routes on the path after the BaseURL's (web.Mount). Routes, relative to it:
//
//	GET  /                      the form (JSON: its timestamp, honeypot name, limits and categories)
//	POST /                      submit: name, email, subject, message, category, ts, website (the honeypot)
//	GET  /requests              staff: list (?status=open|closed|all, default open; ?offset, ?limit)
//	GET  /requests/{ref}        staff: read one request and its thread
//	POST /requests/{ref}/reply  staff: text
//	POST /requests/{ref}/close  staff
//	POST /requests/{ref}/reopen staff
//
// A staff form posted as HTML is answered with 303 See Other to the request's page
// (?done=replied, closed or reopened says what was done), or with the page again,
// every fault beside its field, when the reply was refused.
// Staff routes need an actor with privacy.RoleSupport in the request context (the
// host's sign-in middleware puts it there). Every POST is refused when it comes
// from another origin (http.CrossOriginProtection). No response sets a cookie.
type Handler struct {
	svc     *Service
	cfg     HandlerConfig
	base    string // the path links start with, from cfg.BaseURL
	tmpl    *privacy.Templates
	labels  map[string]string // field -> its label, from the "label" template
	handler http.Handler
}

// NewHandler returns the handler for svc. It returns an error when svc is nil, cfg
// has no Signer or the Signer's key is shorter than 32 bytes, cfg.BaseURL is not a
// URL or a path, or cfg.Templates does not parse or defines a template the package
// has not (the error names it).
func NewHandler(svc *Service, cfg HandlerConfig) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("contact: NewHandler needs a Service")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "/contact"
	}
	base, err := web.Prefix(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("contact: HandlerConfig.BaseURL: %w", err)
	}
	if cfg.Signer == nil || len(cfg.Signer.Key) < 32 {
		return nil, errors.New("contact: HandlerConfig.Signer with a key of at least 32 bytes is required")
	}
	if cfg.Limiter == nil {
		cfg.Limiter = web.NewLimiter(5, time.Hour, 5)
	}
	if cfg.Layout == nil {
		cfg.Layout = web.Plain
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tmpl, err := parseTemplates(cfg.Templates)
	if err != nil {
		return nil, fmt.Errorf("contact: HandlerConfig.Templates: %w", err)
	}
	h := &Handler{svc: svc, cfg: cfg, base: base, tmpl: tmpl, labels: map[string]string{}}
	for _, f := range fields {
		if h.labels[f], err = plainText(tmpl, "label", f); err != nil {
			return nil, fmt.Errorf("contact: HandlerConfig.Templates: label of %s: %w", f, err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.showForm)
	mux.HandleFunc("POST /{$}", h.submit)
	mux.HandleFunc("GET /requests", h.list)
	mux.HandleFunc("GET /requests/{ref}", h.read)
	mux.HandleFunc("POST /requests/{ref}/reply", h.reply)
	mux.HandleFunc("POST /requests/{ref}/close", h.setStatus("closed", h.svc.Close))
	mux.HandleFunc("POST /requests/{ref}/reopen", h.setStatus("reopened", h.svc.Reopen))
	h.handler = web.Mount(base, http.NewCrossOriginProtection().Handler(mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every page may hold what someone typed or a request's personal data.
	w.Header().Set("Cache-Control", "no-store")
	web.SecurityHeaders(w)
	h.handler.ServeHTTP(w, r)
}

// fields are the inputs the pages show, each labelled by the "label" template; a
// fault of any other field (the timestamp, the body) is shown in the summary only.
// "text" is the staff reply's one field.
var fields = []string{"name", "email", "category", "subject", "message", "text"}

// faults words err, one error or several joined, for a page: every fault, with
// each field's label before its rule.
func (h *Handler) faults(err error) []web.FieldError {
	return web.FieldErrors(err, func(field string) string { return h.labels[field] })
}

// formPage is what the form template shows.
type formPage struct {
	Base       string // the mount point, see mount
	Stamp      string
	Values     Submission
	Errors     []web.FieldError
	Err        map[string]string // field -> its first fault
	Categories []string
	MaxMessage int
	MaxName    int
	MaxSubject int
	MaxEmail   int

	RetentionDays int
}

func (h *Handler) page(r *http.Request, v Submission, err error) formPage {
	p := formPage{
		Base: h.base, Stamp: h.cfg.Signer.Stamp(), Values: v,
		Categories: h.svc.CategoryChoices(), RetentionDays: int(h.svc.cfg.Retention / (24 * time.Hour)),
		MaxMessage: h.svc.cfg.MaxMessage, MaxName: MaxName, MaxSubject: MaxSubject, MaxEmail: privacy.MaxEmailLen,
	}
	p.Errors = h.faults(err)
	p.Err = web.ByField(p.Errors)
	return p
}

// render writes the page of the templates name and name+"-title" in the Layout.
// A page that fails to render (a host's override that does not execute) is logged
// and replaced by the "failed" page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	title, body, err := h.execute(name, data)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "contact: render", "page", name, "err", err)
		status = http.StatusInternalServerError
		if title, body, err = h.execute("failed", nil); err != nil {
			h.cfg.Log.ErrorContext(r.Context(), "contact: render", "page", "failed", "err", err)
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	h.cfg.Layout(w, r, status, title, body)
}

func (h *Handler) execute(name string, data any) (string, template.HTML, error) {
	title, err := plainText(h.tmpl, name+"-title", data)
	if err != nil {
		return "", "", err
	}
	var b bytes.Buffer
	if err := h.tmpl.HTML.ExecuteTemplate(&b, name, data); err != nil {
		return "", "", err
	}
	return title, template.HTML(b.String()), nil
}

// formDescriptor is the JSON answer to GET / : what a script needs to submit.
type formDescriptor struct {
	Timestamp  string         `json:"ts"`
	Honeypot   string         `json:"honeypot"`
	Categories []string       `json:"categories"`
	Limits     map[string]int `json:"limits"`
}

func (h *Handler) showForm(w http.ResponseWriter, r *http.Request) {
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, formDescriptor{Timestamp: h.cfg.Signer.Stamp(), Honeypot: web.Honeypot,
			Categories: h.svc.CategoryChoices(), Limits: map[string]int{"name": MaxName, "email": privacy.MaxEmailLen,
				"subject": MaxSubject, "message": h.svc.cfg.MaxMessage, "category": MaxCategory}})
		return
	}
	h.render(w, r, http.StatusOK, "form", h.page(r, Submission{}, nil))
}

// submitted is the answer to a successful (or silently dropped) submission.
type submitted struct {
	Ref    string `json:"ref"`
	Status Status `json:"status"`
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	asJSON := web.WantsJSON(r)
	fail := func(v Submission, err error) {
		if web.HTTPStatus(err) == http.StatusInternalServerError {
			h.cfg.Log.ErrorContext(r.Context(), "contact: submit", "err", err)
		}
		if asJSON {
			web.WriteJSONError(w, r, nil, err)
			return
		}
		web.SetRetryAfter(w, err)
		h.render(w, r, web.HTTPStatus(err), "form", h.page(r, v, err))
	}
	vals, err := decode(r, h.svc.maxBody(), "message", h.svc.cfg.MaxMessage)
	if err != nil {
		fail(Submission{}, err)
		return
	}
	in := SubmissionFrom(vals)
	undo, err := h.cfg.Limiter.Reserve(r, h.cfg.TrustedHeader)
	if err != nil {
		fail(in, err)
		return
	}
	// The limit counts requests taken, not forms sent back to be corrected; a
	// stamp refused (a script's speed) still counts.
	defer func() {
		if errors.Is(err, privacy.ErrInvalid) && slices.Contains(fields, privacy.FieldOf(err)) {
			undo()
		}
	}()
	var done submitted
	switch {
	case web.Bot(vals):
		// A bot is told it succeeded, so it learns nothing; nothing is stored or sent.
		ref, err := NewRef(nil)
		if err != nil {
			fail(in, err)
			return
		}
		done = submitted{Ref: ref, Status: StatusOpen}
	default:
		if err = h.cfg.Signer.Check(vals.Get(web.TimestampField)); err != nil {
			fail(in, err)
			return
		}
		var req Request
		req, err = h.svc.Submit(r.Context(), in)
		if err != nil {
			fail(in, err)
			return
		}
		done = submitted{Ref: req.Ref, Status: req.Status}
	}
	if asJSON {
		web.WriteJSON(w, http.StatusCreated, done)
		return
	}
	h.render(w, r, http.StatusOK, "sent", done)
}

// decode reads the body's fields, at most max bytes. A body over the limit is
// blamed on big, the one field that can make it so, limited to bigChars. A JSON
// string holding bytes that are not UTF-8 is refused naming its field, rather than
// having them silently replaced.
func decode(r *http.Request, max int64, big string, bigChars int) (url.Values, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, max))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &privacy.Error{Kind: privacy.ErrInvalid, Field: big, Code: "too-long", Limit: bigChars,
				Message: fmt.Sprintf("is longer than %d characters", bigChars)}
		}
		return nil, privacy.Invalid("body", "the request body could not be read")
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var raw map[string]json.RawMessage
		if json.Unmarshal(b, &raw) == nil {
			for k, v := range raw {
				if !utf8.Valid(v) {
					// Every 400 names something the sender can find; a key "" is not that.
					return nil, privacy.InvalidRule(cmp.Or(k, "body"), "utf8", "is not valid UTF-8 text")
				}
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	v, err := web.Decode(r, max)
	if err != nil && privacy.FieldOf(err) == "" {
		// A JSON key "" is named as such by web.Decode; blame the body instead, so
		// every 400 names something the sender can find.
		return nil, privacy.Invalid("body", "%s", web.Describe(err).Error.Message)
	}
	return v, err
}

// staffError answers a failed staff request in the format asked for.
func (h *Handler) staffError(w http.ResponseWriter, r *http.Request, err error) {
	if web.WantsJSON(r) {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	b := web.Describe(err)
	if b.Error.Status == http.StatusInternalServerError {
		h.cfg.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	web.SetRetryAfter(w, err)
	h.render(w, r, b.Error.Status, "error", errorPage{Status: b.Error.Status, Errors: h.faults(err)})
}

// errorPage is what the error template shows: the status, and every fault.
type errorPage struct {
	Status int
	Errors []web.FieldError
}

type listPage struct {
	Base     string
	Requests []Request
	Status   string
	Next     string // query of the next page, "" on the last
	Prev     string
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Status: StatusOpen}
	switch st := q.Get("status"); st {
	case "", "open":
	case "all":
		f.Status = ""
	case "closed":
		f.Status = StatusClosed
	default:
		h.staffError(w, r, privacy.Invalid("status", "must be open, closed or all"))
		return
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"offset", &f.Offset}, {"limit", &f.Limit}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 1_000_000 {
				h.staffError(w, r, privacy.Invalid(p.name, "must be a whole number"))
				return
			}
			*p.dst = n
		}
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	rs, err := h.svc.List(r.Context(), f)
	if err != nil {
		h.staffError(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, struct {
			Requests []Request `json:"requests"`
			Offset   int       `json:"offset"`
			Limit    int       `json:"limit"`
		}{rs, f.Offset, f.Limit})
		return
	}
	status := string(f.Status)
	if status == "" {
		status = "all"
	}
	p := listPage{Base: h.base, Requests: rs, Status: status}
	page := func(off int) string {
		return url.Values{"status": {status}, "offset": {strconv.Itoa(off)}, "limit": {strconv.Itoa(f.Limit)}}.Encode()
	}
	if len(rs) == min(f.Limit, 200) {
		p.Next = page(f.Offset + len(rs))
	}
	if f.Offset > 0 {
		p.Prev = page(max(f.Offset-f.Limit, 0))
	}
	h.render(w, r, http.StatusOK, "list", p)
}

type requestPage struct {
	Request
	Base   string
	Notice string // what was just done: "replied", "closed", "reopened" or ""
	Text   string // the reply being written, kept after an error
	Errors []web.FieldError
}

// Lines splits the message for display with line breaks and no markup.
func (p requestPage) Lines() []string { return strings.Split(p.Message, "\n") }

func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	notice := r.URL.Query().Get("done")
	switch notice {
	case "", "replied", "closed", "reopened":
	default:
		notice = ""
	}
	h.showRequest(w, r, http.StatusOK, notice, "", nil)
}

// done answers a staff form that did what it asked with the request's page.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, ref, what string) {
	http.Redirect(w, r, h.base+"/requests/"+url.PathEscape(ref)+"?done="+what, http.StatusSeeOther)
}

func (h *Handler) showRequest(w http.ResponseWriter, r *http.Request, status int, notice, text string, replyErr error) {
	req, err := h.svc.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		h.staffError(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, req)
		return
	}
	h.render(w, r, status, "request", requestPage{Request: req, Base: h.base, Notice: notice, Text: text, Errors: h.faults(replyErr)})
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request) {
	vals, err := decode(r, int64(4<<10+MaxReply*utf8.UTFMax*3), "text", MaxReply)
	if err != nil {
		h.staffError(w, r, err)
		return
	}
	text := vals.Get("text")
	rep, err := h.svc.Reply(r.Context(), r.PathValue("ref"), text)
	if err != nil {
		if !web.WantsJSON(r) && errors.Is(err, privacy.ErrInvalid) {
			h.showRequest(w, r, http.StatusBadRequest, "", text, err)
			return
		}
		h.staffError(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusCreated, rep)
		return
	}
	ref, _ := ParseRef(r.PathValue("ref"))
	h.done(w, r, ref, "replied")
}

// setStatus answers the form that closes or reopens a request with change.
func (h *Handler) setStatus(what string, change func(ctx context.Context, ref string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := change(r.Context(), r.PathValue("ref")); err != nil {
			h.staffError(w, r, err)
			return
		}
		ref, _ := ParseRef(r.PathValue("ref"))
		if web.WantsJSON(r) {
			st := StatusOpen
			if what == "closed" {
				st = StatusClosed
			}
			web.WriteJSON(w, http.StatusOK, submitted{Ref: ref, Status: st})
			return
		}
		h.done(w, r, ref, what)
	}
}
