package contact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

// Field limits, in characters.
const (
	MaxName     = privacy.MaxNameLen // 100
	MaxSubject  = 150
	MaxCategory = 64
	MaxReply    = 20000
	// DefaultMaxMessage is Config.MaxMessage's default.
	DefaultMaxMessage = 10000
)

// CategoryRequests is the policy category the contact capability keeps: requests
// with their threads.
const CategoryRequests = "contact-requests"

// Defaults of Config's durations.
const (
	DefaultRetention    = 180 * 24 * time.Hour
	DefaultAnswerWindow = 7 * 24 * time.Hour
	DefaultAckInterval  = 24 * time.Hour
)

// DefaultCategories are offered when Config.Categories is empty.
var DefaultCategories = []string{"General question", "Support", "Feedback"}

// Config configures a Service. Zero fields take the defaults documented on them.
type Config struct {
	Store   Store            // required
	Mailer  *privacy.Mailer  // required; the Service registers its Allower for PurposeSupport with it
	Auditor *privacy.Auditor // required: every staff read is recorded through it
	Policy  *privacy.Policy  // the Mailer's policy when nil
	Log     *slog.Logger     // discarded when nil
	Now     func() time.Time // time.Now
	Rand    io.Reader        // randomness for references; crypto/rand

	// SupportInbox is the operator address new requests are sent to, e.g.
	// support@example.com. Required; must be in one of the policy's operator domains.
	SupportInbox string
	// StaffURL, when set, is the absolute URL of the staff pages (where the handler is
	// mounted); notifications link to the request there.
	StaffURL string

	Categories  []string // the choices offered; DefaultCategories
	MaxMessage  int      // DefaultMaxMessage characters
	AllowMarkup bool     // accept HTML tags in the message (shown escaped); refused by default

	// Retention is how long a closed request is kept (DefaultRetention): Purge
	// removes it then, and the policy page says so.
	Retention time.Duration
	// AnswerWindow is how long after closing a request mail about it may still be
	// delivered: DefaultAnswerWindow, longer than the outbox retries a message.
	AnswerWindow time.Duration

	// Acknowledge sends the visitor a fixed-text acknowledgement (the "ack"
	// templates, given only the reference). Off by default: the address is not
	// verified, so anything sent to it may reach someone who never wrote.
	Acknowledge bool
	AckInterval time.Duration // at most one acknowledgement per address per interval; DefaultAckInterval

	// Templates is the host's overrides of DefaultTemplates; nil for the defaults.
	// The mail renders from them (templates/mail.txt): a file named as a default
	// file replaces it, and any file may redefine single templates.
	Templates fs.FS
}

// Service is the contact capability: visitors submit requests; staff with the
// support role list, read, answer and close them. It is a privacy.Holder (with
// Exporter, Eraser and Purger) and the privacy.Allower for PurposeSupport.
type Service struct {
	cfg    Config
	policy *privacy.Policy
	log    *slog.Logger
	mail   *texttemplate.Template
}

// New returns a Service for cfg and registers it with cfg.Mailer as an Allower for
// PurposeSupport. It returns an error naming what is missing or wrong,
// among them a cfg.Templates that does not parse or defines a template the
// package has not.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("contact: Store is required"))
	}
	if cfg.Mailer == nil {
		errs = append(errs, errors.New("contact: Mailer is required"))
	}
	if cfg.Auditor == nil || cfg.Auditor.Log == nil {
		errs = append(errs, errors.New("contact: Auditor with a Log is required"))
	}
	if cfg.Policy == nil && cfg.Mailer != nil {
		cfg.Policy = cfg.Mailer.Policy()
	}
	if cfg.Policy == nil {
		errs = append(errs, errors.New("contact: Policy is required"))
	}
	inbox, err := privacy.NormalizeEmail(cfg.SupportInbox)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("contact: SupportInbox: %w", err))
	case cfg.Policy != nil && !cfg.Policy.IsOperatorAddress(inbox):
		errs = append(errs, errors.New("contact: SupportInbox must be in one of the policy's operator domains"))
	}
	cfg.SupportInbox = inbox
	if cfg.StaffURL != "" {
		if err := privacy.CheckURL("StaffURL", cfg.StaffURL); err != nil {
			errs = append(errs, fmt.Errorf("contact: %w", err))
		}
		cfg.StaffURL = strings.TrimRight(cfg.StaffURL, "/")
	}
	if len(cfg.Categories) == 0 {
		cfg.Categories = DefaultCategories
	}
	for _, c := range cfg.Categories {
		if err := privacy.CheckText("category", c, MaxCategory, true); err != nil || hasMarkup(c) {
			errs = append(errs, fmt.Errorf("contact: category %q is empty, too long or holds a control character or markup", c))
		}
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.AnswerWindow <= 0 {
		cfg.AnswerWindow = DefaultAnswerWindow
	}
	if cfg.AckInterval <= 0 {
		cfg.AckInterval = DefaultAckInterval
	}
	tmpl, err := parseTemplates(cfg.Templates)
	if err != nil {
		errs = append(errs, fmt.Errorf("contact: Config.Templates: %w", err))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Store != nil && cfg.Mailer != nil {
		if err := privacy.SameDatabase("contact", cfg.Store, cfg.Mailer.Work()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, policy: cfg.Policy, log: cfg.Log, mail: tmpl.Text}
	cfg.Mailer.AllowContract(s.Contract())
	return s, nil
}

// CategoryChoices returns the categories a visitor may choose.
func (s *Service) CategoryChoices() []string { return slices.Clone(s.cfg.Categories) }

// MaxMessage returns the longest message accepted, in characters.
func (s *Service) MaxMessage() int { return s.cfg.MaxMessage }

// now is truncated to what MySQL's DATETIME(6) keeps, so both stores agree.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Submission is what a visitor sends through the contact form.
type Submission struct {
	Name     string `json:"name,omitempty"`
	Email    string `json:"email"`
	Subject  string `json:"subject"`
	Message  string `json:"message"`
	Category string `json:"category,omitempty"`
}

// SubmissionFrom reads a Submission from decoded form fields (see web.Decode).
// Fields it does not know are ignored.
func SubmissionFrom(v url.Values) Submission {
	return Submission{Name: v.Get("name"), Email: v.Get("email"), Subject: v.Get("subject"),
		Message: v.Get("message"), Category: v.Get("category")}
}

// Validate checks in and returns it normalised: single-line fields trimmed, line
// breaks in the message as "\n", the address normalised. It returns every fault at
// once, joined; each is ErrInvalid naming its field (privacy.FieldOf names the first).
//
// Single-line fields (name, email, subject, category) refuse every control
// character, so nothing typed can add a mail header. HTML tags are refused in every
// field unless Config.AllowMarkup lets the message hold them.
func (s *Service) Validate(in Submission) (Submission, error) {
	var errs []error
	out := Submission{
		Name:     strings.TrimSpace(in.Name),
		Subject:  strings.TrimSpace(in.Subject),
		Category: strings.TrimSpace(in.Category),
		Message:  normalizeNewlines(in.Message),
	}
	line := func(field, v string, max int, required bool) bool {
		err := privacy.CheckText(field, v, max, required)
		switch {
		case err != nil:
		case hasMarkup(v):
			err = privacy.InvalidRule(field, "markup", "must be plain text: remove the HTML tags")
		case hasBidiOverride(v):
			err = privacy.InvalidRule(field, "bidi", "contains a text-direction control character")
		}
		if err != nil {
			errs = append(errs, err)
		}
		return err == nil
	}
	line("name", out.Name, MaxName, false)
	email, err := privacy.NormalizeEmail(in.Email)
	if err != nil {
		errs = append(errs, err)
	}
	out.Email = email
	line("subject", out.Subject, MaxSubject, true)
	if err := privacy.CheckMultiline("message", out.Message, s.cfg.MaxMessage, true); err != nil {
		errs = append(errs, err)
	} else if !s.cfg.AllowMarkup && hasMarkup(out.Message) {
		errs = append(errs, privacy.InvalidRule("message", "markup", "must be plain text: remove the HTML tags (a tag is < followed by a letter, / or !)"))
	}
	if out.Category != "" {
		if line("category", out.Category, MaxCategory, false) && !slices.Contains(s.cfg.Categories, out.Category) {
			errs = append(errs, privacy.Invalid("category", "choose one of the listed categories"))
		}
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

func normalizeNewlines(s string) string {
	if !strings.ContainsRune(s, '\r') {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// hasMarkup reports whether s holds something a browser would read as a tag, a
// comment or a declaration. "a < b" and "<3" are not markup.
func hasMarkup(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0 && i+1 < len(s); {
		c := s[i+1]
		if c == '/' || c == '!' || c == '?' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return true
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// hasBidiOverride reports explicit direction overrides and isolates, which let a
// name or subject display as something other than what it is.
func hasBidiOverride(s string) bool {
	for _, r := range s {
		if r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' {
			return true
		}
	}
	return false
}

// Submit validates in, stores it as a new open request with a fresh reference and,
// in the same unit of work, enqueues the notification to the support inbox (From an
// operator address, Reply-To the visitor), and the acknowledgement when enabled and
// due. Either the request and its notification are both kept, or neither is.
//
// Returns the errors of Validate (ErrInvalid naming the field), or ErrUnavailable
// when the notification cannot be enqueued (the support inbox suppressed, the
// outbox away); other errors are internal.
func (s *Service) Submit(ctx context.Context, in Submission) (Request, error) {
	in, err := s.Validate(in)
	if err != nil {
		return Request{}, err
	}
	now := s.now()
	r := Request{Name: in.Name, Email: in.Email, Subject: in.Subject, Message: in.Message,
		Category: in.Category, Status: StatusOpen, Created: now, Updated: now}
	if s.cfg.Acknowledge {
		acked, err := s.cfg.Store.AckedSince(ctx, r.Email, now.Add(-s.cfg.AckInterval))
		if err != nil {
			return Request{}, err
		}
		// Two submissions racing past this check may each be acknowledged; the
		// per-client limiter bounds how often that can happen.
		r.AckSent = !acked
	}
	// 40 random bits collide rarely; a few attempts make a collision invisible.
	for attempt := 0; ; attempt++ {
		if r.Ref, err = NewRef(s.cfg.Rand); err != nil {
			return Request{}, fmt.Errorf("contact: reference: %w", err)
		}
		err = s.cfg.Store.Do(ctx, func(ctx context.Context) error {
			if err := s.cfg.Store.Create(ctx, &r); err != nil {
				return err
			}
			return s.notify(ctx, &r)
		})
		if !errors.Is(err, privacy.ErrConflict) || attempt == 4 {
			break
		}
	}
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

// mailData is what the notification and the reply templates are given.
type mailData struct {
	Request
	StaffURL string
	Reply    Reply
}

// ackData is all the acknowledgement is given: it goes to an address nobody
// verified, so it can hold nothing the visitor typed.
type ackData struct{ Ref string }

// compose renders the templates name+"-subject" and name, a message's subject
// and text.
func (s *Service) compose(name string, data any) (subject, text string, err error) {
	var b strings.Builder
	if err := s.mail.ExecuteTemplate(&b, name+"-subject", data); err != nil {
		return "", "", fmt.Errorf("contact: mail template: %w", err)
	}
	subject = b.String()
	b.Reset()
	if err := s.mail.ExecuteTemplate(&b, name, data); err != nil {
		return "", "", fmt.Errorf("contact: mail template: %w", err)
	}
	return subject, b.String(), nil
}

func (s *Service) notify(ctx context.Context, r *Request) error {
	subject, text, err := s.compose("notification", mailData{Request: *r, StaffURL: s.cfg.StaffURL})
	if err != nil {
		return err
	}
	_, err = s.cfg.Mailer.Send(ctx, privacy.Message{
		Purpose:     PurposeSupport,
		DataSubject: r.Email,
		To:          privacy.Address{Email: s.cfg.SupportInbox},
		ReplyTo:     privacy.Address{Email: r.Email},
		Subject:     subject,
		Text:        text,
	})
	if err != nil {
		if errors.Is(err, privacy.ErrRefused) || errors.Is(err, privacy.ErrInvalid) {
			s.log.ErrorContext(ctx, "contact notification refused", "ref", r.Ref, "err", err)
			// The cause is kept as text only: matching ErrForbidden or ErrInvalid, it
			// would blame the visitor for the operator's configuration.
			return &privacy.Error{Kind: privacy.ErrUnavailable, Message: "we cannot take messages right now; please try again later",
				RetryAfter: time.Minute, Err: errors.New(err.Error())}
		}
		return err
	}
	if r.AckSent {
		subject, text, err := s.compose("ack", ackData{Ref: r.Ref})
		if err == nil {
			// The visitor's name stays out of the To header too: on an unverified
			// address it would carry the visitor's words to whoever owns it.
			_, err = s.cfg.Mailer.Send(ctx, privacy.Message{
				Purpose:     PurposeSupport,
				DataSubject: r.Email,
				To:          privacy.Address{Email: r.Email},
				ReplyTo:     privacy.Address{Email: s.cfg.SupportInbox},
				Subject:     subject,
				Text:        text,
			})
		}
		if err != nil {
			// The acknowledgement is a courtesy: it never costs the visitor the request.
			s.log.WarnContext(ctx, "contact acknowledgement not sent", "ref", r.Ref, "err", err)
		}
	}
	return nil
}

// Allows implements privacy.Allower: an address may be mailed for PurposeSupport
// while it has an open request, or one closed within Config.AnswerWindow. It sees a
// request created in the unit of work ctx carries.
func (s *Service) Allows(ctx context.Context, p privacy.Purpose, subject string) (bool, error) {
	if p != PurposeSupport {
		return false, nil
	}
	return s.cfg.Store.Answerable(ctx, subject, s.now().Add(-s.cfg.AnswerWindow))
}

// List returns requests matching f, newest first, without their messages. It needs
// the support role, and records an access for each request before returning it.
// Returns ErrUnauthorized, ErrForbidden, or ErrInvalid for a bad filter.
func (s *Service) List(ctx context.Context, f Filter) ([]Request, error) {
	if err := privacy.Require(ctx, privacy.RoleSupport); err != nil {
		return nil, err
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, privacy.Invalid("status", "must be open or closed")
	}
	if f.Offset < 0 {
		return nil, privacy.Invalid("offset", "must not be negative")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 200)
	rs, err := s.cfg.Store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if err := s.cfg.Auditor.Record(ctx, privacy.RoleSupport, r.Email, "contact request "+r.Ref+" (list)", "listing contact requests"); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// Get returns the request ref with its thread. It needs the support role and
// records the access before returning anything. Returns ErrUnauthorized,
// ErrForbidden or ErrNotFound.
func (s *Service) Get(ctx context.Context, ref string) (Request, error) {
	if err := privacy.Require(ctx, privacy.RoleSupport); err != nil {
		return Request{}, err
	}
	ref, err := ParseRef(ref)
	if err != nil {
		return Request{}, err
	}
	r, err := s.cfg.Store.Get(ctx, ref)
	if err != nil {
		return Request{}, err
	}
	if err := s.cfg.Auditor.Record(ctx, privacy.RoleSupport, r.Email, "contact request "+r.Ref, "reading the request"); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Reply sends text to the requester of ref (support purpose, Reply-To the support
// inbox) and keeps it in the request's thread, in one unit of work. It needs the
// support role and records the access. The reply quotes nothing the visitor wrote.
// Returns ErrUnauthorized, ErrForbidden, ErrNotFound, ErrInvalid naming "text",
// ErrConflict when the request is closed or the requester's address is suppressed
// (it bounced), or ErrForbidden when the mail guard refuses the reply otherwise.
// Nothing is kept in the thread unless the reply is enqueued.
func (s *Service) Reply(ctx context.Context, ref, text string) (Reply, error) {
	if err := privacy.Require(ctx, privacy.RoleSupport); err != nil {
		return Reply{}, err
	}
	text = strings.TrimRight(normalizeNewlines(text), " \n\t")
	if err := privacy.CheckMultiline("text", text, MaxReply, true); err != nil {
		return Reply{}, err
	}
	ref, err := ParseRef(ref)
	if err != nil {
		return Reply{}, err
	}
	r, err := s.cfg.Store.Get(ctx, ref)
	if err != nil {
		return Reply{}, err
	}
	if err := answerable(r); err != nil {
		return Reply{}, err
	}
	if err := s.cfg.Auditor.Record(ctx, privacy.RoleSupport, r.Email, "contact request "+r.Ref, "replying to the request"); err != nil {
		return Reply{}, err
	}
	actor := privacy.ActorFrom(ctx)
	rep := Reply{StaffID: actor.ID, Staff: actor.Email, Text: text, At: s.now()}
	subject, body, err := s.compose("reply", mailData{Request: r, StaffURL: s.cfg.StaffURL, Reply: rep})
	if err != nil {
		return Reply{}, err
	}
	var stored Reply
	err = s.cfg.Store.Do(ctx, func(ctx context.Context) error {
		var err error
		// The request may have closed since it was read: decided again under AddReply's lock.
		if stored, err = s.cfg.Store.AddReply(ctx, ref, func(cur Request) (Reply, error) { return rep, answerable(cur) }); err != nil {
			return err
		}
		_, err = s.cfg.Mailer.Send(ctx, privacy.Message{
			Purpose:     PurposeSupport,
			DataSubject: r.Email,
			To:          privacy.Address{Email: r.Email},
			ReplyTo:     privacy.Address{Email: s.cfg.SupportInbox},
			Subject:     subject,
			Text:        body,
		})
		return err
	})
	var refusal *privacy.RefusalError
	switch {
	case errors.As(err, &refusal) && refusal.Reason == privacy.RefusedSuppressed:
		return Reply{}, privacy.Errorf(privacy.ErrConflict, "the requester's address bounced or complained and can no longer be mailed; the reply was not sent")
	case errors.As(err, &refusal):
		return Reply{}, privacy.Errorf(privacy.ErrForbidden, "the mail guard refused the reply (%s); it was not sent", refusal.Reason)
	case err != nil:
		return Reply{}, err
	}
	return stored, nil
}

// answerable is the rule of replies: a closed request takes none.
func answerable(r Request) error {
	if r.Status == StatusClosed {
		return privacy.Errorf(privacy.ErrConflict, "the request is closed")
	}
	return nil
}

// Close closes the request ref; closing a closed request is not an error. It needs
// the support role, and records the access: closing starts the clock that erases
// the requester's data. Returns ErrUnauthorized, ErrForbidden or ErrNotFound.
func (s *Service) Close(ctx context.Context, ref string) error {
	return s.setStatus(ctx, ref, "closing the request", s.cfg.Store.Close)
}

// Reopen opens the closed request ref again, so that it can be answered;
// reopening an open request is not an error. It needs the support role and records
// the access. Returns ErrUnauthorized, ErrForbidden or ErrNotFound.
func (s *Service) Reopen(ctx context.Context, ref string) error {
	return s.setStatus(ctx, ref, "reopening the request", s.cfg.Store.Reopen)
}

// setStatus checks the support role, records the staff member's access to the
// request ref for why, then applies set.
func (s *Service) setStatus(ctx context.Context, ref, why string, set func(ctx context.Context, ref string, at time.Time) error) error {
	if err := privacy.Require(ctx, privacy.RoleSupport); err != nil {
		return err
	}
	ref, err := ParseRef(ref)
	if err != nil {
		return err
	}
	r, err := s.cfg.Store.Get(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.cfg.Auditor.Record(ctx, privacy.RoleSupport, r.Email, "contact request "+r.Ref, why); err != nil {
		return err
	}
	return set(ctx, ref, s.now())
}

// maxBody bounds request bodies: the largest a form can be when every field is at
// its limit and every character is four bytes, each percent-encoded.
func (s *Service) maxBody() int64 {
	fields := MaxName + privacy.MaxEmailLen + MaxSubject + MaxCategory + s.cfg.MaxMessage
	return int64(4<<10 + fields*utf8.UTFMax*3)
}
