package accounts

import (
	"bytes"
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
	"strconv"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// HandlerConfig configures the HTTP handler. Every field is optional.
type HandlerConfig struct {
	Layout web.Layout // wraps every page; web.Plain
	// Limiter bounds register, verify, sign-in, reset and parental requests per
	// client address, in memory only. Default: 20 a minute, bursts of 10.
	Limiter *web.Limiter
	// TrustedHeader names the proxy header holding the client address
	// (e.g. "X-Forwarded-For"); empty trusts the connection's address.
	TrustedHeader string
	// Signer, when set, stamps every HTML form and refuses form posts sent too
	// quickly or too late. JSON clients are not stamped.
	Signer *web.Signer
	Log    *slog.Logger
	// Templates is the host's overrides of DefaultTemplates for the pages; nil for
	// the Service's, Config.Templates, which are the defaults unless the host set
	// them.
	Templates fs.FS
}

type handler struct {
	s    *Service
	cfg  HandlerConfig
	mux  *http.ServeMux
	base string // the path prefix links on pages use, from Config.BaseURL
	tpl  *privacy.Templates
}

// Handler is the accounts HTTP handler: a JSON API for everything the Service
// does, and server-rendered pages (no JavaScript) for registering, signing in,
// resetting a password, following mailed links, and the admins' staff page.
// Mount it at the Service's Config.BaseURL, with any router:
//
//	mux.Handle("/accounts/", h)                            // net/http
//	mux.Handle("/accounts/", http.StripPrefix("/accounts", h))
//	r.Mount("/accounts", h)                                // chi
//	r.PathPrefix("/accounts").Handler(h)                   // gorilla/mux
//
// It routes on the path after the BaseURL's (web.Mount), and the links and forms
// on its pages start with that path, never with the request's. Routes, relative to
// it:
//
//	GET|POST /register                 register (form or JSON); under 13 asks for a parent's address
//	POST     /parental/request         parent_email -> the child's code
//	GET|POST /parental?token= · /parental/answer   a parent approves or refuses
//	GET|POST /verify                   confirm an address (token, and the password chosen when registering)
//	GET|POST /signin                   -> {"token", "expires"}
//	POST     /signin/code              challenge, code -> the session, after a password on an account with a second factor
//	POST     /signin/passkey/begin     -> {"ceremony", "options"} for navigator.credentials.get, a sign-in with a passkey alone
//	POST     /signin/passkey           ceremony (or the challenge after a password), credential (the browser's answer, JSON) -> the session
//	POST     /signout, /signout/all    end this session, or every one
//	GET|POST /reset, /reset/confirm    password reset by mail
//	GET|POST /email/confirm            confirm a new address (token)
//	GET      /me, /me/export           the account; everything held about it
//	POST     /me/password, /me/email, /me/delete
//	POST     /me/confirm               password or code: a fresh proof for step-up
//	POST     /me/confirm/passkey/begin, /me/confirm/passkey   a passkey as the fresh proof
//	GET      /me/passkeys; POST /me/passkeys/begin, /me/passkeys (ceremony, name, credential); DELETE /me/passkeys/{id}
//	GET      /me/factors; POST /me/factors/totp, /me/factors/totp/confirm, /me/factors/{id}/disable
//	GET      /me/sessions; POST /me/sessions/{id}/revoke, /me/sessions/others/revoke
//	GET|POST /me/resources             list, upload (multipart "file") or write a note or message
//	GET      /resources                what members share with the community
//	GET      /resources/{id}, /resources/{id}/content, /resources/{id}/thumbnail (a photo's, JPEG)
//	DELETE   /resources/{id}
//	GET      /staff; POST /staff/grant, /staff/revoke (email, role)   admins only
//
// GET /staff answers {"staff": [...]} to a client asking for JSON (web.WantsJSON),
// and the staff page to any other: who holds which role, since when they have an
// account, a form to grant a role and a button to revoke each. Its forms posted
// as HTML are answered 303 See Other to /staff?done=granted (or revoked)&role=,
// or with the page again, each fault of the grant form beside its field; a JSON
// client gets 204. The page, like every staff answer, needs the session's bearer
// token, so a host shows it through its own script.
//
// The handler sets no cookie: a session travels as "Authorization: Bearer". It
// authenticates requests itself (Service.Authenticate) and refuses cross-origin
// form posts (http.CrossOriginProtection). Every response is Cache-Control: no-store.
type Handler struct {
	handler http.Handler
}

// NewHandler returns the handler for s, mounted at the path of s's Config.BaseURL.
// It returns an error when s is nil, cfg.Signer's key is shorter than 32 bytes, or
// cfg.Templates does not parse or defines a template DefaultTemplates does not.
func NewHandler(s *Service, cfg HandlerConfig) (*Handler, error) {
	if s == nil {
		return nil, errors.New("accounts: NewHandler needs a Service")
	}
	if cfg.Signer != nil && len(cfg.Signer.Key) < 32 {
		return nil, errors.New("accounts: HandlerConfig.Signer needs a key of at least 32 bytes")
	}
	base, err := web.Prefix(s.cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("accounts: Config.BaseURL: %w", err)
	}
	if cfg.Layout == nil {
		cfg.Layout = web.Plain
	}
	if cfg.Limiter == nil {
		cfg.Limiter = web.NewLimiter(20, time.Minute, 10)
	}
	if cfg.Log == nil {
		cfg.Log = s.log
	}
	tpl := s.tpl
	if cfg.Templates != nil {
		if tpl, err = parseTemplates(cfg.Templates); err != nil {
			return nil, err
		}
	}
	h := &handler{s: s, cfg: cfg, mux: http.NewServeMux(), base: base, tpl: tpl}
	m := h.mux
	m.HandleFunc("GET /register", h.registerPage)
	m.HandleFunc("POST /register", h.limited(h.register))
	m.HandleFunc("POST /parental/request", h.limited(h.parentalRequest))
	m.HandleFunc("GET /parental", h.parentalPage)
	m.HandleFunc("POST /parental/answer", h.parentalAnswer)
	m.HandleFunc("GET /verify", h.tokenPage("title-verify", "verify"))
	m.HandleFunc("POST /verify", h.limited(h.verify))
	m.HandleFunc("GET /signin", h.signinPage)
	m.HandleFunc("POST /signin", h.limited(h.signin))
	m.HandleFunc("POST /signin/code", h.limited(h.signinCode))
	m.HandleFunc("POST /signin/passkey/begin", h.limited(h.passkeySigninBegin))
	m.HandleFunc("POST /signin/passkey", h.limited(h.passkeySignin))
	m.HandleFunc("POST /signout", h.signout)
	m.HandleFunc("POST /signout/all", h.signoutAll)
	m.HandleFunc("GET /reset", h.resetPage)
	m.HandleFunc("POST /reset", h.limited(h.reset))
	m.HandleFunc("GET /reset/confirm", h.tokenPage("title-reset-confirm", "reset-confirm"))
	m.HandleFunc("POST /reset/confirm", h.limited(h.resetConfirm))
	m.HandleFunc("GET /email/confirm", h.tokenPage("title-email-confirm", "email-confirm"))
	m.HandleFunc("POST /email/confirm", h.emailConfirm)
	m.HandleFunc("GET /me", h.me)
	m.HandleFunc("GET /me/export", h.export)
	m.HandleFunc("POST /me/password", h.limited(h.changePassword))
	m.HandleFunc("POST /me/email", h.limited(h.changeEmail))
	m.HandleFunc("POST /me/delete", h.limited(h.deleteMe))
	m.HandleFunc("POST /me/confirm", h.limited(h.confirm))
	m.HandleFunc("POST /me/confirm/passkey/begin", h.passkeyConfirmBegin)
	m.HandleFunc("POST /me/confirm/passkey", h.limited(h.passkeyConfirm))
	m.HandleFunc("GET /me/passkeys", h.passkeys)
	m.HandleFunc("POST /me/passkeys/begin", h.passkeyBegin)
	m.HandleFunc("POST /me/passkeys", h.addPasskey)
	m.HandleFunc("DELETE /me/passkeys/{id}", h.removePasskey)
	m.HandleFunc("GET /me/factors", h.factors)
	m.HandleFunc("POST /me/factors/totp", h.enrolTOTP)
	m.HandleFunc("POST /me/factors/totp/confirm", h.limited(h.confirmTOTP))
	m.HandleFunc("POST /me/factors/{id}/disable", h.limited(h.disableFactor))
	m.HandleFunc("GET /me/sessions", h.sessions)
	m.HandleFunc("POST /me/sessions/others/revoke", h.revokeOthers)
	m.HandleFunc("POST /me/sessions/{id}/revoke", h.revokeSession)
	m.HandleFunc("GET /me/resources", h.myResources)
	m.HandleFunc("POST /me/resources", h.addResource)
	m.HandleFunc("GET /resources", h.community)
	m.HandleFunc("GET /resources/{id}", h.resource)
	m.HandleFunc("GET /resources/{id}/content", h.content)
	m.HandleFunc("GET /resources/{id}/thumbnail", h.thumbnail)
	m.HandleFunc("DELETE /resources/{id}", h.deleteResource)
	m.HandleFunc("GET /staff", h.staff)
	m.HandleFunc("POST /staff/grant", h.role(true))
	m.HandleFunc("POST /staff/revoke", h.role(false))
	return &Handler{handler: web.Mount(base, http.NewCrossOriginProtection().Handler(s.Authenticate(h)))}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	web.SecurityHeaders(w)
	ctx := WithClient(WithUserAgent(r.Context(), r.UserAgent()), web.ClientAddr(r, h.cfg.TrustedHeader))
	h.mux.ServeHTTP(w, r.WithContext(ctx))
}

// Authenticate reads "Authorization: Bearer <token>" and, for a live session, puts
// the member's privacy.Actor (id, email, staff roles) in the request context. A
// missing, unknown or expired token leaves the actor anonymous: routes that need
// sign-in answer 401 themselves. When the session cannot be looked up (the
// database is away) the request is answered 503 with Retry-After: a 401 would tell
// the client to forget a session that is still valid. A request whose context
// already carries a signed-in actor is passed on as it is.
func (s *Service) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !privacy.ActorFrom(r.Context()).Anonymous() {
			next.ServeHTTP(w, r)
			return
		}
		if tok, ok := bearer(r); ok {
			ctx, err := s.WithSession(r.Context(), tok)
			switch {
			case err == nil:
				r = r.WithContext(ctx)
			case !errors.Is(err, privacy.ErrUnauthorized):
				s.log.ErrorContext(r.Context(), "session look-up", "err", err)
				web.WriteJSONError(w, r, nil, &privacy.Error{Kind: privacy.ErrUnavailable,
					Message: "your session cannot be checked right now; try again shortly", RetryAfter: 5 * time.Second, Err: err})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// limited applies the per-client limit to an endpoint that costs a password hash
// or sends mail.
func (h *handler) limited(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.cfg.Limiter.Check(r, h.cfg.TrustedHeader); err != nil {
			h.fail(w, r, err, "title-too-many", "failed", nil)
			return
		}
		next(w, r)
	}
}

// page is what every page template receives.
type page struct {
	Base   string
	Values url.Values // what was sent, to fill the form again
	// Faults is every fault of what was sent, in order; Errors the text of each
	// field's first, by field name. A fault of no field the form shows has Field "".
	Faults  []web.FieldError
	Errors  map[string]string
	Stamp   string
	Token   string
	Message string
}

type field struct {
	Name, Label, Type, Value, Auto string
	// Err is the field's first fault, Code and Limit its rule's (web.FieldError).
	Err, Code string
	Limit     int
	Required  bool
}

// Field describes one input for the "field" template; passwords are never echoed.
func (p page) Field(name, label, typ, auto string, required bool) field {
	f := field{Name: name, Label: label, Type: typ, Auto: auto, Required: required}
	if typ != "password" {
		f.Value = p.Values.Get(name)
	}
	for _, e := range p.Faults {
		if e.Field == name {
			f.Err, f.Code, f.Limit = e.Text, e.Code, e.Limit
			break
		}
	}
	return f
}

// Unmarked returns the faults shown above the form, as no field carries them.
func (p page) Unmarked() []web.FieldError {
	var out []web.FieldError
	for _, e := range p.Faults {
		if e.Field == "" {
			out = append(out, e)
		}
	}
	return out
}

// Checked reports whether a checkbox was sent checked, to keep it on re-render.
func (p page) Checked(name string) bool {
	on, _ := checkbox(name, p.Values.Get(name))
	return on
}

func (h *handler) newPage(v url.Values) page {
	p := page{Base: h.base, Values: v}
	if p.Values == nil {
		p.Values = url.Values{}
	}
	if h.cfg.Signer != nil {
		p.Stamp = h.cfg.Signer.Stamp()
	}
	return p
}

// render answers with the page template tmpl in the layout, titled by the text
// template title.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, title, tmpl string, p any) {
	var buf bytes.Buffer
	t, err := say(h.tpl, title, p)
	if err == nil {
		err = h.tpl.HTML.ExecuteTemplate(&buf, tmpl, p)
	}
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "render", "template", tmpl, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.cfg.Layout(w, r, status, t, template.HTML(buf.String()))
}

// fail answers err: JSON for API clients; for a browser, the form tmpl again with
// each fault beside the field it names and what was typed kept, or with tmpl
// "failed" the faults alone.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, title, tmpl string, v url.Values) {
	if web.WantsJSON(r) {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	status := web.HTTPStatus(err)
	if status == http.StatusInternalServerError {
		h.cfg.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	web.SetRetryAfter(w, err)
	p := h.newPage(v)
	p.Faults = web.FieldErrors(err, func(f string) string { return h.label(r, tmpl, f) })
	p.Errors = web.ByField(p.Faults)
	p.Token = p.Values.Get("token")
	h.render(w, r, status, title, tmpl, p)
}

// label names field as the error messages of form tmpl do, or returns "" when the
// form does not show it.
func (h *handler) label(r *http.Request, tmpl, field string) string {
	if !formFields[tmpl][field] {
		return ""
	}
	l, err := say(h.tpl, "field-name", field)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "render", "template", "field-name", "err", err)
	}
	return l
}

// formFields lists the fields each form template shows, so an error about one of
// them is shown beside it and any other at the top of the page.
var formFields = map[string]map[string]bool{
	"register":      {"email": true, "password": true, "display_name": true, "birth_date": true, "newsletter": true, "promotions": true, "consent_code": true},
	"register-code": {"email": true, "password": true, "display_name": true, "birth_date": true, "consent_code": true},
	"signin":        {"email": true, "password": true},
	"signin-code":   {"code": true},
	"reset":         {"email": true},
	"parental":      {"parent_email": true},
	"verify":        {"password": true},
	"reset-confirm": {"password": true},
	"staff":         {"email": true, "role": true},
}

// decode reads a form or JSON body and, for browser forms, checks the guards.
// bot reports a filled honeypot: the caller answers as if it had worked.
func (h *handler) decode(r *http.Request) (v url.Values, bot bool, err error) {
	v, err = web.Decode(r, 0)
	if err != nil {
		return nil, false, err
	}
	if web.Bot(v) {
		return v, true, nil
	}
	if h.cfg.Signer != nil && !web.WantsJSON(r) {
		if err := h.cfg.Signer.Check(v.Get(web.TimestampField)); err != nil {
			return v, false, err
		}
	}
	return v, false, nil
}

func (h *handler) registerPage(w http.ResponseWriter, r *http.Request) {
	tmpl := "register"
	if r.URL.Query().Get("code") != "" {
		tmpl = "register-code"
	}
	h.render(w, r, http.StatusOK, "title-register", tmpl, h.newPage(nil))
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	tmpl := "register"
	if v.Has("consent_code") {
		tmpl = "register-code"
	}
	var res RegisterResult
	switch {
	case err != nil:
	case bot:
		res, err = h.s.pending()
	default:
		var in RegisterInput
		if in, err = ParseRegistration(v); err == nil {
			res, err = h.s.Register(r.Context(), in)
		}
	}
	if err != nil {
		h.fail(w, r, err, "title-register", tmpl, v)
		return
	}
	if web.WantsJSON(r) {
		status := http.StatusAccepted
		if res.ParentalConsentRequired {
			status = http.StatusOK
		}
		web.WriteJSON(w, status, res)
		return
	}
	p := h.newPage(nil)
	p.Message = res.Message
	if res.ParentalConsentRequired {
		h.render(w, r, http.StatusOK, "title-parental", "parental", p)
		return
	}
	h.render(w, r, http.StatusAccepted, "title-registered", "message", p)
}

func (h *handler) parentalRequest(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	if err == nil && !bot {
		for k := range v {
			if k != "parent_email" && k != web.TimestampField && k != web.Honeypot {
				err = privacy.InvalidRule(k, "unknown", "is not a field of this form: give only your parent's address")
			}
		}
	}
	var code, msg string
	if err == nil && !bot {
		code, err = h.s.RequestParentalConsent(r.Context(), v.Get("parent_email"))
	}
	if err == nil {
		msg, err = say(h.tpl, "parental-asked", nil)
	}
	if err != nil {
		h.fail(w, r, err, "title-parental", "parental", v)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusAccepted, map[string]string{"code": code, "message": msg})
		return
	}
	p := h.newPage(nil)
	p.Message = code
	h.render(w, r, http.StatusAccepted, "title-parental-code", "parental-code", p)
}

func (h *handler) parentalPage(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(nil)
	p.Token = r.URL.Query().Get("token")
	h.render(w, r, http.StatusOK, "title-parental-answer", "parental-answer", p)
}

func (h *handler) parentalAnswer(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		switch v.Get("answer") {
		case "approve", "refuse":
			err = h.s.AnswerParental(r.Context(), v.Get("token"), v.Get("answer") == "approve")
		default:
			err = privacy.InvalidRule("answer", "one-of", "must be approve or refuse")
		}
	}
	if err != nil {
		h.fail(w, r, err, "title-parental-answer", "failed", v)
		return
	}
	msg := "parental-refused"
	if v.Get("answer") == "approve" {
		msg = "parental-approved"
	}
	h.done(w, r, http.StatusOK, "title-parental-answered", msg)
}

// done answers with the message of the text template msg: {"message"} in JSON, or
// the page titled by the template title.
func (h *handler) done(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	text, err := say(h.tpl, msg, nil)
	if err != nil {
		h.fail(w, r, err, title, "failed", nil)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, status, map[string]string{"message": text})
		return
	}
	p := h.newPage(nil)
	p.Message = text
	h.render(w, r, status, title, "message", p)
}

// tokenPage shows the form tmpl, titled title, for a mailed link: a button, and for
// some a password. Following the link changes nothing, so a mail scanner that
// fetches links does not use them up.
func (h *handler) tokenPage(title, tmpl string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := h.newPage(nil)
		p.Token = r.URL.Query().Get("token")
		h.render(w, r, http.StatusOK, title, tmpl, p)
	}
}

// failToken answers err for the token form tmpl: for a browser, a refused field of
// the form shows it again with the message beside the field, as the link still
// works; anything else, the message alone.
func (h *handler) failToken(w http.ResponseWriter, r *http.Request, title, tmpl string, v url.Values, err error) {
	if !formFields[tmpl][privacy.FieldOf(err)] {
		tmpl = "failed"
	}
	h.fail(w, r, err, title, tmpl, v)
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		err = h.s.Verify(r.Context(), v.Get("token"), v.Get("password"))
	}
	if err != nil {
		h.failToken(w, r, "title-verify", "verify", v, err)
		return
	}
	h.done(w, r, http.StatusOK, "title-verified", "verified")
}

func (h *handler) signinPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "title-signin", "signin", h.newPage(nil))
}

func (h *handler) signin(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	var res SignedIn
	switch {
	case err != nil:
	case bot:
		err = errCredentials()
	default:
		err = onlyFields(v, "email", "password")
		if err == nil {
			res, err = h.s.SignIn(r.Context(), v.Get("email"), v.Get("password"))
		}
	}
	if err != nil {
		h.fail(w, r, err, "title-signin", "signin", v)
		return
	}
	h.session(w, r, http.StatusOK, res)
}

func (h *handler) session(w http.ResponseWriter, r *http.Request, status int, res SignedIn) {
	if web.WantsJSON(r) {
		web.WriteJSON(w, status, res)
		return
	}
	p := h.newPage(nil)
	if res.Challenge != "" {
		p.Token = res.Challenge
		if res.Passkey != nil {
			// For the page's script: the options of a passkey in place of a code.
			opts, err := json.Marshal(res.Passkey)
			if err != nil {
				h.fail(w, r, err, "title-signin", "signin", nil)
				return
			}
			p.Message = string(opts)
		}
		h.render(w, r, status, "title-signin-code", "signin-code", p)
		return
	}
	p.Token, p.Message = res.Token, res.Expires.Format(time.RFC3339)
	h.render(w, r, status, "title-signedin", "signedin", p)
}

// onlyFields refuses any field but the named ones and the form guards.
func onlyFields(v url.Values, names ...string) error {
	for k := range v {
		if k == web.TimestampField || k == web.Honeypot {
			continue
		}
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return privacy.InvalidRule(k, "unknown", "is not a field of this form")
		}
	}
	return nil
}

func (h *handler) signout(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer(r)
	if err := h.s.SignOut(r.Context(), tok); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) signoutAll(w http.ResponseWriter, r *http.Request) {
	n, err := h.s.SignOutEverywhere(r.Context())
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]int{"ended": n})
}

func (h *handler) resetPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "title-reset", "reset", h.newPage(nil))
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	if err == nil && !bot {
		if err = onlyFields(v, "email"); err == nil {
			err = h.s.RequestReset(r.Context(), v.Get("email"))
		}
	}
	if err != nil {
		h.fail(w, r, err, "title-reset", "reset", v)
		return
	}
	h.done(w, r, http.StatusAccepted, "title-reset-sent", "reset-sent")
}

func (h *handler) resetConfirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		err = h.s.ResetPassword(r.Context(), v.Get("token"), v.Get("password"))
	}
	if err != nil {
		h.failToken(w, r, "title-reset-confirm", "reset-confirm", v, err)
		return
	}
	h.done(w, r, http.StatusOK, "title-password-changed", "password-changed")
}

func (h *handler) emailConfirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var res SignedIn
	if err == nil {
		res, err = h.s.ConfirmEmailChange(r.Context(), v.Get("token"))
	}
	if err != nil {
		h.failToken(w, r, "title-email-confirm", "email-confirm", v, err)
		return
	}
	h.session(w, r, http.StatusOK, res)
}

// api answers a JSON-only endpoint.
func (h *handler) api(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	web.WriteJSON(w, status, v)
}

// meView is the signed-in member's own account.
type meView struct {
	Account
	Usage int64 `json:"usage"`
	Quota int64 `json:"quota"`
}

func (h *handler) me(w http.ResponseWriter, r *http.Request) {
	a, err := h.s.Me(r.Context())
	var out meView
	if err == nil {
		out.Account = a
		out.Usage, out.Quota, err = h.s.Usage(r.Context())
	}
	h.api(w, r, http.StatusOK, out, err)
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	out, err := h.s.ExportMe(r.Context())
	if err == nil {
		w.Header().Set("Content-Disposition", `attachment; filename="my-data.json"`)
	}
	h.api(w, r, http.StatusOK, out, err)
}

func (h *handler) changePassword(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var res SignedIn
	if err == nil {
		if err = onlyFields(v, "current_password", "new_password"); err == nil {
			res, err = h.s.ChangePassword(r.Context(), v.Get("current_password"), v.Get("new_password"))
		}
	}
	h.api(w, r, http.StatusOK, res, err)
}

func (h *handler) changeEmail(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		if err = onlyFields(v, "email", "password"); err == nil {
			err = h.s.RequestEmailChange(r.Context(), v.Get("email"), v.Get("password"))
		}
	}
	var msg string
	if err == nil {
		msg, err = say(h.tpl, "email-change-sent", nil)
	}
	h.api(w, r, http.StatusAccepted, map[string]string{"message": msg}, err)
}

func (h *handler) deleteMe(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var res []privacy.Erasure
	if err == nil {
		if err = onlyFields(v, "password"); err == nil {
			res, err = h.s.DeleteMe(r.Context(), v.Get("password"))
		}
	}
	h.api(w, r, http.StatusOK, map[string]any{"erased": res}, err)
}

func (h *handler) myResources(w http.ResponseWriter, r *http.Request) {
	rs, err := h.s.MyResources(r.Context())
	h.api(w, r, http.StatusOK, map[string]any{"resources": rs}, err)
}

func (h *handler) community(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	rs, err := h.s.CommunityResources(r.Context(), limit)
	h.api(w, r, http.StatusOK, map[string]any{"resources": rs}, err)
}

func (h *handler) addResource(w http.ResponseWriter, r *http.Request) {
	if _, err := signedIn(r.Context()); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		title, vis, data, err := h.readUpload(w, r)
		var res Resource
		if err == nil {
			res, err = h.s.AddPhoto(r.Context(), title, vis, data)
		}
		h.api(w, r, http.StatusCreated, res, err)
		return
	}
	v, err := web.Decode(r, int64(h.s.cfg.NoteMaxLen)*4+4096)
	var res Resource
	if err == nil {
		if err = onlyFields(v, "kind", "title", "body", "visibility"); err == nil {
			res, err = h.s.AddText(r.Context(), v.Get("kind"), v.Get("title"), v.Get("body"), v.Get("visibility"))
		}
	}
	h.api(w, r, http.StatusCreated, res, err)
}

// readUpload reads a multipart photo upload held in memory, never on disk: the
// body is capped at the photo limit plus room for the other fields.
func (h *handler) readUpload(w http.ResponseWriter, r *http.Request) (title, vis string, data []byte, err error) {
	limit := h.s.cfg.PhotoMaxBytes + 64<<10
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", nil, privacy.Invalid("body", "send the photo as multipart/form-data")
	}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return "", "", nil, privacy.Invalid("file", "the photo is larger than %d MiB", h.s.cfg.PhotoMaxBytes>>20)
			}
			return "", "", nil, privacy.Invalid("body", "the upload could not be read")
		}
		name := part.FormName()
		if seen[name] {
			return "", "", nil, privacy.InvalidRule(name, "repeated", "was given more than once")
		}
		seen[name] = true
		var max int64
		switch name {
		case "file":
			max = h.s.cfg.PhotoMaxBytes
		case "title", "visibility", "kind":
			max = 4 * MaxTitleLen
		default:
			return "", "", nil, privacy.InvalidRule(name, "unknown", "is not a field of this form")
		}
		b, err := io.ReadAll(io.LimitReader(part, max+1))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return "", "", nil, privacy.Invalid("file", "the photo is larger than %d MiB", h.s.cfg.PhotoMaxBytes>>20)
			}
			return "", "", nil, privacy.Invalid(name, "could not be read")
		}
		if int64(len(b)) > max {
			if name == "file" {
				return "", "", nil, privacy.Invalid("file", "the photo is larger than %d MiB", h.s.cfg.PhotoMaxBytes>>20)
			}
			return "", "", nil, privacy.Invalid(name, "is too long")
		}
		switch name {
		case "file":
			data = b
		case "title":
			title = string(b)
		case "visibility":
			vis = string(b)
		case "kind":
			if string(b) != KindPhoto {
				return "", "", nil, privacy.Invalid("kind", "an upload is a photo")
			}
		}
	}
	if !seen["file"] {
		return "", "", nil, privacy.Invalid("file", "choose a photo to upload")
	}
	return title, vis, data, nil
}

func (h *handler) resource(w http.ResponseWriter, r *http.Request) {
	res, err := h.s.GetResource(r.Context(), r.PathValue("id"))
	res.Data = nil
	h.api(w, r, http.StatusOK, res, err)
}

func (h *handler) content(w http.ResponseWriter, r *http.Request) {
	res, err := h.s.GetResource(r.Context(), r.PathValue("id"))
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if res.Kind == KindPhoto {
		w.Header().Set("Content-Type", res.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(res.Data)))
		_, _ = w.Write(res.Data)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, res.Body)
}

func (h *handler) thumbnail(w http.ResponseWriter, r *http.Request) {
	jpg, err := h.s.Thumbnail(r.Context(), r.PathValue("id"))
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(jpg)))
	_, _ = w.Write(jpg)
}

func (h *handler) deleteResource(w http.ResponseWriter, r *http.Request) {
	if err := h.s.DeleteResource(r.Context(), r.PathValue("id")); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// staff answers the list of staff members: JSON for API clients, or the staff
// page, which says what its form just did (?done=granted or revoked, and ?role).
func (h *handler) staff(w http.ResponseWriter, r *http.Request) {
	if web.WantsJSON(r) {
		st, err := h.s.Staff(r.Context())
		h.api(w, r, http.StatusOK, map[string]any{"staff": st}, err)
		return
	}
	q := r.URL.Query()
	done, role := q.Get("done"), privacy.Role(q.Get("role"))
	if done != "granted" && done != "revoked" || !role.Valid() {
		done, role = "", ""
	}
	h.staffPage(w, r, http.StatusOK, nil, nil, done, role)
}

// role answers the grant (or revoke) form: 204 to an API client; for a browser,
// 303 See Other to the staff page saying what was done, or the page again with
// the faults, those of the grant form beside its fields.
func (h *handler) role(grant bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := web.Decode(r, 0)
		if err == nil {
			if err = onlyFields(v, "email", "role"); err == nil {
				if grant {
					err = h.s.Grant(r.Context(), v.Get("email"), privacy.Role(v.Get("role")))
				} else {
					err = h.s.Revoke(r.Context(), v.Get("email"), privacy.Role(v.Get("role")))
				}
			}
		}
		switch {
		case web.WantsJSON(r) && err != nil:
			web.WriteJSONError(w, r, h.cfg.Log, err)
		case web.WantsJSON(r):
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, privacy.ErrUnauthorized) || errors.Is(err, privacy.ErrForbidden):
			h.fail(w, r, err, "title-staff", "failed", nil)
		case err != nil && grant:
			h.staffPage(w, r, web.HTTPStatus(err), v, err, "", "")
		case err != nil:
			h.staffPage(w, r, web.HTTPStatus(err), nil, err, "", "") // the revoke buttons' hidden fields are no field to mark
		default:
			done := "revoked"
			if grant {
				done = "granted"
			}
			http.Redirect(w, r, h.base+"/staff?"+url.Values{"done": {done}, "role": {v.Get("role")}}.Encode(), http.StatusSeeOther)
		}
	}
}

// staffView is what the "staff" template receives: the page of the grant form,
// and every staff member.
type staffView struct {
	page
	Members []staffRow
	Roles   []privacy.Role // every role, for the grant form
	Done    string         // "granted" or "revoked" when the form just did so, else ""
	Role    privacy.Role   // the role Done names
}

// staffRow is one staff member: Since is when the account was made, as RFC 3339
// (ISO, for <time datetime>, which a host's script may show in the reader's zone)
// and as a UTC date (Text).
type staffRow struct {
	Email, DisplayName string
	Since              struct{ ISO, Text string }
	Roles              []heldRole
}

// heldRole is a role a staff member holds; Revocable is false for the admin
// role of the admin looking, which only another admin can take.
type heldRole struct {
	Role      privacy.Role
	Revocable bool
}

// staffPage renders the staff page with status: the list, and the grant form
// holding v with the faults of err (each beside its field when v is the grant
// form's, above the form otherwise).
func (h *handler) staffPage(w http.ResponseWriter, r *http.Request, status int, v url.Values, err error, done string, role privacy.Role) {
	st, lerr := h.s.Staff(r.Context())
	if lerr != nil {
		h.fail(w, r, lerr, "title-staff", "failed", nil)
		return
	}
	p := staffView{page: h.newPage(v), Roles: privacy.Roles(), Done: done, Role: role}
	p.Faults = web.FieldErrors(err, func(f string) string {
		if v == nil { // not the grant form's fault
			return ""
		}
		return h.label(r, "staff", f)
	})
	p.Errors = web.ByField(p.Faults)
	self := privacy.ActorFrom(r.Context()).Email
	for _, m := range st {
		row := staffRow{Email: m.Email, DisplayName: m.DisplayName}
		row.Since.ISO, row.Since.Text = m.Created.UTC().Format(time.RFC3339), m.Created.UTC().Format(time.DateOnly)
		for _, role := range m.Roles {
			row.Roles = append(row.Roles, heldRole{role, role != privacy.RoleAdmin || privacy.AddressKey(m.Email) != privacy.AddressKey(self)})
		}
		p.Members = append(p.Members, row)
	}
	h.render(w, r, status, "title-staff", "staff", p)
}

func (h *handler) signinCode(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	var res SignedIn
	switch {
	case err != nil:
	case bot:
		err = errCredentials()
	default:
		if err = onlyFields(v, "challenge", "code"); err == nil {
			res, err = h.s.SignInWithCode(r.Context(), v.Get("challenge"), v.Get("code"))
		}
	}
	if err != nil {
		// The challenge is used up, right or wrong: a browser signs in again.
		h.fail(w, r, err, "title-signin", "signin", nil)
		return
	}
	h.session(w, r, http.StatusOK, res)
}

func (h *handler) confirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		if err = onlyFields(v, "password", "code"); err == nil {
			err = h.s.Confirm(r.Context(), v.Get("password"), v.Get("code"))
		}
	}
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) factors(w http.ResponseWriter, r *http.Request) {
	fs, err := h.s.MyFactors(r.Context())
	h.api(w, r, http.StatusOK, fs, err)
}

func (h *handler) enrolTOTP(w http.ResponseWriter, r *http.Request) {
	e, err := h.s.EnrolTOTP(r.Context())
	h.api(w, r, http.StatusCreated, e, err)
}

func (h *handler) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var codes []string
	if err == nil {
		if err = onlyFields(v, "id", "code"); err == nil {
			codes, err = h.s.ConfirmTOTP(r.Context(), v.Get("id"), v.Get("code"))
		}
	}
	h.api(w, r, http.StatusOK, map[string]any{"recovery_codes": codes}, err)
}

func (h *handler) disableFactor(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		if err = onlyFields(v, "code"); err == nil {
			err = h.s.DisableFactor(r.Context(), r.PathValue("id"), v.Get("code"))
		}
	}
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	list, err := h.s.MySessions(r.Context())
	h.api(w, r, http.StatusOK, map[string]any{"sessions": list}, err)
}

func (h *handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	if err := h.s.RevokeSession(r.Context(), r.PathValue("id")); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) revokeOthers(w http.ResponseWriter, r *http.Request) {
	n, err := h.s.RevokeOtherSessions(r.Context())
	h.api(w, r, http.StatusOK, map[string]int{"ended": n}, err)
}

func (h *handler) passkeySigninBegin(w http.ResponseWriter, r *http.Request) {
	start, err := h.s.BeginPasskeySignIn(r.Context())
	h.api(w, r, http.StatusOK, start, err)
}

func (h *handler) passkeySignin(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var res SignedIn
	if err == nil {
		if err = onlyFields(v, "ceremony", "credential"); err == nil {
			res, err = h.s.SignInWithPasskey(r.Context(), v.Get("ceremony"), v.Get("credential"))
		}
	}
	h.api(w, r, http.StatusOK, res, err)
}

func (h *handler) passkeyConfirmBegin(w http.ResponseWriter, r *http.Request) {
	start, err := h.s.BeginPasskeyConfirm(r.Context())
	h.api(w, r, http.StatusOK, start, err)
}

func (h *handler) passkeyConfirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		if err = onlyFields(v, "ceremony", "credential"); err == nil {
			err = h.s.ConfirmWithPasskey(r.Context(), v.Get("ceremony"), v.Get("credential"))
		}
	}
	if err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) passkeys(w http.ResponseWriter, r *http.Request) {
	list, err := h.s.MyPasskeys(r.Context())
	h.api(w, r, http.StatusOK, map[string]any{"passkeys": list}, err)
}

func (h *handler) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	start, err := h.s.BeginPasskey(r.Context())
	h.api(w, r, http.StatusOK, start, err)
}

func (h *handler) addPasskey(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var p Passkey
	if err == nil {
		if err = onlyFields(v, "ceremony", "name", "credential"); err == nil {
			p, err = h.s.FinishPasskey(r.Context(), v.Get("ceremony"), v.Get("name"), v.Get("credential"))
		}
	}
	h.api(w, r, http.StatusCreated, p, err)
}

func (h *handler) removePasskey(w http.ResponseWriter, r *http.Request) {
	if err := h.s.RemovePasskey(r.Context(), r.PathValue("id")); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
