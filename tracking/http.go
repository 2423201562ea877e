package tracking

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// HandlerConfig configures the report Handler.
type HandlerConfig struct {
	// Layout wraps the report pages. Default: web.Plain.
	Layout web.Layout
	// Logger receives internal errors. Default: discard.
	Logger *slog.Logger
	// Role, when set, is required of the actor in the request context
	// (privacy.Require). Default: none; the reports hold no personal data, so whether
	// only staff see them is the host's choice, made here or by what it mounts.
	Role privacy.Role
	// BaseURL is the URL, or only the path, at which the host mounts the Handler,
	// e.g. "/stats": the Handler routes on the path after it, and the links on its
	// pages start with it. Default: "/stats".
	BaseURL string
}

// Handler serves the reports, read-only (GET and HEAD). Mount it at
// HandlerConfig.BaseURL, with any router:
//
//	mux.Handle("/stats/", h)                         // net/http
//	mux.Handle("/stats/", http.StripPrefix("/stats", h))
//	r.Mount("/stats", h)                             // chi
//	r.PathPrefix("/stats").Handler(h)                // gorilla/mux
//
// It routes on the path after the BaseURL's (web.Mount). Routes, relative to it:
//
//	GET /                 the report page: totals, SVG charts and tables
//	GET /page?path=P      one path's views over time
//	GET /api/report       the report as JSON
//	GET /api/page?path=P  one path's series as JSON
//
// Each takes from and to (dates, YYYY-MM-DD, UTC, both included; default: the last 30
// days) and the report routes take top (1–100). Bad parameters answer 400 naming the
// parameter. The Handler is separate from the counting middleware: mount it where the
// host's staff pages are. It sets no cookie and has no form that changes anything.
type Handler struct {
	svc     *Service
	layout  web.Layout
	log     *slog.Logger
	role    privacy.Role
	pages   *template.Template // pages, their links under the mount
	handler http.Handler
}

// NewHandler returns the report handler for s. It returns an error when s is nil
// or cfg.BaseURL is not a URL or a path.
func NewHandler(s *Service, cfg HandlerConfig) (*Handler, error) {
	if s == nil {
		return nil, errors.New("tracking: NewHandler needs a Service")
	}
	base, err := web.Prefix(cmp.Or(cfg.BaseURL, "/stats"))
	if err != nil {
		return nil, fmt.Errorf("tracking: HandlerConfig.BaseURL: %w", err)
	}
	h := &Handler{svc: s, layout: cfg.Layout, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), role: cfg.Role,
		pages: template.Must(pages.Clone()).Funcs(template.FuncMap{"base": func() string { return base }})}
	if h.layout == nil {
		h.layout = web.Plain
	}
	h.handler = web.Mount(base, http.HandlerFunc(h.serve))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// serve answers r, whose path is relative to the mount.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	var api bool
	switch r.URL.Path {
	case "/api/report", "/api/page":
		api = true
	case "/", "", "/page":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, api)
		return
	}
	if h.role != "" {
		if err := privacy.Require(r.Context(), h.role); err != nil {
			h.fail(w, r, api, err, nil)
			return
		}
	}
	w.Header().Set("Cache-Control", "private, no-store")
	in := readParams(r.URL.Query())
	q, path, err := in.query(r.URL.Path == "/api/page" || r.URL.Path == "/page", h.svc.now())
	if err != nil {
		h.fail(w, r, api, err, &in)
		return
	}
	switch r.URL.Path {
	case "/api/report":
		rep, err := h.svc.Report(r.Context(), q)
		if err != nil {
			h.fail(w, r, true, err, &in)
			return
		}
		web.WriteJSON(w, http.StatusOK, rep)
	case "/api/page":
		rep, err := h.svc.PathSeries(r.Context(), path, q)
		if err != nil {
			h.fail(w, r, true, err, &in)
			return
		}
		web.WriteJSON(w, http.StatusOK, rep)
	case "/page":
		rep, err := h.svc.PathSeries(r.Context(), path, q)
		if err != nil {
			h.fail(w, r, false, err, &in)
			return
		}
		h.render(w, r, http.StatusOK, "Views of "+path, "path", pathPage(rep, in))
	default:
		rep, err := h.svc.Report(r.Context(), q)
		if err != nil {
			h.fail(w, r, false, err, &in)
			return
		}
		h.render(w, r, http.StatusOK, "Page views", "report", reportPage(rep, in))
	}
}

// fail answers err as JSON or as the page's form with the message beside the field.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, err error, in *params) {
	if api {
		web.WriteJSONError(w, r, h.log, err)
		return
	}
	b := web.Describe(err)
	status := b.Error.Status
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "tracking: report failed", "path", r.URL.Path, "err", err)
	}
	if in == nil {
		in = &params{}
	}
	in.errors = map[string]string{}
	if b.Error.Field != "" {
		in.errors[b.Error.Field] = b.Error.Message
	}
	h.render(w, r, status, "Page views", "failed", struct {
		Form    params
		Message string
	}{*in, b.Error.Message})
}

// methodNotAllowed answers 405: the reports change nothing, so they take no POST.
func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, api bool) {
	const msg = "only GET and HEAD are allowed"
	w.Header().Set("Allow", "GET, HEAD")
	if !api {
		h.render(w, r, http.StatusMethodNotAllowed, "Page views", "failed", struct {
			Form    params
			Message string
		}{params{}, msg})
		return
	}
	var b web.ErrorBody
	b.Error.Status, b.Error.Message = http.StatusMethodNotAllowed, msg
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_ = json.NewEncoder(w).Encode(b)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.ErrorContext(r.Context(), "tracking: render report page", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<p>The report could not be shown.</p>")
	}
	h.layout(w, r, status, title, template.HTML(buf.String()))
}

// params is the report form as typed, kept to show it again beside its errors.
type params struct {
	From, To, Top, Path string
	errors              map[string]string
}

// Error returns the message for field, for the template.
func (p params) Error(field string) string { return p.errors[field] }

func readParams(v url.Values) params {
	return params{From: v.Get("from"), To: v.Get("to"), Top: v.Get("top"), Path: v.Get("path"), errors: dupes(v)}
}

func dupes(v url.Values) map[string]string {
	m := map[string]string{}
	for _, k := range []string{"from", "to", "top", "path"} {
		if len(v[k]) > 1 {
			m[k] = "was given more than once"
		}
	}
	return m
}

const dateLayout = "2006-01-02"

// query turns the parameters into a Query; errors are ErrInvalid naming the parameter.
func (p *params) query(needPath bool, now time.Time) (Query, string, error) {
	for _, k := range []string{"from", "to", "top", "path"} {
		if msg := p.errors[k]; msg != "" {
			return Query{}, "", privacy.Invalid(k, "%s", msg)
		}
	}
	today := Day.Truncate(now)
	to := today
	if p.To != "" {
		t, err := time.Parse(dateLayout, p.To)
		if err != nil {
			return Query{}, "", privacy.Invalid("to", "use a date like %s", today.Format(dateLayout))
		}
		to = t
	}
	from := to.AddDate(0, 0, -29)
	if p.From != "" {
		t, err := time.Parse(dateLayout, p.From)
		if err != nil {
			return Query{}, "", privacy.Invalid("from", "use a date like %s", today.Format(dateLayout))
		}
		from = t
	}
	if to.Before(from) {
		return Query{}, "", privacy.Invalid("to", "must not be before from")
	}
	q := Query{From: from, To: to.AddDate(0, 0, 1)}
	if p.Top != "" {
		n, err := strconv.Atoi(p.Top)
		if err != nil || n < 1 || n > MaxTop {
			return Query{}, "", privacy.Invalid("top", "must be a number from 1 to %d", MaxTop)
		}
		q.Top = n
	}
	if needPath && p.Path == "" {
		return Query{}, "", privacy.Invalid("path", "is required")
	}
	// Show the range as it was understood.
	p.From, p.To = from.Format(dateLayout), to.Format(dateLayout)
	return q, p.Path, nil
}
