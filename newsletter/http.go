package newsletter

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
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

// HandlerConfig configures a Handler. Zero fields take the defaults documented on them.
type HandlerConfig struct {
	// Signer signs the timestamp hidden in the subscribe form. Default: a signer
	// keyed from the Service's Secret, refusing forms sent within 3 s.
	Signer *web.Signer
	// Limiter bounds subscribe requests per client address, in memory only, so the
	// form cannot be used to flood someone's inbox with confirmation mail. Default:
	// 5 per hour after a burst of 5.
	Limiter *web.Limiter
	// TrustedHeader names the header that carries the client address behind a
	// trusted proxy, e.g. "X-Forwarded-For"; empty uses the connection's address.
	TrustedHeader string
	// Layout wraps every page; web.Plain by default.
	Layout web.Layout
	// Log receives internal errors only; discarded when nil.
	Log *slog.Logger
	// Templates are the host's overrides of DefaultTemplates, for the pages
	// (subscribe.html, confirm.html, unsubscribe.html, preferences.html, error.html,
	// staff.html, and lists.txt for the lists' names); nil for the defaults. Pass the Service
	// the same overrides, so that its mail says what the pages say.
	Templates fs.FS
	// TimeZone is the zone the staff pages show times in and read a campaign's
	// send time in; UTC by default.
	TimeZone *time.Location
}

// Handler serves the subscription pages, as server-rendered HTML that needs no
// JavaScript or as JSON (chosen by web.WantsJSON), and the staff JSON API for
// campaigns. Mount it at the Service's BaseURL, with any router:
//
//	mux.Handle("/newsletter/", h)                              // net/http
//	mux.Handle("/newsletter/", http.StripPrefix("/newsletter", h))
//	r.Mount("/newsletter", h)                                  // chi
//	r.PathPrefix("/newsletter").Handler(h)                     // gorilla/mux
//
// It routes on the path after the BaseURL's (web.Mount), and the links and forms
// on its pages start with that path, never with the request's. Routes, relative to
// it (t is the token from a mailed link):
//
//	GET  / or /subscribe           the subscribe form (JSON: its timestamp, honeypot name and lists)
//	POST /subscribe                email, newsletter, promotions (checkboxes), ts, website (the honeypot)
//	GET  /confirm?t=               what the link confirms, and a button; changes nothing
//	POST /confirm?t=               confirm
//	GET  /unsubscribe?t=           a button to leave the list the mail came from; changes nothing
//	POST /unsubscribe?t=           leave at once: the RFC 8058 one-click target and the button
//	GET  /preferences?t=           the address's lists
//	POST /preferences?t=           stay on the ticked lists (newsletter, promotions), leave the others
//	GET  /staff/campaigns          staff pages: the campaigns, newest first, and each list's member count
//	GET  /staff/campaigns/new      the form of a new draft
//	POST /staff/campaigns          save a new draft (list, subject, markdown); 303 to its page
//	GET  /staff/campaigns/{id}     a campaign: its state, its progress, and what can be done now
//	POST /staff/campaigns/{id}     save a draft's edit; 303 to its page
//	GET  /staff/campaigns/{id}/edit     the form of a draft
//	GET  /staff/campaigns/{id}/preview  its mail, HTML and text
//	POST /staff/campaigns/{id}/test     to (an operator address); 303 to its page
//	GET  /staff/campaigns/{id}/send?at= how many members of which list it goes to, and when: confirm
//	POST /staff/campaigns/{id}/send     at, confirm=yes: send now or schedule; 303 to its page
//	POST /staff/campaigns/{id}/cancel   stop it; 303 to its page
//	GET  /api/campaigns            staff: campaigns, newest first
//	POST /api/campaigns            staff: create a draft from list, subject, markdown
//	GET  /api/campaigns/{id}       staff: a campaign and its progress
//	PUT  /api/campaigns/{id}       staff: edit a draft (list, subject, markdown)
//	POST /api/campaigns/{id}/test  staff: to (an operator address)
//	POST /api/campaigns/{id}/schedule  staff: at (RFC 3339; empty sends now)
//	POST /api/campaigns/{id}/cancel    staff
//	GET  /api/campaigns/{id}/progress  staff: queued, sent, failed, total, done, percent, rate, eta
//	POST /api/complaints           admin: email (a spam complaint: leave every list, suppress; audited)
//
// Staff routes need an actor with privacy.RoleEditor in the request context (the
// host's sign-in middleware puts it there); the staff pages render through the
// Layout like every page, and a campaign page's progress element carries the
// progress route in data-progress for the host's script to poll while it sends; complaints, which stop all mail to an
// address, need privacy.RoleAdmin. No route lists or exports subscribers.
// Every POST and PUT from another origin is refused (http.CrossOriginProtection); a
// mail provider's one-click POST carries no Origin and passes. No response sets a
// cookie, and none may be cached or leak its link's token in a Referer.
type Handler struct {
	svc     *Service
	cfg     HandlerConfig
	tm      *privacy.Templates // pages, their links under the mount
	handler http.Handler
}

// NewHandler returns the handler for svc, mounted at the path of svc's BaseURL.
// It returns an error when svc is nil, cfg.Signer's key is shorter than 32 bytes,
// or cfg.Templates does not parse or defines a template DefaultTemplates does not
// (the error names it).
func NewHandler(svc *Service, cfg HandlerConfig) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("newsletter: NewHandler needs a Service")
	}
	if cfg.Signer == nil {
		m := hmac.New(sha256.New, svc.secret)
		m.Write([]byte("consentkit newsletter form"))
		cfg.Signer = &web.Signer{Key: m.Sum(nil)}
	}
	if len(cfg.Signer.Key) < 32 {
		return nil, errors.New("newsletter: HandlerConfig.Signer needs a key of at least 32 bytes")
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
	tm, err := parseTemplates(cfg.Templates, svc.prefix, svc.listDef)
	if err != nil {
		return nil, fmt.Errorf("newsletter: HandlerConfig.Templates: %w", err)
	}
	h := &Handler{svc: svc, cfg: cfg, tm: tm}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.showForm)
	mux.HandleFunc("GET /subscribe", h.showForm)
	mux.HandleFunc("POST /subscribe", h.subscribe)
	mux.HandleFunc("GET /confirm", h.showConfirm)
	mux.HandleFunc("POST /confirm", h.confirm)
	mux.HandleFunc("GET /unsubscribe", h.showUnsubscribe)
	mux.HandleFunc("POST /unsubscribe", h.unsubscribe)
	mux.HandleFunc("GET /preferences", h.showPreferences)
	mux.HandleFunc("POST /preferences", h.savePreferences)
	mux.HandleFunc("GET /staff/campaigns", h.staffCampaigns)
	mux.HandleFunc("GET /staff/campaigns/new", h.staffNew)
	mux.HandleFunc("POST /staff/campaigns", h.staffCreate)
	mux.HandleFunc("GET /staff/campaigns/{id}", h.staffCampaign)
	mux.HandleFunc("POST /staff/campaigns/{id}", h.staffSave)
	mux.HandleFunc("GET /staff/campaigns/{id}/edit", h.staffEdit)
	mux.HandleFunc("GET /staff/campaigns/{id}/preview", h.staffPreview)
	mux.HandleFunc("POST /staff/campaigns/{id}/test", h.staffTest)
	mux.HandleFunc("GET /staff/campaigns/{id}/send", h.staffConfirmSend)
	mux.HandleFunc("POST /staff/campaigns/{id}/send", h.staffSend)
	mux.HandleFunc("POST /staff/campaigns/{id}/cancel", h.staffCancel)
	mux.HandleFunc("GET /api/campaigns", h.listCampaigns)
	mux.HandleFunc("POST /api/campaigns", h.createCampaign)
	mux.HandleFunc("GET /api/campaigns/{id}", h.getCampaign)
	mux.HandleFunc("PUT /api/campaigns/{id}", h.updateCampaign)
	mux.HandleFunc("POST /api/campaigns/{id}/test", h.testSend)
	mux.HandleFunc("POST /api/campaigns/{id}/schedule", h.schedule)
	mux.HandleFunc("POST /api/campaigns/{id}/cancel", h.cancel)
	mux.HandleFunc("GET /api/campaigns/{id}/progress", h.progress)
	mux.HandleFunc("POST /api/complaints", h.complaint)
	h.handler = web.Mount(svc.prefix, http.NewCrossOriginProtection().Handler(mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	web.SecurityHeaders(w)
	h.handler.ServeHTTP(w, r)
}

// render writes page, its title from the template page+"-title", in the Layout.
// A page that cannot be rendered (a host's template fails) is logged and the
// internal-error page is shown instead.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	title, body, err := h.page(page, data)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "newsletter: render", "page", page, "err", err)
		status = http.StatusInternalServerError
		if title, body, err = h.page("internal-error", nil); err != nil {
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	h.cfg.Layout(w, r, status, title, body)
}

func (h *Handler) page(name string, data any) (string, template.HTML, error) {
	title, err := plainHTML(h.tm, name+"-title", data)
	if err != nil {
		return "", "", err
	}
	body, err := execHTML(h.tm, name, data)
	return title, body, err
}

// label names a field as the pages show it, for web.FieldErrors: "" for a field
// no page shows.
func (h *Handler) label(field string) string {
	l, err := plainHTML(h.tm, "field-label", field)
	if err != nil {
		return ""
	}
	return l
}

// errorPage is what the error page is given.
type errorPage struct {
	Status int
	Link   bool // the link is at fault: incomplete, expired or used
	Staff  bool // a staff page failed
	Errors []web.FieldError
}

// fail answers err as JSON or as the error page. Only internal errors are logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if web.WantsJSON(r) {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	b := web.Describe(err)
	if b.Error.Status == http.StatusInternalServerError {
		h.cfg.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	web.SetRetryAfter(w, err)
	h.render(w, r, b.Error.Status, "error", errorPage{
		Status: b.Error.Status,
		Link:   b.Error.Status == http.StatusGone || b.Error.Field == "t",
		Staff:  strings.HasPrefix(r.URL.Path, "/staff/"),
		Errors: web.FieldErrors(err, h.label),
	})
}

// listChoice is one checkbox of the subscribe and preference forms.
type listChoice struct {
	ListDef
	Checked bool
	Status  Status
}

func (h *Handler) choices(checked func(List) bool) []listChoice {
	var out []listChoice
	for _, d := range h.svc.lists {
		out = append(out, listChoice{ListDef: d, Checked: checked(d.Name)})
	}
	return out
}

// chosen returns the lists whose checkbox, named after the list, is ticked in v.
func (h *Handler) chosen(v url.Values) []List {
	var out []List
	for _, l := range h.svc.names() {
		if v.Get(string(l)) != "" {
			out = append(out, l)
		}
	}
	return out
}

type formPage struct {
	Stamp  string
	Email  string
	Lists  []listChoice
	Errors []web.FieldError // every fault, for the summary above the form
	// Err is the first fault of each field the form shows, by the field's name,
	// beside its input; a FieldError rather than web.ByField's text, so that a
	// translation can word it by its Code.
	Err      map[string]web.FieldError
	MaxEmail int
}

func (h *Handler) formPage(email string, lists []List, err error) formPage {
	p := formPage{Stamp: h.cfg.Signer.Stamp(), Email: email, Err: map[string]web.FieldError{}, MaxEmail: privacy.MaxEmailLen,
		Lists: h.choices(func(l List) bool { return slices.Contains(lists, l) }), Errors: web.FieldErrors(err, h.label)}
	for _, fe := range slices.Backward(p.Errors) {
		if fe.Field != "" {
			p.Err[fe.Field] = fe
		}
	}
	return p
}

type formDescriptor struct {
	Timestamp string `json:"ts"`
	Honeypot  string `json:"honeypot"`
	Lists     []List `json:"lists"`
}

func (h *Handler) showForm(w http.ResponseWriter, r *http.Request) {
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, formDescriptor{Timestamp: h.cfg.Signer.Stamp(), Honeypot: web.Honeypot, Lists: h.svc.names()})
		return
	}
	h.render(w, r, http.StatusOK, "subscribe", h.formPage("", nil, nil))
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	asJSON := web.WantsJSON(r)
	var email string
	var lists []List
	fail := func(err error) {
		if web.HTTPStatus(err) == http.StatusInternalServerError {
			h.cfg.Log.ErrorContext(r.Context(), "newsletter: subscribe", "err", err)
		}
		if asJSON {
			web.WriteJSONError(w, r, nil, err)
			return
		}
		web.SetRetryAfter(w, err)
		h.render(w, r, web.HTTPStatus(err), "subscribe", h.formPage(email, lists, err))
	}
	v, err := web.Decode(r, 0)
	if err != nil {
		fail(err)
		return
	}
	email, lists = v.Get("email"), h.chosen(v)
	if len(email) > 2*privacy.MaxEmailLen {
		email = email[:2*privacy.MaxEmailLen] // shown back to the visitor, not stored
	}
	if err := h.cfg.Limiter.Check(r, h.cfg.TrustedHeader); err != nil {
		fail(err)
		return
	}
	// A bot is answered as if it had succeeded and learns nothing; nothing is stored or sent.
	if !web.Bot(v) {
		if err := h.cfg.Signer.Check(v.Get(web.TimestampField)); err != nil {
			// The visitor sends the form again either way: tell them all it needs.
			_, _, fields := h.svc.checkSubscription(email, lists)
			fail(errors.Join(fields, err))
			return
		}
		if err := h.svc.Subscribe(r.Context(), email, lists); err != nil {
			fail(err)
			return
		}
	}
	if asJSON {
		web.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "confirmation-sent"})
		return
	}
	h.render(w, r, http.StatusOK, "subscribed", nil)
}

// token returns the link's token from the query.
func token(r *http.Request) (string, error) {
	t := r.URL.Query().Get("t")
	if t == "" {
		return "", privacy.Invalid("t", "this link is not complete; copy the whole link from the mail")
	}
	return t, nil
}

type tokenPage struct {
	Token  string
	Lists  []List
	List   List
	Masked string
	Choice []listChoice
	Saved  bool   // the preference form was sent
	Left   []List // and left these lists
}

func (h *Handler) showConfirm(w http.ResponseWriter, r *http.Request) {
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lists, err := h.svc.PendingConfirmation(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"lists": lists})
		return
	}
	h.render(w, r, http.StatusOK, "confirm", tokenPage{Token: t, Lists: lists})
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lists, err := h.svc.Confirm(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"confirmed": lists})
		return
	}
	h.render(w, r, http.StatusOK, "confirmed", tokenPage{Lists: lists})
}

func (h *Handler) showUnsubscribe(w http.ResponseWriter, r *http.Request) {
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sub, err := h.svc.Preferences(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"email": sub.Masked, "list": sub.List})
		return
	}
	h.render(w, r, http.StatusOK, "unsubscribe", tokenPage{Token: t, List: sub.List, Masked: sub.Masked})
}

// unsubscribe is the RFC 8058 one-click target. A mail provider posts
// "List-Unsubscribe=One-Click" as multipart/form-data or URL-encoded; the body says
// nothing the URL does not, so it is drained (bounded) and not parsed.
func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(nil, r.Body, web.MaxBody))
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.svc.Unsubscribe(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusOK, map[string]any{"left": list})
		return
	}
	h.render(w, r, http.StatusOK, "unsubscribed", tokenPage{Token: t, List: list})
}

func (h *Handler) preferencesPage(sub Subscriber, t string, saved bool, left []List) tokenPage {
	p := tokenPage{Token: t, Masked: sub.Masked, Saved: saved, Left: left}
	status := map[List]Status{}
	for _, s := range sub.Subscriptions {
		status[s.List] = s.Status
	}
	p.Choice = h.choices(func(l List) bool { return status[l] == StatusConfirmed || status[l] == StatusPending })
	for i := range p.Choice {
		p.Choice[i].Status = status[p.Choice[i].Name]
	}
	return p
}

type prefJSON struct {
	Email         string `json:"email"`
	Subscriptions []struct {
		List   List   `json:"list"`
		Status Status `json:"status"`
	} `json:"subscriptions"`
}

func (h *Handler) showPreferences(w http.ResponseWriter, r *http.Request) {
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sub, err := h.svc.Preferences(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		out := prefJSON{Email: sub.Masked}
		for _, s := range sub.Subscriptions {
			out.Subscriptions = append(out.Subscriptions, struct {
				List   List   `json:"list"`
				Status Status `json:"status"`
			}{s.List, s.Status})
		}
		web.WriteJSON(w, http.StatusOK, out)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.preferencesPage(sub, t, false, nil))
}

func (h *Handler) savePreferences(w http.ResponseWriter, r *http.Request) {
	t, err := token(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := web.Decode(r, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	left, err := h.svc.SetPreferences(r.Context(), t, h.chosen(v))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if web.WantsJSON(r) {
		if left == nil {
			left = []List{}
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"left": left})
		return
	}
	sub, err := h.svc.Preferences(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "preferences", h.preferencesPage(sub, t, true, left))
}

// Staff API.

func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, err error) {
	web.WriteJSONError(w, r, h.cfg.Log, err)
}

// apiBody reads a staff request's JSON or form fields, refusing fields not in allowed.
func apiBody(r *http.Request, allowed ...string) (url.Values, error) {
	v, err := web.Decode(r, 1<<20)
	if err != nil {
		return nil, err
	}
	for k := range v {
		if !slices.Contains(allowed, k) {
			return nil, privacy.Invalid(k, "is not a field of this request")
		}
	}
	return v, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, privacy.Invalid("id", "must be a campaign number")
	}
	return id, nil
}

func draftFrom(v url.Values) Draft {
	return Draft{List: List(v.Get("list")), Subject: v.Get("subject"), Markdown: v.Get("markdown")}
}

func (h *Handler) listCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := h.svc.Campaigns(r.Context())
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if cs == nil {
		cs = []Campaign{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": cs})
}

func (h *Handler) createCampaign(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.apiError(w, r, err)
		return
	}
	v, err := apiBody(r, "list", "subject", "markdown")
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := h.svc.CreateCampaign(r.Context(), draftFrom(v))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, c)
}

func (h *Handler) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := h.svc.Campaign(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	p, err := h.svc.Progress(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "progress": p})
}

func (h *Handler) updateCampaign(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.apiError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	v, err := apiBody(r, "list", "subject", "markdown")
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := h.svc.UpdateCampaign(r.Context(), id, draftFrom(v))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) testSend(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.apiError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	v, err := apiBody(r, "to")
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if err := h.svc.TestSend(r.Context(), id, v.Get("to")); err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "test-sent"})
}

func (h *Handler) schedule(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.apiError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	v, err := apiBody(r, "at")
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	var at time.Time
	if s := v.Get("at"); s != "" {
		if at, err = time.Parse(time.RFC3339, s); err != nil {
			h.apiError(w, r, privacy.Invalid("at", "must be a time such as 2026-11-05T09:00:00Z"))
			return
		}
	}
	c, err := h.svc.Schedule(r.Context(), id, at)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.apiError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := h.svc.Cancel(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) progress(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	p, err := h.svc.Progress(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, p)
}

func (h *Handler) complaint(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleAdmin); err != nil {
		h.apiError(w, r, err)
		return
	}
	v, err := apiBody(r, "email")
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if err := h.svc.RelayComplaint(r.Context(), v.Get("email")); err != nil {
		h.apiError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": "suppressed"})
}
