package newsletter

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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
//	GET  /api/campaigns            staff: campaigns, newest first
//	POST /api/campaigns            staff: create a draft from list, subject, markdown
//	GET  /api/campaigns/{id}       staff: a campaign and its progress
//	PUT  /api/campaigns/{id}       staff: edit a draft (list, subject, markdown)
//	POST /api/campaigns/{id}/test  staff: to (an operator address)
//	POST /api/campaigns/{id}/schedule  staff: at (RFC 3339; empty sends now)
//	POST /api/campaigns/{id}/cancel    staff
//	GET  /api/campaigns/{id}/progress  staff: queued, sent, failed, total
//	POST /api/complaints           admin: email (a spam complaint: leave every list, suppress; audited)
//
// Staff routes need an actor with privacy.RoleEditor in the request context (the
// host's sign-in middleware puts it there); complaints, which stop all mail to an
// address, need privacy.RoleAdmin. No route lists or exports subscribers.
// Every POST and PUT from another origin is refused (http.CrossOriginProtection); a
// mail provider's one-click POST carries no Origin and passes. No response sets a
// cookie, and none may be cached or leak its link's token in a Referer.
type Handler struct {
	svc     *Service
	cfg     HandlerConfig
	pages   *template.Template // pages, their links under the mount
	handler http.Handler
}

// NewHandler returns the handler for svc, mounted at the path of svc's BaseURL.
// It returns an error when svc is nil or cfg.Signer's key is shorter than 32 bytes.
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
	base, err := web.Prefix(svc.base)
	if err != nil {
		return nil, fmt.Errorf("newsletter: Config.BaseURL: %w", err)
	}
	h := &Handler{svc: svc, cfg: cfg, pages: template.Must(pages.Clone()).Funcs(template.FuncMap{"base": func() string { return base }})}
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
	mux.HandleFunc("GET /api/campaigns", h.listCampaigns)
	mux.HandleFunc("POST /api/campaigns", h.createCampaign)
	mux.HandleFunc("GET /api/campaigns/{id}", h.getCampaign)
	mux.HandleFunc("PUT /api/campaigns/{id}", h.updateCampaign)
	mux.HandleFunc("POST /api/campaigns/{id}/test", h.testSend)
	mux.HandleFunc("POST /api/campaigns/{id}/schedule", h.schedule)
	mux.HandleFunc("POST /api/campaigns/{id}/cancel", h.cancel)
	mux.HandleFunc("GET /api/campaigns/{id}/progress", h.progress)
	mux.HandleFunc("POST /api/complaints", h.complaint)
	h.handler = web.Mount(base, http.NewCrossOriginProtection().Handler(mux))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.handler.ServeHTTP(w, r)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "newsletter: render", "page", name, "err", err)
		status, title = http.StatusInternalServerError, "Something went wrong"
		b.Reset()
		b.WriteString("<p>Something went wrong on our side. Please try again later.</p>")
	}
	h.cfg.Layout(w, r, status, title, template.HTML(b.String()))
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
	title := http.StatusText(b.Error.Status)
	if b.Error.Status == http.StatusGone || b.Error.Field == "t" {
		title = "This link does not work"
	}
	h.render(w, r, b.Error.Status, title, "error", upperFirst(b.Error.Message))
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// listChoice is one checkbox of the subscribe and preference forms.
type listChoice struct {
	Name    List
	Label   string
	Checked bool
	Status  Status
}

func choices(checked func(List) bool) []listChoice {
	var out []listChoice
	for _, l := range Lists() {
		label := "The newsletter"
		if l == ListPromotions {
			label = "Promotions: occasional offers"
		}
		out = append(out, listChoice{Name: l, Label: label, Checked: checked(l)})
	}
	return out
}

// chosen returns the lists whose checkbox is ticked in v.
func chosen(v url.Values) []List {
	var out []List
	for _, l := range Lists() {
		if v.Get(string(l)) != "" {
			out = append(out, l)
		}
	}
	return out
}

type formPage struct {
	Stamp    string
	Email    string
	Lists    []listChoice
	Err      map[string]string
	Summary  []string
	MaxEmail int
}

func (h *Handler) formPage(email string, lists []List, err error) formPage {
	p := formPage{Stamp: h.cfg.Signer.Stamp(), Email: email, Err: map[string]string{}, MaxEmail: privacy.MaxEmailLen,
		Lists: choices(func(l List) bool { return slices.Contains(lists, l) })}
	if err != nil {
		b := web.Describe(err)
		msg := upperFirst(b.Error.Message)
		switch b.Error.Field {
		case "email", "lists":
			p.Err[b.Error.Field] = msg
		}
		p.Summary = append(p.Summary, msg)
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
		web.WriteJSON(w, http.StatusOK, formDescriptor{Timestamp: h.cfg.Signer.Stamp(), Honeypot: web.Honeypot, Lists: Lists()})
		return
	}
	h.render(w, r, http.StatusOK, "Subscribe", "subscribe", h.formPage("", nil, nil))
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
		h.render(w, r, web.HTTPStatus(err), "Subscribe", "subscribe", h.formPage(email, lists, err))
	}
	v, err := web.Decode(r, 0)
	if err != nil {
		fail(err)
		return
	}
	email, lists = v.Get("email"), chosen(v)
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
			fail(err)
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
	h.render(w, r, http.StatusOK, "Check your inbox", "subscribed", nil)
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
	Lists  string
	List   string
	Masked string
	Choice []listChoice
	Left   string
}

func titles(lists []List) string {
	t := make([]string, len(lists))
	for i, l := range lists {
		t[i] = l.Title()
	}
	return strings.Join(t, " and ")
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
	h.render(w, r, http.StatusOK, "Confirm your subscription", "confirm", tokenPage{Token: t, Lists: titles(lists)})
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
	h.render(w, r, http.StatusOK, "You are subscribed", "confirmed", tokenPage{Lists: titles(lists)})
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
	h.render(w, r, http.StatusOK, "Unsubscribe", "unsubscribe", tokenPage{Token: t, List: sub.List.Title(), Masked: sub.Masked})
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
	h.render(w, r, http.StatusOK, "You are unsubscribed", "unsubscribed", tokenPage{Token: t, List: list.Title()})
}

func (h *Handler) preferencesPage(sub Subscriber, t, left string) tokenPage {
	p := tokenPage{Token: t, Masked: sub.Masked, Left: left}
	status := map[List]Status{}
	for _, s := range sub.Subscriptions {
		status[s.List] = s.Status
	}
	p.Choice = choices(func(l List) bool { return status[l] == StatusConfirmed || status[l] == StatusPending })
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
	h.render(w, r, http.StatusOK, "Your subscriptions", "preferences", h.preferencesPage(sub, t, ""))
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
	left, err := h.svc.SetPreferences(r.Context(), t, chosen(v))
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
	msg := "Nothing changed."
	if len(left) > 0 {
		msg = "You have left the " + titles(left) + ". Nothing more from it will be sent to you."
	}
	h.render(w, r, http.StatusOK, "Your subscriptions", "preferences", h.preferencesPage(sub, t, msg))
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

// pages are the pages' templates; base, the path the Handler is mounted at, is
// set by each Handler's clone.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{"base": func() string { return "" }}).Parse(`
{{define "subscribe"}}
{{if .Summary}}<div role="alert"><p>Please correct this:</p><ul>{{range .Summary}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<form method="post" action="{{base}}/subscribe">
<p><label for="newsletter-email">Your email address</label><br>
<input id="newsletter-email" name="email" type="email" value="{{.Email}}" maxlength="{{.MaxEmail}}" required autocomplete="email"{{if .Err.email}} aria-invalid="true" aria-describedby="newsletter-email-error"{{end}}>
{{with .Err.email}}<br><strong id="newsletter-email-error">{{.}}</strong>{{end}}</p>
<fieldset{{if .Err.lists}} aria-describedby="newsletter-lists-error"{{end}}>
<legend>What would you like to receive? Each is a separate choice.</legend>
{{range .Lists}}<p><input id="newsletter-{{.Name}}" name="{{.Name}}" type="checkbox" value="on"{{if .Checked}} checked{{end}}>
<label for="newsletter-{{.Name}}">{{.Label}}</label></p>
{{end}}{{with .Err.lists}}<p><strong id="newsletter-lists-error">{{.}}</strong></p>{{end}}
</fieldset>
<input type="hidden" name="ts" value="{{.Stamp}}">
<div hidden><label for="newsletter-website">Leave this field empty</label>
<input id="newsletter-website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<p>We will mail you a link to confirm. Until you confirm, you get nothing else from us. We keep your address,
the lists you chose and when, and never share them with anyone. Every mail has a link to leave at once.</p>
<p><button type="submit">Subscribe</button></p>
</form>
{{end}}

{{define "subscribed"}}
<p>If the address is right, a mail with a confirmation link is on its way. Open it and press the button on the
page it leads to. Until then, you get nothing else from us.</p>
{{end}}

{{define "confirm"}}
<p>Press the button to receive the {{.Lists}}.</p>
<form method="post" action="{{base}}/confirm?t={{.Token}}">
<p><button type="submit">Yes, subscribe me</button></p>
</form>
<p>If you did not ask for this, close this page: nothing will be sent to you.</p>
{{end}}

{{define "confirmed"}}
<p>Thank you: you will receive the {{.Lists}}. Every mail has a link to leave at once.</p>
{{end}}

{{define "unsubscribe"}}
<p>Stop sending the {{.List}} to {{.Masked}}?</p>
<form method="post" action="{{base}}/unsubscribe?t={{.Token}}">
<p><button type="submit">Unsubscribe</button></p>
</form>
<p><a href="{{base}}/preferences?t={{.Token}}">Manage all your subscriptions</a></p>
{{end}}

{{define "unsubscribed"}}
<p>You have left the {{.List}}. Nothing more from it will be sent to you.</p>
<p><a href="{{base}}/preferences?t={{.Token}}">Manage your other subscriptions</a></p>
{{end}}

{{define "preferences"}}
{{with .Left}}<p role="status">{{.}}</p>{{end}}
<form method="post" action="{{base}}/preferences?t={{.Token}}">
<fieldset><legend>Lists {{.Masked}} receives. Untick a list to leave it.</legend>
{{range .Choice}}<p>{{if .Checked}}<input id="newsletter-{{.Name}}" name="{{.Name}}" type="checkbox" value="on" checked>
<label for="newsletter-{{.Name}}">{{.Label}}{{if eq .Status "pending"}} (waiting for your confirmation){{end}}</label>{{else}}{{.Label}}: not subscribed. <a href="{{base}}/subscribe">Subscribe</a>{{end}}</p>
{{end}}</fieldset>
<p><button type="submit">Save</button></p>
</form>
{{end}}

{{define "error"}}
<p>{{.}}</p>
<p><a href="{{base}}/subscribe">Subscribe again</a></p>
{{end}}
`))
