package tracking

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
	// Title, when set, gives the title of the page at a path the report shows
	// ("/blog/hello-world"), shown beside the path and in the CSV; "" for none.
	// Default: none.
	Title func(path string) string
	// Templates is the host's overrides of DefaultTemplates; nil for the defaults.
	// A file named as a default file replaces it, and any file may redefine single
	// templates ({{define "report"}}).
	Templates fs.FS
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
//	GET /                 the report page: totals, SVG charts and tables, each figure
//	                      beside the previous period's (Service.Compare)
//	GET /export.csv       the figures of the report page as CSV
//	GET /page?path=P      one path's views over time
//	GET /api/report       the report as JSON
//	GET /api/compare      the report and the previous period as JSON
//	GET /api/page?path=P  one path's series as JSON
//
// Each takes a range: range, a Preset ("today", "7d", "30d", "12m"), or from and to
// (dates, YYYY-MM-DD, UTC, both included), not both; default: the last 30 days. The
// report routes take top (1–100). Bad parameters answer 400 naming the parameter. The Handler is separate from the counting middleware: mount it where the
// host's staff pages are. It sets no cookie and has no form that changes anything.
type Handler struct {
	svc     *Service
	layout  web.Layout
	log     *slog.Logger
	role    privacy.Role
	title   func(string) string
	pages   *template.Template // their links under the mount
	labels  map[string]string  // parameter -> its label, from the "field-label" template
	handler http.Handler
}

// parameters are the report form's, in the order it shows them.
var parameters = []string{"range", "from", "to", "top", "path"}

// NewHandler returns the report handler for s. It returns an error when s is nil,
// cfg.BaseURL is not a URL or a path, or cfg.Templates does not parse or defines a
// template the package has not (the error names it).
func NewHandler(s *Service, cfg HandlerConfig) (*Handler, error) {
	if s == nil {
		return nil, errors.New("tracking: NewHandler needs a Service")
	}
	base, err := web.Prefix(cmp.Or(cfg.BaseURL, "/stats"))
	if err != nil {
		return nil, fmt.Errorf("tracking: HandlerConfig.BaseURL: %w", err)
	}
	tmpl, err := privacy.ParseTemplates(DefaultTemplates, cfg.Templates, map[string]any{
		"base":  func() string { return base },
		"k":     s.K,
		"date":  func(t time.Time) string { return t.Format(dateLayout) },
		"label": stepLabel,
		"last":  func(t time.Time) string { return t.AddDate(0, 0, -1).Format(dateLayout) },
	})
	if err != nil {
		return nil, fmt.Errorf("tracking: HandlerConfig.Templates: %w", err)
	}
	h := &Handler{svc: s, layout: cfg.Layout, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), role: cfg.Role,
		title: cfg.Title, pages: tmpl.HTML, labels: map[string]string{}}
	if h.title == nil {
		h.title = func(string) string { return "" }
	}
	for _, p := range parameters {
		if h.labels[p], err = h.text("field-label", p); err != nil {
			return nil, fmt.Errorf("tracking: HandlerConfig.Templates: label of %s: %w", p, err)
		}
	}
	if h.layout == nil {
		h.layout = web.Plain
	}
	h.handler = web.Mount(base, http.HandlerFunc(h.serve))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	web.SecurityHeaders(w)
	h.handler.ServeHTTP(w, r)
}

// serve answers r, whose path is relative to the mount.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	var api bool
	switch r.URL.Path {
	case "/api/report", "/api/compare", "/api/page":
		api = true
	case "/", "", "/page", "/export.csv":
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
	case "/api/compare":
		c, err := h.svc.Compare(r.Context(), q)
		if err != nil {
			h.fail(w, r, true, err, &in)
			return
		}
		web.WriteJSON(w, http.StatusOK, c)
	case "/export.csv":
		c, err := h.svc.Compare(r.Context(), q)
		if err != nil {
			h.fail(w, r, false, err, &in)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+csvName(c.Report)+`"`)
		_, _ = w.Write(h.csv(c))
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
		h.render(w, r, http.StatusOK, "path", pathPage(rep, in))
	default:
		c, err := h.svc.Compare(r.Context(), q)
		if err != nil {
			h.fail(w, r, false, err, &in)
			return
		}
		h.render(w, r, http.StatusOK, "report", h.reportPage(c, in))
	}
}

// failedPage is what the failed template shows: the status, every fault, and
// the form with each field's fault beside it.
type failedPage struct {
	Status int
	Errors []web.FieldError
	Form   params
}

// fail answers err as JSON or as the page's form with every fault beside its field.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, err error, in *params) {
	if api {
		web.WriteJSONError(w, r, h.log, err)
		return
	}
	status := web.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "tracking: report failed", "path", r.URL.Path, "err", err)
	}
	if in == nil {
		in = &params{}
	}
	p := failedPage{Status: status, Errors: web.FieldErrors(err, func(field string) string { return h.labels[field] }), Form: *in}
	p.Form.errors = web.ByField(p.Errors)
	h.render(w, r, status, "failed", p)
}

// methodNotAllowed answers 405: the reports change nothing, so they take no POST.
func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, api bool) {
	const msg = "only GET and HEAD are allowed"
	w.Header().Set("Allow", "GET, HEAD")
	if !api {
		h.render(w, r, http.StatusMethodNotAllowed, "failed", failedPage{Status: http.StatusMethodNotAllowed})
		return
	}
	var b web.ErrorBody
	b.Error.Status, b.Error.Message = http.StatusMethodNotAllowed, msg
	web.WriteJSON(w, http.StatusMethodNotAllowed, b)
}

// render writes the page of the templates name and name+"-title" in the Layout.
// A page that fails to render (a host's override that does not execute) is logged
// and replaced by the "broken" page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	title, body, err := h.execute(name, data)
	if err != nil {
		h.log.ErrorContext(r.Context(), "tracking: render report page", "page", name, "err", err)
		status = http.StatusInternalServerError
		if title, body, err = h.execute("broken", nil); err != nil {
			h.log.ErrorContext(r.Context(), "tracking: render report page", "page", "broken", "err", err)
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	h.layout(w, r, status, title, body)
}

func (h *Handler) execute(name string, data any) (string, template.HTML, error) {
	title, err := h.text(name+"-title", data)
	if err != nil {
		return "", "", err
	}
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, name, data); err != nil {
		return "", "", err
	}
	return title, template.HTML(b.String()), nil
}

// text executes the template name and returns its output as text: for a page's
// title, which the Layout escapes itself, and a field's label, which ends up
// inside a sentence that the page escapes.
func (h *Handler) text(name string, data any) (string, error) {
	var b strings.Builder
	if err := h.pages.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return html.UnescapeString(b.String()), nil
}

// params is the report form as typed, kept to show it again beside its errors.
type params struct {
	Range, From, To, Top, Path string
	twice                      []string          // the parameters given more than once
	errors                     map[string]string // parameter -> its first fault, as a sentence
}

// Error returns the fault of field, for the template.
func (p params) Error(field string) string { return p.errors[field] }

func readParams(v url.Values) params {
	p := params{Range: v.Get("range"), From: v.Get("from"), To: v.Get("to"), Top: v.Get("top"), Path: v.Get("path")}
	for _, k := range parameters {
		if len(v[k]) > 1 {
			p.twice = append(p.twice, k)
		}
	}
	return p
}

const dateLayout = "2006-01-02"

// query turns the parameters into a Query. It returns every fault at once,
// joined, each ErrInvalid naming its parameter.
func (p *params) query(needPath bool, now time.Time) (Query, string, error) {
	var errs []error
	bad := map[string]bool{}
	fault := func(err error) {
		bad[privacy.FieldOf(err)] = true
		errs = append(errs, err)
	}
	for _, k := range p.twice {
		fault(privacy.InvalidRule(k, "twice", "was given more than once"))
	}
	today := Day.Truncate(now)
	date := func(name, v string, def time.Time) time.Time {
		if v == "" || bad[name] {
			return def
		}
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			fault(privacy.InvalidRule(name, "date", "must be a date like %s", today.Format(dateLayout)))
			return def
		}
		return t
	}
	if p.Range == "" && p.From == "" && p.To == "" {
		p.Range = string(Preset30Days)
	}
	var q Query
	if p.Range != "" && !bad["range"] {
		var ok bool
		q.From, q.To, ok = Preset(p.Range).Range(now)
		switch {
		case !ok:
			fault(privacy.InvalidRule("range", "preset", "must be one of %s, %s, %s or %s", PresetToday, Preset7Days, Preset30Days, Preset12Months))
		case p.From != "" || p.To != "":
			fault(privacy.InvalidRule("range", "with-dates", "must not be given with from or to"))
		}
	} else if p.Range == "" {
		to := date("to", p.To, today)
		from := date("from", p.From, to.AddDate(0, 0, -29))
		if !bad["from"] && !bad["to"] && to.Before(from) {
			fault(privacy.InvalidRule("to", "before-from", "must not be before from"))
		}
		q = Query{From: from, To: to.AddDate(0, 0, 1)}
	}
	if p.Top != "" && !bad["top"] {
		n, err := strconv.Atoi(p.Top)
		if err != nil || n < 1 || n > MaxTop {
			fault(&privacy.Error{Kind: privacy.ErrInvalid, Field: "top", Code: "range", Limit: MaxTop,
				Message: fmt.Sprintf("must be a number from 1 to %d", MaxTop)})
		}
		q.Top = n
	}
	if needPath && p.Path == "" {
		fault(privacy.InvalidRule("path", "required", "is required"))
	}
	if len(errs) > 0 {
		// In the form's order: "to" is read first, as from's default depends on it.
		slices.SortStableFunc(errs, func(a, b error) int {
			return slices.Index(parameters, privacy.FieldOf(a)) - slices.Index(parameters, privacy.FieldOf(b))
		})
		return Query{}, "", errors.Join(errs...)
	}
	// Show the range as it was understood.
	p.From, p.To = q.From.Format(dateLayout), q.To.AddDate(0, 0, -1).Format(dateLayout)
	return q, p.Path, nil
}
