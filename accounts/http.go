package accounts

import (
	"bytes"
	"embed"
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

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

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
}

type handler struct {
	s    *Service
	cfg  HandlerConfig
	mux  *http.ServeMux
	base string // the path prefix links on pages use, from Config.BaseURL
}

// Handler is the accounts HTTP handler: a JSON API for everything the Service
// does, and server-rendered pages (no JavaScript) for registering, signing in,
// resetting a password and following mailed links. Mount it at the Service's
// Config.BaseURL, with any router:
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
//	POST     /signout, /signout/all    end this session, or every one
//	GET|POST /reset, /reset/confirm    password reset by mail
//	GET|POST /email/confirm            confirm a new address (token)
//	GET      /me, /me/export           the account; everything held about it
//	POST     /me/password, /me/email, /me/delete
//	GET|POST /me/resources             list, upload (multipart "file") or write a note or message
//	GET      /resources                what members share with the community
//	GET      /resources/{id}, /resources/{id}/content
//	DELETE   /resources/{id}
//	GET      /staff; POST /staff/grant, /staff/revoke   admins only
//
// The handler sets no cookie: a session travels as "Authorization: Bearer". It
// authenticates requests itself (Service.Authenticate) and refuses cross-origin
// form posts (http.CrossOriginProtection). Every response is Cache-Control: no-store.
type Handler struct {
	handler http.Handler
}

// NewHandler returns the handler for s, mounted at the path of s's Config.BaseURL.
// It returns an error when s is nil or cfg.Signer's key is shorter than 32 bytes.
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
	h := &handler{s: s, cfg: cfg, mux: http.NewServeMux(), base: base}
	m := h.mux
	m.HandleFunc("GET /register", h.registerPage)
	m.HandleFunc("POST /register", h.limited(h.register))
	m.HandleFunc("POST /parental/request", h.limited(h.parentalRequest))
	m.HandleFunc("GET /parental", h.parentalPage)
	m.HandleFunc("POST /parental/answer", h.parentalAnswer)
	m.HandleFunc("GET /verify", h.tokenPage(verifyForm))
	m.HandleFunc("POST /verify", h.limited(h.verify))
	m.HandleFunc("GET /signin", h.signinPage)
	m.HandleFunc("POST /signin", h.limited(h.signin))
	m.HandleFunc("POST /signout", h.signout)
	m.HandleFunc("POST /signout/all", h.signoutAll)
	m.HandleFunc("GET /reset", h.resetPage)
	m.HandleFunc("POST /reset", h.limited(h.reset))
	m.HandleFunc("GET /reset/confirm", h.tokenPage(resetForm))
	m.HandleFunc("POST /reset/confirm", h.limited(h.resetConfirm))
	m.HandleFunc("GET /email/confirm", h.tokenPage(emailForm))
	m.HandleFunc("POST /email/confirm", h.emailConfirm)
	m.HandleFunc("GET /me", h.me)
	m.HandleFunc("GET /me/export", h.export)
	m.HandleFunc("POST /me/password", h.limited(h.changePassword))
	m.HandleFunc("POST /me/email", h.limited(h.changeEmail))
	m.HandleFunc("POST /me/delete", h.limited(h.deleteMe))
	m.HandleFunc("GET /me/resources", h.myResources)
	m.HandleFunc("POST /me/resources", h.addResource)
	m.HandleFunc("GET /resources", h.community)
	m.HandleFunc("GET /resources/{id}", h.resource)
	m.HandleFunc("GET /resources/{id}/content", h.content)
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
	w.Header().Set("Referrer-Policy", "no-referrer") // mailed links carry tokens in the URL
	h.mux.ServeHTTP(w, r)
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
			a, err := s.Actor(r.Context(), tok)
			switch {
			case err == nil:
				r = r.WithContext(privacy.WithActor(r.Context(), a))
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
			h.fail(w, r, err, "Too many requests", "message", nil)
			return
		}
		next(w, r)
	}
}

// page is what every template receives.
type page struct {
	Base    string
	Values  url.Values
	Errors  map[string]string
	Error   string
	Stamp   string
	Token   string
	Message string
	Action  string
	Button  string
	// PasswordLabel, when set, adds a password field labelled so to a token form.
	PasswordLabel, PasswordAuto string
}

type field struct {
	Name, Label, Type, Value, Auto, Err string
	Required                            bool
}

// Field describes one input for the "field" template; passwords are never echoed.
func (p page) Field(name, label, typ, auto string, required bool) field {
	f := field{Name: name, Label: label, Type: typ, Auto: auto, Required: required, Err: p.Errors[name]}
	if typ != "password" {
		f.Value = p.Values.Get(name)
	}
	return f
}

// Checked reports whether a checkbox was sent checked, to keep it on re-render.
func (p page) Checked(name string) bool {
	on, _ := checkbox(name, p.Values.Get(name))
	return on
}

func (h *handler) newPage(v url.Values) page {
	p := page{Base: h.base, Values: v, Errors: map[string]string{}}
	if p.Values == nil {
		p.Values = url.Values{}
	}
	if h.cfg.Signer != nil {
		p.Stamp = h.cfg.Signer.Stamp()
	}
	return p
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, title, tmpl string, p page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, tmpl, p); err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "render", "template", tmpl, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.cfg.Layout(w, r, status, title, template.HTML(buf.String()))
}

// fail answers err: JSON for API clients; for a browser, the form tmpl again with
// the message beside the field it names and what was typed kept.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, title, tmpl string, v url.Values) {
	if web.WantsJSON(r) || tmpl == "" {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	d := web.Describe(err)
	if d.Error.Status == http.StatusInternalServerError {
		h.cfg.Log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	web.SetRetryAfter(w, err)
	p := h.newPage(v)
	p.Error = d.Error.Message
	if d.Error.Field != "" {
		p.Errors[d.Error.Field] = d.Error.Message
		if formFields[tmpl][d.Error.Field] {
			// The message sits beside the field; the alert points there.
			p.Error = "Please correct the field marked below."
		}
	}
	if tmpl == "message" {
		p.Message, p.Error = d.Error.Message, ""
	}
	if t := v.Get("token"); t != "" {
		p.Token = t
	}
	h.render(w, r, d.Error.Status, title, tmpl, p)
}

// formFields lists the fields each form template shows, so an error about one of
// them is shown beside it and any other at the top of the page.
var formFields = map[string]map[string]bool{
	"register":      {"email": true, "password": true, "display_name": true, "birth_date": true, "newsletter": true, "promotions": true, "consent_code": true},
	"register-code": {"email": true, "password": true, "display_name": true, "birth_date": true, "consent_code": true},
	"signin":        {"email": true, "password": true},
	"reset":         {"email": true},
	"parental":      {"parent_email": true},
	"token-form":    {"password": true},
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
	p := h.newPage(nil)
	if r.URL.Query().Get("code") != "" {
		h.render(w, r, http.StatusOK, "Create an account", "register-code", p)
		return
	}
	h.render(w, r, http.StatusOK, "Create an account", "register", p)
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	tmpl := "register"
	if v.Has("consent_code") {
		tmpl = "register-code"
	}
	if err != nil {
		h.fail(w, r, err, "Create an account", tmpl, v)
		return
	}
	res := RegisterResult{Pending: true, Message: pendingMessage}
	if !bot {
		in, err := ParseRegistration(v)
		if err == nil {
			res, err = h.s.Register(r.Context(), in)
		}
		if err != nil {
			h.fail(w, r, err, "Create an account", tmpl, v)
			return
		}
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
		h.render(w, r, http.StatusOK, "Ask a parent", "parental", p)
		return
	}
	h.render(w, r, http.StatusAccepted, "Check your inbox", "message", p)
}

func (h *handler) parentalRequest(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	if err == nil && !bot {
		for k := range v {
			if k != "parent_email" && k != web.TimestampField && k != web.Honeypot {
				err = privacy.Invalid(k, "is not a field of this form: give only your parent's address")
			}
		}
	}
	var code string
	if err == nil && !bot {
		code, err = h.s.RequestParentalConsent(r.Context(), v.Get("parent_email"))
	}
	if err != nil {
		h.fail(w, r, err, "Ask a parent", "parental", v)
		return
	}
	if web.WantsJSON(r) {
		web.WriteJSON(w, http.StatusAccepted, map[string]string{"code": code,
			"message": "We have written to your parent. When they agree, register again with this code."})
		return
	}
	p := h.newPage(nil)
	p.Message = code
	h.render(w, r, http.StatusAccepted, "We have asked your parent", "parental-code", p)
}

func (h *handler) parentalPage(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(nil)
	p.Token = r.URL.Query().Get("token")
	h.render(w, r, http.StatusOK, "A child asks to register", "parental-answer", p)
}

func (h *handler) parentalAnswer(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		switch v.Get("answer") {
		case "approve", "refuse":
			err = h.s.AnswerParental(r.Context(), v.Get("token"), v.Get("answer") == "approve")
		default:
			err = privacy.Invalid("answer", "must be approve or refuse")
		}
	}
	if err != nil {
		h.fail(w, r, err, "A child asks to register", "message", v)
		return
	}
	msg := "Thank you. You refused: we have deleted your address, and nothing about the child was ever stored."
	if v.Get("answer") == "approve" {
		msg = "Thank you. Your child can now register with the code we showed them. We will send you a confirmation in a day, with a link to change your mind."
	}
	h.done(w, r, http.StatusOK, "Thank you", msg)
}

func (h *handler) done(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	if web.WantsJSON(r) {
		web.WriteJSON(w, status, map[string]string{"message": msg})
		return
	}
	p := h.newPage(nil)
	p.Message = msg
	h.render(w, r, status, title, "message", p)
}

// tokenForm is the page a mailed link opens: a button, and for some a password.
type tokenForm struct {
	action, title, message, button string
	passwordLabel, passwordAuto    string // no password field when empty
}

var (
	verifyForm = tokenForm{action: "/verify", title: "Confirm your address", button: "Confirm",
		message:       "Confirm your address to finish creating your account.",
		passwordLabel: "The password you chose when you registered", passwordAuto: "current-password"}
	resetForm = tokenForm{action: "/reset/confirm", title: "Choose a new password", button: "Set password",
		message:       "Choose a new password. You will be signed out everywhere.",
		passwordLabel: "New password (at least 8 characters)", passwordAuto: "new-password"}
	emailForm = tokenForm{action: "/email/confirm", title: "Confirm your new address", button: "Confirm",
		message: "Confirm that your account should use this address from now on."}
)

// tokenPage shows a button for a mailed link: following the link changes nothing,
// so a mail scanner that fetches links does not use them up.
func (h *handler) tokenPage(f tokenForm) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.renderToken(w, r, http.StatusOK, f, r.URL.Query().Get("token"), "")
	}
}

// renderToken renders f for token, with passwordErr beside the password field.
func (h *handler) renderToken(w http.ResponseWriter, r *http.Request, status int, f tokenForm, token, passwordErr string) {
	p := h.newPage(nil)
	p.Token, p.Action, p.Message, p.Button = token, f.action, f.message, f.button
	p.PasswordLabel, p.PasswordAuto = f.passwordLabel, f.passwordAuto
	if passwordErr != "" {
		p.Errors["password"] = passwordErr
	}
	h.render(w, r, status, f.title, "token-form", p)
}

// failToken answers err for a token form: for a browser, a refused password shows
// the form again with the message beside the field, as the link still works;
// anything else, the message alone.
func (h *handler) failToken(w http.ResponseWriter, r *http.Request, f tokenForm, v url.Values, err error) {
	if f.passwordLabel == "" || privacy.FieldOf(err) != "password" || web.WantsJSON(r) {
		h.fail(w, r, err, f.title, "message", v)
		return
	}
	h.renderToken(w, r, http.StatusBadRequest, f, v.Get("token"), web.Describe(err).Error.Message)
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		err = h.s.Verify(r.Context(), v.Get("token"), v.Get("password"))
	}
	if err != nil {
		h.failToken(w, r, verifyForm, v, err)
		return
	}
	h.done(w, r, http.StatusOK, "Address confirmed", "Your address is confirmed. You can sign in now.")
}

func (h *handler) signinPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "Sign in", "signin", h.newPage(nil))
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
			ctx := WithClient(r.Context(), web.ClientAddr(r, h.cfg.TrustedHeader))
			res, err = h.s.SignIn(ctx, v.Get("email"), v.Get("password"))
		}
	}
	if err != nil {
		h.fail(w, r, err, "Sign in", "signin", v)
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
	p.Token, p.Message = res.Token, res.Expires.Format(time.RFC3339)
	h.render(w, r, status, "Signed in", "signedin", p)
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
			return privacy.Invalid(k, "is not a field of this form")
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
	h.render(w, r, http.StatusOK, "Reset your password", "reset", h.newPage(nil))
}

const resetMessage = "If this address has an account, we have sent it a link to choose a new password. It works for one hour."

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	v, bot, err := h.decode(r)
	if err == nil && !bot {
		if err = onlyFields(v, "email"); err == nil {
			err = h.s.RequestReset(r.Context(), v.Get("email"))
		}
	}
	if err != nil {
		h.fail(w, r, err, "Reset your password", "reset", v)
		return
	}
	h.done(w, r, http.StatusAccepted, "Check your inbox", resetMessage)
}

func (h *handler) resetConfirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	if err == nil {
		err = h.s.ResetPassword(r.Context(), v.Get("token"), v.Get("password"))
	}
	if err != nil {
		h.failToken(w, r, resetForm, v, err)
		return
	}
	h.done(w, r, http.StatusOK, "Password changed", "Your password is changed and every session was ended. Sign in with the new password.")
}

func (h *handler) emailConfirm(w http.ResponseWriter, r *http.Request) {
	v, err := web.Decode(r, 0)
	var res SignedIn
	if err == nil {
		res, err = h.s.ConfirmEmailChange(r.Context(), v.Get("token"))
	}
	if err != nil {
		h.fail(w, r, err, "Confirm your new address", "message", v)
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
	h.api(w, r, http.StatusAccepted, map[string]string{"message": "We have sent a link to the new address. Your address changes when you follow it."}, err)
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
			return "", "", nil, privacy.Invalid(name, "was given more than once")
		}
		seen[name] = true
		var max int64
		switch name {
		case "file":
			max = h.s.cfg.PhotoMaxBytes
		case "title", "visibility", "kind":
			max = 4 * MaxTitleLen
		default:
			return "", "", nil, privacy.Invalid(name, "is not a field of this form")
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
	w.Header().Set("X-Content-Type-Options", "nosniff")
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

func (h *handler) deleteResource(w http.ResponseWriter, r *http.Request) {
	if err := h.s.DeleteResource(r.Context(), r.PathValue("id")); err != nil {
		web.WriteJSONError(w, r, h.cfg.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) staff(w http.ResponseWriter, r *http.Request) {
	st, err := h.s.Staff(r.Context())
	h.api(w, r, http.StatusOK, map[string]any{"staff": st}, err)
}

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
		if err != nil {
			web.WriteJSONError(w, r, h.cfg.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
