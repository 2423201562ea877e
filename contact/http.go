package contact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
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
//
// Staff routes need an actor with privacy.RoleSupport in the request context (the
// host's sign-in middleware puts it there). Every POST is refused when it comes
// from another origin (http.CrossOriginProtection). No response sets a cookie.
type Handler struct {
	svc     *Service
	cfg     HandlerConfig
	base    string // the path links start with, from cfg.BaseURL
	handler http.Handler
}

// NewHandler returns the handler for svc. It returns an error when svc is nil, cfg
// has no Signer or the Signer's key is shorter than 32 bytes, or cfg.BaseURL is not
// a URL or a path.
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
	h := &Handler{svc: svc, cfg: cfg, base: base}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.showForm)
	mux.HandleFunc("POST /{$}", h.submit)
	mux.HandleFunc("GET /requests", h.list)
	mux.HandleFunc("GET /requests/{ref}", h.read)
	mux.HandleFunc("POST /requests/{ref}/reply", h.reply)
	mux.HandleFunc("POST /requests/{ref}/close", h.close)
	h.handler = web.Mount(base, http.NewCrossOriginProtection().Handler(mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every page may hold what someone typed or a request's personal data.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.handler.ServeHTTP(w, r)
}

// fields names the form's fields in the order they are shown; "text" is the staff
// reply's one field.
var fields = []struct{ name, label string }{
	{"name", "Your name"},
	{"email", "Your email address"},
	{"category", "Category"},
	{"subject", "Subject"},
	{"message", "Message"},
	{"text", "Reply"},
}

// labelOf returns the label of a field shown on a page, or "" for any other field
// (the timestamp, the body).
func labelOf(field string) string {
	for _, f := range fields {
		if f.name == field {
			return f.label
		}
	}
	return ""
}

// fieldError is one fault, shown beside its field (ID) and in the summary.
type fieldError struct {
	Field, ID, Text string
}

// describe turns err, one error or several joined, into sentences a person can act
// on. Faults of no field shown on the page have Field "" and are shown only in the
// summary.
func describe(err error) []fieldError {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		if _, single := err.(*privacy.Error); !single {
			var out []fieldError
			for _, e := range joined.Unwrap() {
				out = append(out, describe(e)...)
			}
			return out
		}
	}
	b := web.Describe(err)
	field, msg := b.Error.Field, b.Error.Message
	label := labelOf(field)
	if label == "" {
		return []fieldError{{Text: upperFirst(msg)}}
	}
	// The kernel's messages either complete the field's name ("is required") or
	// stand alone ("this is not an email address").
	for _, verb := range []string{"is ", "must ", "contains ", "was "} {
		if strings.HasPrefix(msg, verb) {
			return []fieldError{{Field: field, ID: "contact-" + field, Text: label + " " + msg}}
		}
	}
	return []fieldError{{Field: field, ID: "contact-" + field, Text: upperFirst(msg)}}
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// formPage is what the form template shows.
type formPage struct {
	Base       string // the mount point, see mount
	Stamp      string
	Values     Submission
	Errors     []fieldError
	Err        map[string]string // field -> sentence
	Categories []string
	MaxMessage int
	MaxName    int
	MaxSubject int
	MaxEmail   int

	RetentionDays int
}

func (h *Handler) page(r *http.Request, v Submission, err error) formPage {
	p := formPage{
		Base: h.base, Stamp: h.cfg.Signer.Stamp(), Values: v, Err: map[string]string{},
		Categories: h.svc.CategoryChoices(), RetentionDays: int(h.svc.cfg.Retention / (24 * time.Hour)),
		MaxMessage: h.svc.cfg.MaxMessage, MaxName: MaxName, MaxSubject: MaxSubject, MaxEmail: privacy.MaxEmailLen,
	}
	if err != nil {
		p.Errors = describe(err)
		for _, e := range p.Errors {
			if e.Field != "" && p.Err[e.Field] == "" {
				p.Err[e.Field] = e.Text
			}
		}
	}
	return p
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "contact: render", "page", name, "err", err)
		status, title = http.StatusInternalServerError, "Something went wrong"
		b.Reset()
		b.WriteString("<p>Something went wrong on our side. Please try again later.</p>")
	}
	h.cfg.Layout(w, r, status, title, template.HTML(b.String()))
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
	h.render(w, r, http.StatusOK, "Contact us", "form", h.page(r, Submission{}, nil))
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
		h.render(w, r, web.HTTPStatus(err), "Contact us", "form", h.page(r, v, err))
	}
	vals, err := decode(r, h.svc.maxBody(), "message", h.svc.cfg.MaxMessage)
	if err != nil {
		fail(Submission{}, err)
		return
	}
	in := SubmissionFrom(vals)
	if err := h.cfg.Limiter.Check(r, h.cfg.TrustedHeader); err != nil {
		fail(in, err)
		return
	}
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
		if err := h.cfg.Signer.Check(vals.Get(web.TimestampField)); err != nil {
			fail(in, err)
			return
		}
		req, err := h.svc.Submit(r.Context(), in)
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
	h.render(w, r, http.StatusOK, "Message sent", "sent", done)
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
			return nil, privacy.Invalid(big, "is longer than %d characters", bigChars)
		}
		return nil, privacy.Invalid("body", "the request body could not be read")
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var raw map[string]json.RawMessage
		if json.Unmarshal(b, &raw) == nil {
			for k, v := range raw {
				if !utf8.Valid(v) {
					return nil, privacy.Invalid(k, "is not valid UTF-8 text")
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
	var lines []string
	for _, d := range describe(err) {
		lines = append(lines, d.Text)
	}
	h.render(w, r, b.Error.Status, http.StatusText(b.Error.Status), "error", strings.Join(lines, " "))
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
	h.render(w, r, http.StatusOK, "Contact requests", "list", p)
}

type requestPage struct {
	Request
	Base   string
	Notice string
	Text   string // the reply being written, kept after an error
	Errors []fieldError
}

// Lines splits the message for display with line breaks and no markup.
func (p requestPage) Lines() []string { return strings.Split(p.Message, "\n") }

func (h *Handler) read(w http.ResponseWriter, r *http.Request) {
	h.showRequest(w, r, http.StatusOK, "", "", nil)
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
	p := requestPage{Request: req, Base: h.base, Notice: notice, Text: text}
	if replyErr != nil {
		p.Errors = describe(replyErr)
	}
	h.render(w, r, status, "Contact request "+req.Ref, "request", p)
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
	h.showRequest(w, r, http.StatusOK, "Your reply was sent.", "", nil)
}

func (h *Handler) close(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Close(r.Context(), r.PathValue("ref")); err != nil {
		h.staffError(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		ref, _ := ParseRef(r.PathValue("ref"))
		web.WriteJSON(w, http.StatusOK, submitted{Ref: ref, Status: StatusClosed})
		return
	}
	h.showRequest(w, r, http.StatusOK, "The request is closed.", "", nil)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// The pages hold no script and no style attribute, so a host's strict
// Content-Security-Policy needs no exception for them.
var pages = template.Must(template.New("contact").Funcs(template.FuncMap{"time": fmtTime, "split": func(s string) []string { return strings.Split(s, "\n") }}).Parse(`
{{define "errors"}}{{if .}}<div role="alert" id="contact-errors">
<p>Please correct the following:</p>
<ul>{{range .}}<li>{{if .ID}}<a href="#{{.ID}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</li>{{end}}</ul>
</div>{{end}}{{end}}

{{define "form"}}{{template "errors" .Errors}}
<form method="post" action="{{.Base}}/" accept-charset="utf-8">
<input type="hidden" name="ts" value="{{.Stamp}}">
<p><label for="contact-name">Your name (optional)</label><br>
<input id="contact-name" name="name" type="text" maxlength="{{.MaxName}}" autocomplete="name" value="{{.Values.Name}}"{{if .Err.name}} aria-invalid="true" aria-describedby="contact-name-error"{{end}}>
{{with .Err.name}}<br><strong id="contact-name-error">{{.}}</strong>{{end}}</p>
<p><label for="contact-email">Your email address</label><br>
<input id="contact-email" name="email" type="email" maxlength="{{.MaxEmail}}" autocomplete="email" required value="{{.Values.Email}}" aria-describedby="contact-email-use{{if .Err.email}} contact-email-error{{end}}"{{if .Err.email}} aria-invalid="true"{{end}}>
<br><small id="contact-email-use">We use it only to answer you.</small>
{{with .Err.email}}<br><strong id="contact-email-error">{{.}}</strong>{{end}}</p>
{{if .Categories}}<p><label for="contact-category">Category (optional)</label><br>
<select id="contact-category" name="category"{{if .Err.category}} aria-invalid="true" aria-describedby="contact-category-error"{{end}}>
<option value="">Choose…</option>
{{$sel := .Values.Category}}{{range .Categories}}<option{{if eq . $sel}} selected{{end}}>{{.}}</option>
{{end}}</select>
{{with .Err.category}}<br><strong id="contact-category-error">{{.}}</strong>{{end}}</p>{{end}}
<p><label for="contact-subject">Subject</label><br>
<input id="contact-subject" name="subject" type="text" maxlength="{{.MaxSubject}}" required value="{{.Values.Subject}}"{{if .Err.subject}} aria-invalid="true" aria-describedby="contact-subject-error"{{end}}>
{{with .Err.subject}}<br><strong id="contact-subject-error">{{.}}</strong>{{end}}</p>
<p><label for="contact-message">Message</label><br>
<textarea id="contact-message" name="message" rows="10" cols="60" maxlength="{{.MaxMessage}}" required{{if .Err.message}} aria-invalid="true" aria-describedby="contact-message-error"{{end}}>{{.Values.Message}}</textarea>
{{with .Err.message}}<br><strong id="contact-message-error">{{.}}</strong>{{end}}</p>
<div hidden><label for="contact-website">Leave this field empty</label>
<input id="contact-website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<p><button type="submit">Send</button></p>
</form>
<p>Plain text only. We delete your message {{.RetentionDays}} days after we close your request.</p>
{{end}}

{{define "sent"}}<p role="status">Thank you. We received your message and will answer it by email.</p>
<p>Your reference is <strong>{{.Ref}}</strong>. Please quote it if you write to us about this message.</p>{{end}}

{{define "error"}}<p role="alert">{{.}}</p>{{end}}

{{define "list"}}<nav><p>Show:
<a href="{{.Base}}/requests?status=open"{{if eq .Status "open"}} aria-current="page"{{end}}>open</a> ·
<a href="{{.Base}}/requests?status=closed"{{if eq .Status "closed"}} aria-current="page"{{end}}>closed</a> ·
<a href="{{.Base}}/requests?status=all"{{if eq .Status "all"}} aria-current="page"{{end}}>all</a></p></nav>
{{if .Requests}}<table>
<thead><tr><th scope="col">Reference</th><th scope="col">Received</th><th scope="col">Status</th><th scope="col">From</th><th scope="col">Category</th><th scope="col">Subject</th><th scope="col">Replies</th></tr></thead>
<tbody>{{range .Requests}}<tr><td><a href="{{$.Base}}/requests/{{.Ref}}">{{.Ref}}</a></td><td>{{time .Created}}</td><td>{{.Status}}</td><td>{{if .Name}}{{.Name}} &lt;{{.Email}}&gt;{{else}}{{.Email}}{{end}}</td><td>{{.Category}}</td><td>{{.Subject}}</td><td>{{.Replies}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No requests.</p>{{end}}
{{if or .Prev .Next}}<nav><p>{{with .Prev}}<a href="{{$.Base}}/requests?{{.}}">Newer</a>{{end}} {{with .Next}}<a href="{{$.Base}}/requests?{{.}}">Older</a>{{end}}</p></nav>{{end}}
{{end}}

{{define "request"}}{{with .Notice}}<p role="status">{{.}}</p>{{end}}
<p><a href="{{.Base}}/requests">All requests</a></p>
<dl>
<dt>Reference</dt><dd>{{.Ref}}</dd>
<dt>From</dt><dd>{{if .Name}}{{.Name}} &lt;{{.Email}}&gt;{{else}}{{.Email}}{{end}}</dd>
{{with .Category}}<dt>Category</dt><dd>{{.}}</dd>{{end}}
<dt>Subject</dt><dd>{{.Subject}}</dd>
<dt>Received</dt><dd>{{time .Created}}</dd>
<dt>Status</dt><dd>{{.Status}}{{with .Closed}}{{if not .IsZero}} ({{time .}}){{end}}{{end}}</dd>
</dl>
<h2>Message</h2>
<p>{{range $i, $l := .Lines}}{{if $i}}<br>
{{end}}{{$l}}{{end}}</p>
<h2>Replies</h2>
{{range .Thread}}<article><h3>{{time .At}}{{with .Staff}} by {{.}}{{end}}</h3><p>{{range $i, $l := split .Text}}{{if $i}}<br>
{{end}}{{$l}}{{end}}</p></article>
{{else}}<p>None yet.</p>{{end}}
{{if eq .Status "open"}}{{template "errors" .Errors}}
<form method="post" action="{{.Base}}/requests/{{.Ref}}/reply" accept-charset="utf-8">
<p><label for="contact-text">Reply to the requester (sent by email, kept in this thread)</label><br>
<textarea id="contact-text" name="text" rows="10" cols="60" required>{{.Text}}</textarea></p>
<p><button type="submit">Send reply</button></p>
</form>
<form method="post" action="{{.Base}}/requests/{{.Ref}}/close"><p><button type="submit">Close the request</button></p></form>
{{end}}{{end}}
`))
