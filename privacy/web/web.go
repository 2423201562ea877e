package web

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Config configures the handler. Policy, Rights, Disclosures (with its Auditor),
// Store and Auditor are required.
type Config struct {
	Policy *privacy.Policy
	// Registry holds the holders the policy page describes (Rights.Registry when
	// nil).
	Registry    *privacy.Registry
	Rights      *privacy.Rights
	Disclosures *privacy.Disclosures
	Store       privacy.Store // the access log and consent records
	// Auditor records every staff read the handler answers (P11): the access log
	// and the consent histories it shows. Usually an Auditor over Store.
	Auditor *privacy.Auditor
	// Limiter bounds data requests per client address, in memory only (default 5
	// an hour after a burst of 5).
	Limiter       *Limiter
	TrustedHeader string
	Layout        Layout // Plain when nil
	Log           *slog.Logger
	// Templates overrides DefaultTemplates, the pages' markup and words
	// (pages.html) and the policy page's Markdown (policy.md); nil for the
	// defaults. See privacy.ParseTemplates.
	Templates fs.FS
	// BaseURL is the URL, or only the path, at which the host mounts the handler,
	// e.g. "/privacy": the handler routes on the path after it, and the links and
	// forms on its pages start with it. Default: "/privacy".
	BaseURL string
}

// Handler serves, relative to Config.BaseURL, however the host mounts it there
// (Mount): mux.Handle("/privacy/", h), with http.StripPrefix("/privacy", h),
// chi's r.Mount("/privacy", h) or gorilla/mux's r.PathPrefix("/privacy").Handler(h):
//
//	GET  /                  the policy page (HTML)
//	GET  /policy.md         the policy page (Markdown)
//	GET  /request           the data request form
//	POST /request           email, kind (export|erase): mails a confirmation link
//	GET  /confirm?t=        says what the request will do, with a button; changes nothing
//	POST /confirm           t: carries the request out (an export gives a download link)
//	GET  /download?t=       the export, as a JSON attachment; the link works once
//	GET  /staff/access      admin: the access log (?subject, ?actor, ?since, ?until, ?limit, ?format=csv)
//	GET  /staff/disclosures admin: the disclosure register (?subject, ?limit) and the form to record one
//	POST /staff/disclosures admin: subject, basis, reference, requester, note; answers the export
//	GET  /staff/consents    admin: ?subject's consent history, and the form to look one up
//	GET  /staff/requests    admin or support: completed data requests (no addresses; ?limit)
//
// The staff routes answer JSON, or a page through the Layout when the client
// accepts text/html (a browser): readable columns, times in <time datetime>, an
// empty state, "show more" by ?limit, and forms whose faults are shown beside
// their fields, all at once.
//
// Every staff answer that names people is recorded in the access log first: the
// consent history once, the access log and the disclosure register once for every
// address they show, a disclosure once. The completed requests name no one and are
// not recorded.
type Handler struct {
	cfg  Config
	base string // the path links start with, from cfg.BaseURL
	tpl  *privacy.Templates
	h    http.Handler
}

// New returns the handler, or an error naming a missing part of cfg or a BaseURL
// that is not a URL or a path: the staff pages read personal data, so a Config
// without an Auditor, or whose Disclosures has none, is refused.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Policy == nil, cfg.Rights == nil, cfg.Disclosures == nil, cfg.Store == nil:
		return nil, errors.New("web: Config needs Policy, Rights, Disclosures and Store")
	case cfg.Auditor == nil || cfg.Auditor.Log == nil:
		return nil, errors.New("web: Config.Auditor with a Log is required: the staff pages read personal data")
	}
	if err := cfg.Disclosures.Check(); err != nil {
		return nil, fmt.Errorf("web: Config.Disclosures: %w", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "/privacy"
	}
	base, err := Prefix(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("web: Config.BaseURL: %w", err)
	}
	if cfg.Registry == nil {
		cfg.Registry = cfg.Rights.Registry
	}
	if cfg.Registry == nil {
		return nil, errors.New("web: Config needs a Registry, or Rights with one")
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(5, time.Hour, 5)
	}
	if cfg.Layout == nil {
		cfg.Layout = Plain
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Rights.Check(); err != nil {
		return nil, fmt.Errorf("web: Config.Rights: %w", err)
	}
	tpl, err := privacy.ParseTemplates(DefaultTemplates, cfg.Templates, funcs)
	if err != nil {
		return nil, fmt.Errorf("web: Config.Templates: %w", err)
	}
	h := &Handler{cfg: cfg, base: base, tpl: tpl}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.policy)
	mux.HandleFunc("GET /policy.md", h.policyMarkdown)
	mux.HandleFunc("GET /request", h.requestForm)
	mux.HandleFunc("POST /request", h.request)
	mux.HandleFunc("GET /confirm", h.confirmPage)
	mux.HandleFunc("POST /confirm", h.confirm)
	mux.HandleFunc("GET /download", h.download)
	mux.HandleFunc("GET /staff/access", h.access)
	mux.HandleFunc("GET /staff/disclosures", h.disclosures)
	mux.HandleFunc("POST /staff/disclosures", h.disclose)
	mux.HandleFunc("GET /staff/consents", h.consents)
	mux.HandleFunc("GET /staff/requests", h.requests)
	h.h = Mount(base, http.NewCrossOriginProtection().Handler(mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var b strings.Builder
	if err := h.tpl.HTML.ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w)
	h.cfg.Layout(w, r, status, title, template.HTML(b.String()))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if WantsJSON(r) || strings.Contains(r.URL.Path, "/staff/") && !wantsPage(r) {
		WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	d := Describe(err)
	if d.Error.Status >= 500 {
		h.cfg.Log.ErrorContext(r.Context(), "internal error", "path", r.URL.Path, "err", err)
	}
	SetRetryAfter(w, err)
	h.render(w, r, d.Error.Status, "Something went wrong", "error", d.Error.Message)
}

func (h *Handler) policy(w http.ResponseWriter, r *http.Request) {
	page, err := policyHTML(h.tpl, h.cfg.Policy, h.cfg.Registry)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cfg.Layout(w, r, http.StatusOK, "Privacy policy", template.HTML(page))
}

func (h *Handler) policyMarkdown(w http.ResponseWriter, r *http.Request) {
	page, err := policyMarkdown(h.tpl, h.cfg.Policy, h.cfg.Registry)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Write(page)
}

type requestView struct {
	Action, Email, Kind, Field, Message, Error string
}

func (h *Handler) requestForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "Your data", "request", requestView{Action: h.base + "/request"})
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request) {
	v, err := Decode(r, 0)
	undo := func() {}
	if err == nil {
		undo, err = h.cfg.Limiter.Reserve(r, h.cfg.TrustedHeader)
	}
	if err == nil && !Bot(v) {
		err = h.cfg.Rights.Ask(r.Context(), v.Get("email"), privacy.RequestKind(v.Get("kind")))
	}
	if f := privacy.FieldOf(err); errors.Is(err, privacy.ErrInvalid) && (f == "email" || f == "kind") {
		undo() // the limit counts requests, not mistyped addresses
	}
	if err != nil {
		if WantsJSON(r) || privacy.FieldOf(err) == "" {
			h.fail(w, r, err)
			return
		}
		d := Describe(err)
		h.render(w, r, d.Error.Status, "Your data", "request", requestView{Action: h.base + "/request", Email: v.Get("email"), Kind: v.Get("kind"),
			Field: d.Error.Field, Message: d.Error.Message, Error: "Please correct the field marked below."})
		return
	}
	if WantsJSON(r) {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "a confirmation link was sent if the address is valid"})
		return
	}
	h.render(w, r, http.StatusAccepted, "Check your mail", "sent", nil)
}

func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("t")
	req, err := h.cfg.Rights.Pending(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "Confirm your request", "confirm", map[string]any{"Kind": string(req.Kind), "Token": t, "Action": h.base + "/confirm"})
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	v, err := Decode(r, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.cfg.Rights.Confirm(r.Context(), v.Get("t"))
	if err != nil && out.Kind == "" {
		h.fail(w, r, err)
		return
	}
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "erasure incomplete", "err", err)
	}
	link := h.base + "/download?t=" + out.DownloadToken
	if WantsJSON(r) {
		body := map[string]any{"kind": out.Kind, "erasures": out.Erasures, "complete": err == nil}
		if out.Kind == privacy.RequestExport {
			body = map[string]any{"kind": out.Kind, "download": link, "download_by": out.DownloadBy}
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	if out.Kind == privacy.RequestExport {
		h.render(w, r, http.StatusOK, "Your copy", "exported", map[string]any{"Link": link, "By": out.DownloadBy.Format(time.RFC1123)})
		return
	}
	h.render(w, r, http.StatusOK, "Erased", "erased", out.Erasures)
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	data, err := h.cfg.Rights.Download(r.Context(), r.URL.Query().Get("t"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="my-data.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}

// writeJSON answers with data that is someone's own or staff-only: never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, status, v)
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, privacy.Invalid(field, "use a date such as 2026-11-01")
}

func limit(s string) (int, error) {
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, privacy.Invalid("limit", "must be a number from 1 to 10000")
	}
	return n, nil
}

func (h *Handler) access(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleAdmin); err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := privacy.AccessFilter{ActorID: q.Get("actor"), Subject: q.Get("subject")}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err == nil {
		if f.Until, err = parseTime("until", q.Get("until")); err == nil {
			f.Limit, err = limit(q.Get("limit"))
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recs, err := h.cfg.Store.ListAccess(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	subjects := make([]string, len(recs))
	for i, a := range recs {
		subjects[i] = a.Subject
	}
	if err := h.audit(r, subjects, "access log"); err != nil {
		h.fail(w, r, err)
		return
	}
	if q.Get("format") != "csv" && wantsPage(r) {
		h.staffPage(w, r, http.StatusOK, "staff-access", staffView{Base: h.base, Query: q, Rows: accessRows(recs), More: more(h.base+"/staff/access", q, len(recs), f.Limit)})
		return
	}
	if q.Get("format") != "csv" {
		writeJSON(w, http.StatusOK, map[string]any{"access": recs})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-log.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "at", "actor_id", "actor", "role", "subject", "what", "why"})
	for _, a := range recs {
		cw.Write([]string{strconv.FormatInt(a.ID, 10), a.At.Format(time.RFC3339), a.ActorID, csvSafe(a.Actor), string(a.Role), csvSafe(a.Subject), csvSafe(a.What), csvSafe(a.Why)})
	}
	cw.Flush()
}

// audit records, before a staff list is answered, one admin read of what for each
// address the list shows (P11): the list names people, so showing it is a read of
// their data like any other.
func (h *Handler) audit(r *http.Request, subjects []string, what string) error {
	seen := map[string]bool{}
	for _, s := range subjects {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if err := h.cfg.Auditor.Record(r.Context(), privacy.RoleAdmin, s, what, "admin review"); err != nil {
			return err
		}
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (h *Handler) disclosures(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r.URL.Query().Get("limit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.cfg.Disclosures.List(r.Context(), r.URL.Query().Get("subject"), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// List recorded a read for every address in the list.
	if wantsPage(r) {
		h.staffPage(w, r, http.StatusOK, "staff-disclosures", h.disclosuresView(r, list, n, url.Values{}, nil))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"disclosures": list})
}

func (h *Handler) disclosuresView(r *http.Request, list []privacy.Disclosure, n int, form url.Values, err error) staffView {
	q := r.URL.Query()
	v := staffView{Base: h.base, Query: q, Form: form, More: more(h.base+"/staff/disclosures", q, len(list), n), Errors: h.staffFaults(err)}
	v.Err = ByField(v.Errors)
	for _, d := range list {
		v.Rows = append(v.Rows, map[string]any{"At": stamp(d.At), "Subject": d.Subject, "Basis": string(d.Basis), "Reference": d.Reference,
			"Requester": d.Requester, "Note": d.Note, "Actor": d.Actor, "Holders": d.Holders})
	}
	return v
}

func (h *Handler) disclose(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleAdmin); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := Decode(r, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wantsPage(r) {
		// A page shows every missing field at once; Disclose names the first fault.
		var missing []error
		for _, f := range []string{"subject", "basis", "reference", "requester"} {
			if strings.TrimSpace(v.Get(f)) == "" {
				missing = append(missing, privacy.InvalidRule(f, "required", "is required"))
			}
		}
		err = errors.Join(missing...)
	}
	var data []byte
	if err == nil {
		data, err = h.cfg.Disclosures.Disclose(r.Context(), privacy.Disclosure{Subject: v.Get("subject"), Basis: privacy.Basis(v.Get("basis")),
			Reference: v.Get("reference"), Requester: v.Get("requester"), Note: v.Get("note")})
	}
	if err != nil && wantsPage(r) && errors.Is(err, privacy.ErrInvalid) {
		n, _ := limit("")
		list, lerr := h.cfg.Disclosures.List(r.Context(), "", n)
		if lerr != nil {
			h.fail(w, r, lerr)
			return
		}
		h.staffPage(w, r, http.StatusBadRequest, "staff-disclosures", h.disclosuresView(r, list, n, v, err))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wantsPage(r) {
		h.staffPage(w, r, http.StatusCreated, "staff-disclosed", map[string]any{"Base": h.base, "Subject": v.Get("subject"),
			"Basis": v.Get("basis"), "Reference": v.Get("reference"),
			"Export": template.URL("data:application/json;base64," + base64.StdEncoding.EncodeToString(data))})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"export": json.RawMessage(data)})
}

func (h *Handler) consents(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleAdmin); err != nil {
		h.fail(w, r, err)
		return
	}
	raw := r.URL.Query().Get("subject")
	if raw == "" && wantsPage(r) {
		h.staffPage(w, r, http.StatusOK, "staff-consents", staffView{Base: h.base, Query: r.URL.Query()})
		return
	}
	subject, err := privacy.NormalizeEmail(raw)
	if err != nil {
		err = privacy.Invalid("subject", "give the person's email address")
		if wantsPage(r) {
			v := staffView{Base: h.base, Query: r.URL.Query(), Errors: h.staffFaults(err)}
			v.Err = ByField(v.Errors)
			h.staffPage(w, r, http.StatusBadRequest, "staff-consents", v)
			return
		}
		h.fail(w, r, err)
		return
	}
	if err := h.cfg.Auditor.Record(r.Context(), privacy.RoleAdmin, subject, "consent history", "admin review"); err != nil {
		h.fail(w, r, err)
		return
	}
	hist, err := h.cfg.Store.ConsentHistory(r.Context(), subject)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wantsPage(r) {
		v := staffView{Base: h.base, Query: r.URL.Query(), Subject: subject, Looked: true}
		for _, c := range hist {
			v.Rows = append(v.Rows, map[string]any{"At": stamp(c.At), "Purpose": string(c.Purpose), "Granted": c.Granted,
				"Version": c.PolicyVersion, "Source": c.Source})
		}
		h.staffPage(w, r, http.StatusOK, "staff-consents", v)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"consents": hist})
}

func (h *Handler) requests(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleSupport); err != nil {
		h.fail(w, r, err)
		return
	}
	n := 200
	if wantsPage(r) {
		n = 50
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		var err error
		if n, err = limit(s); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	ev, err := h.cfg.Store.RightsEvents(r.Context(), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wantsPage(r) {
		v := staffView{Base: h.base, Query: r.URL.Query(), More: more(h.base+"/staff/requests", r.URL.Query(), len(ev), n)}
		for _, e := range ev {
			v.Rows = append(v.Rows, map[string]any{"At": stamp(e.At), "Kind": string(e.Kind), "Holders": e.Holders, "Records": e.Records})
		}
		h.staffPage(w, r, http.StatusOK, "staff-requests", v)
		return
	}
	if ev == nil {
		ev = []privacy.RightsEvent{} // an empty list, not null
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": ev})
}

// wantsPage reports whether a staff route should answer with a page: the staff
// routes are an API first, and answer a page to a client that accepts HTML.
func wantsPage(r *http.Request) bool {
	return !WantsJSON(r) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// staffView is what the staff pages are given: the query they were asked with, the
// rows to show (each a map of the columns), the link to more rows, and the form's
// values and faults.
type staffView struct {
	Base    string
	Query   url.Values
	Rows    []map[string]any
	More    string // the link that shows more rows; "" when every row is shown
	Form    url.Values
	Errors  []FieldError
	Err     map[string]string
	Subject string // the consent history's address
	Looked  bool   // a consent history was looked up
}

// timeView is a time as a page shows it: RFC 3339 for <time datetime>, which the
// host's script may show in the reader's zone, and UTC text for a page without it.
type timeView struct{ ISO, Text string }

func stamp(t time.Time) timeView {
	return timeView{t.UTC().Format(time.RFC3339), t.UTC().Format("2006-01-02 15:04 UTC")}
}

// more returns the link to page with q showing 50 more rows, when a list filled
// its limit.
func more(page string, q url.Values, got, limit int) string {
	if got < limit || limit >= 10000 {
		return ""
	}
	m := url.Values{}
	for k, v := range q {
		m[k] = v
	}
	m.Set("limit", strconv.Itoa(min(limit+50, 10000)))
	return page + "?" + m.Encode()
}

func accessRows(recs []privacy.Access) []map[string]any {
	rows := make([]map[string]any, len(recs))
	for i, a := range recs {
		rows[i] = map[string]any{"At": stamp(a.At), "Actor": a.Actor, "Role": string(a.Role), "Subject": a.Subject, "What": a.What, "Why": a.Why}
	}
	return rows
}

// staffFaults words err for a staff form, each field named by the
// "staff-label" template.
func (h *Handler) staffFaults(err error) []FieldError {
	return FieldErrors(err, func(field string) string {
		var b strings.Builder
		if h.tpl.HTML.ExecuteTemplate(&b, "staff-label", field) != nil {
			return ""
		}
		return html.UnescapeString(b.String())
	})
}

// staffPage renders the staff page name, titled by name+"-title".
func (h *Handler) staffPage(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var title strings.Builder
	if err := h.tpl.HTML.ExecuteTemplate(&title, name+"-title", data); err != nil {
		h.cfg.Log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, status, html.UnescapeString(title.String()), name, data)
}
