package comments

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

// Moderation chooses which comments wait for a moderator.
type Moderation int

// The moderation rules.
const (
	// ModerateFirst holds an address's comments until a moderator approved
	// Config.TrustAfter of them; later comments from the address publish at once.
	ModerateFirst Moderation = iota
	// ModerateAll holds every comment for a moderator.
	ModerateAll
	// ModerateNone publishes every comment at once.
	ModerateNone
)

// EraseMode chooses what an erasure request does to published comments.
type EraseMode int

// The erase modes.
const (
	// EraseRemove removes the person's comments (a comment others replied to stays
	// as a tombstone with no name, address or text, so the replies keep their place).
	EraseRemove EraseMode = iota
	// EraseKeepText keeps the text of published comments under the name "deleted",
	// with no name, address, avatar or manage link; unpublished ones are removed.
	EraseKeepText
)

// Limits on input.
const (
	MaxNameLen   = 80
	MaxThreadLen = 200
	DefaultBody  = 10000 // characters
	// DefaultHTML bounds a comment's rendered HTML: Markdown such as nested
	// quotes renders to many times its length.
	DefaultHTML       = 16 << 10 // bytes
	DefaultThreadSize = 1000     // pending and approved comments in a thread
	DefaultThreadHTML = 4 << 20  // bytes of their HTML
	DefaultTrustAfter = 3
)

// Config configures a Service. Store, Mailer, Auditor, Key and BaseURL are required.
type Config struct {
	Store   Store
	Mailer  *privacy.Mailer  // sends follow-up mail; New registers the follow-up Allower on it
	Auditor *privacy.Auditor // required: records every moderator's read of a commenter's data (P11)
	Log     *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
	Rand    io.Reader        // nil: crypto/rand.Reader; tokens are 256 bits from it

	// Key keys the avatar colour and the stop-link tokens: at least 32 random bytes,
	// the same in every process of the site and kept across restarts.
	Key []byte
	// BaseURL is the absolute URL at which the host mounts the Handler, e.g.
	// "https://example.com/comments". Links in mail and feeds start with it, and the
	// forms post to its path.
	BaseURL string
	// ThreadURL returns the public page that shows a thread, for mail and feeds.
	// Default: BaseURL + "/t/" + thread.
	ThreadURL func(thread string) string

	// Threads reports whether thread is one of the host's pages that take
	// comments. A thread it refuses answers ErrNotFound naming "thread", for
	// reading and for posting. Default: every valid identifier.
	Threads func(ctx context.Context, thread string) bool

	Moderation Moderation // default ModerateFirst
	Erase      EraseMode  // default EraseRemove

	MaxLinks int // links allowed in a comment; default 3, negative for none
	MaxBody  int // characters in a comment; default 10,000
	MaxHTML  int // bytes of a comment's rendered HTML; default DefaultHTML
	// MaxThreadSize and MaxThreadHTML bound a thread's pending and approved
	// comments, by count and by bytes of HTML; defaults DefaultThreadSize and
	// DefaultThreadHTML. A post beyond either is refused with ErrConflict.
	MaxThreadSize int
	MaxThreadHTML int64
	// TrustAfter is how many of an address's comments a moderator must have
	// approved before, under ModerateFirst, its comments publish at once;
	// default DefaultTrustAfter.
	TrustAfter int
	// PageComments and PageHTML bound one page of a thread, served as HTML or
	// JSON: at most PageComments comments (replies included) and PageHTML bytes of
	// their HTML; defaults DefaultPageComments and DefaultPageHTML.
	PageComments      int
	PageHTML          int
	EditWindow        time.Duration // how long the author may edit; default 15 minutes
	ConfirmTTL        time.Duration // how long a confirmation link works; default 48 hours
	RejectedRetention time.Duration // how long rejected comments are kept; default 30 days
	// DuplicateWindow is how long the same text is refused from anyone anywhere;
	// default 10 minutes, negative to refuse only an author's repeat in a thread.
	DuplicateWindow time.Duration

	Renderer *Renderer // nil: NewRenderer()

	// ThreadCache bounds, in bytes, this process's cache of threads as visitors
	// see them, keyed by thread and Store.ThreadVersion, so that showing an
	// unchanged thread costs one indexed read instead of reading and rendering
	// every comment. It holds only what every visitor sees (names, rendered
	// comments), never an address. Default DefaultThreadCache; negative for none.
	// The bytes are estimated (see CacheStats); a thread larger than the bound is
	// rendered for each view and not cached.
	ThreadCache int

	// Templates are the host's overrides of DefaultTemplates for the follow-up
	// mail and the feed's titles (the *.txt files); nil for the defaults. New
	// fails on one that does not parse or defines a template the defaults do not.
	Templates fs.FS
}

// Service holds every rule about comments.
type Service struct {
	store     Store
	mailer    *privacy.Mailer
	auditor   *privacy.Auditor
	log       *slog.Logger
	now       func() time.Time
	rand      io.Reader
	key       []byte
	base      string // BaseURL without a trailing slash
	mount     string // its path
	site      string // the site's name for mail
	threadURL func(string) string
	cfg       Config
	render    *Renderer
	cache     *threadCache       // nil when Config.ThreadCache is negative
	tpl       *privacy.Templates // mail and feed
	// markup is the default pages, which the thread cache renders a thread
	// with when it is read for JSON or a feed: a Handler without Templates
	// shares it, and finds the thread rendered.
	markup *markup
}

// New returns a Service for cfg and registers the comment follow-up Allower on
// cfg.Mailer. It returns an error naming the first missing or bad field, or the
// template of cfg.Templates that does not parse or that DefaultTemplates does
// not define.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("comments: Config.Store is required")
	case cfg.Mailer == nil:
		return nil, errors.New("comments: Config.Mailer is required")
	case cfg.Auditor == nil || cfg.Auditor.Log == nil:
		return nil, errors.New("comments: Config.Auditor with a Log is required: moderators read commenters' data")
	case len(cfg.Key) < 32:
		return nil, errors.New("comments: Config.Key must hold at least 32 random bytes")
	}
	if err := privacy.SameDatabase("comments", cfg.Store, cfg.Mailer.Work()); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("comments: Config.BaseURL must be an absolute http(s) URL without query, e.g. https://example.com/comments")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.EditWindow, 15*time.Minute)
	def(&cfg.ConfirmTTL, 48*time.Hour)
	def(&cfg.RejectedRetention, 30*24*time.Hour)
	def(&cfg.DuplicateWindow, 10*time.Minute)
	if cfg.MaxLinks == 0 {
		cfg.MaxLinks = 3
	}
	if cfg.MaxLinks < 0 {
		cfg.MaxLinks = 0
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultBody
	}
	if cfg.MaxHTML <= 0 {
		cfg.MaxHTML = DefaultHTML
	}
	if cfg.MaxThreadSize <= 0 {
		cfg.MaxThreadSize = DefaultThreadSize
	}
	if cfg.MaxThreadHTML <= 0 {
		cfg.MaxThreadHTML = DefaultThreadHTML
	}
	if cfg.TrustAfter <= 0 {
		cfg.TrustAfter = DefaultTrustAfter
	}
	if cfg.PageComments <= 0 {
		cfg.PageComments = DefaultPageComments
	}
	if cfg.PageHTML <= 0 {
		cfg.PageHTML = DefaultPageHTML
	}
	tpl, err := parseTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	m, err := newMarkup(nil)
	if err != nil {
		return nil, err
	}
	s := &Service{tpl: tpl, markup: m,
		store: cfg.Store, mailer: cfg.Mailer, auditor: cfg.Auditor, log: cfg.Log, now: cfg.Now, rand: cfg.Rand,
		key: cfg.Key, base: strings.TrimRight(cfg.BaseURL, "/"), mount: strings.TrimRight(u.Path, "/"),
		threadURL: cfg.ThreadURL, cfg: cfg, render: cfg.Renderer,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.render == nil {
		s.render = NewRenderer()
	}
	if s.threadURL == nil {
		s.threadURL = func(thread string) string { return s.base + "/t/" + thread }
	}
	switch {
	case cfg.ThreadCache == 0:
		s.cache = newThreadCache(DefaultThreadCache)
	case cfg.ThreadCache > 0:
		s.cache = newThreadCache(int64(cfg.ThreadCache))
	}
	s.site = cfg.Mailer.Policy().Operator
	cfg.Mailer.AllowContract(s.Contract())
	return s, nil
}

// Renderer returns the renderer the service uses.
func (s *Service) Renderer() *Renderer { return s.render }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Refs of the follow-up mail. ConfirmRef marks the one message an address awaiting
// confirmation may receive.
const (
	ConfirmRef = "comments:confirm"
	ReplyRef   = "comments:reply"
)

// guard is the follow-up purpose's privacy.MessageAllower.
type guard struct{ s *Service }

// Allows answers for the address alone: whether any follow-up mail may reach it
// (FollowUpAllowed). It reads through ctx, so it sees the comment and request of
// the unit of work ctx carries. The Mailer asks AllowsMessage instead.
func (g guard) Allows(ctx context.Context, p privacy.Purpose, subject string) (bool, error) {
	if p != PurposeFollowUp {
		return false, nil
	}
	sub, err := g.s.store.Subscriber(ctx, subject)
	if errors.Is(err, privacy.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	statuses, err := g.s.store.FollowUpStatuses(ctx, subject)
	if err != nil {
		return false, err
	}
	return FollowUpAllowed(sub, statuses, g.s.clock()), nil
}

// AllowsMessage lets the confirmation (ConfirmRef) through to an address that asked
// for follow-up, has not stopped, and confirmed or holds an unexpired request; every
// other message needs the address confirmed as well, so a pending request carries
// the confirmation and nothing else.
func (g guard) AllowsMessage(ctx context.Context, msg *privacy.Message) (bool, error) {
	ok, err := g.Allows(ctx, msg.Purpose, msg.DataSubject)
	if err != nil || !ok || msg.Ref == ConfirmRef {
		return ok, err
	}
	sub, err := g.s.store.Subscriber(ctx, msg.DataSubject)
	if errors.Is(err, privacy.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sub.Active(), nil
}

// Input is a comment as a visitor sends it.
type Input struct {
	Thread   string `json:"thread"`
	ParentID int64  `json:"parent_id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Body     string `json:"body"`
	FollowUp bool   `json:"follow_up"`

	// stamp, set by the Handler, is the hash of the form stamp the comment came
	// with, spent with the comment until stampExpires.
	stamp        []byte
	stampExpires time.Time
}

// Posted is the answer to a posted comment. ManageToken is shown to the author once
// and never stored.
type Posted struct {
	Comment     Public
	Status      Status
	ManageToken string
}

// CheckThread validates a thread identifier: 1 to 200 characters of letters, digits
// and - _ . ~ / :, with no empty or dot-only path segment. Returns ErrInvalid naming
// "thread".
func CheckThread(thread string) error {
	if thread == "" || len(thread) > MaxThreadLen {
		return privacy.Invalid("thread", "must be 1 to %d characters", MaxThreadLen)
	}
	for i := 0; i < len(thread); i++ {
		c := thread[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/:", c) >= 0) {
			return privacy.Invalid("thread", "may hold only letters, digits and - _ . ~ / :")
		}
	}
	for seg := range strings.SplitSeq(thread, "/") {
		if seg == "" || strings.Trim(seg, ".") == "" {
			return privacy.Invalid("thread", "has an empty or dot-only path segment")
		}
	}
	return nil
}

// checkThread validates thread and asks Config.Threads whether it takes comments.
// Returns ErrInvalid or ErrNotFound naming "thread".
func (s *Service) checkThread(ctx context.Context, thread string) error {
	if err := CheckThread(thread); err != nil {
		return err
	}
	if s.cfg.Threads != nil && !s.cfg.Threads(ctx, thread) {
		return &privacy.Error{Kind: privacy.ErrNotFound, Field: "thread", Message: "this page does not exist or takes no comments"}
	}
	return nil
}

// checkBody validates and renders a comment body, enforcing the link cap. Its
// errors are predicates of the field, with a Code for a page to word them.
func (s *Service) checkBody(body string) (html string, err error) {
	if err := privacy.CheckMultiline("body", body, s.cfg.MaxBody, true); err != nil {
		return "", err
	}
	html, err = s.render.Render(body)
	if err != nil {
		return "", fmt.Errorf("render comment: %w", err)
	}
	if strings.TrimSpace(html) == "" {
		return "", privacy.InvalidRule("body", "no-text", "has no text that can be shown (HTML is not accepted; write Markdown)")
	}
	if len(html) > s.cfg.MaxHTML {
		return "", privacy.InvalidRule("body", "too-large-shown", "is too large once shown (deeply nested quotes or lists?); shorten it or nest less")
	}
	if n := Links(html); n > s.cfg.MaxLinks {
		if s.cfg.MaxLinks == 0 {
			return "", privacy.InvalidRule("body", "no-links", "may not contain links")
		}
		return "", &privacy.Error{Kind: privacy.ErrInvalid, Field: "body", Code: "too-many-links", Limit: s.cfg.MaxLinks,
			Message: fmt.Sprintf("has %d links; at most %d are allowed", n, s.cfg.MaxLinks)}
	}
	return html, nil
}

// Post validates in and stores the comment: published at once or held for a
// moderator as Config.Moderation says. When in.FollowUp is set and the address has
// not confirmed, a confirmation mail is enqueued in the same unit of work; when the
// comment publishes at once and replies to a confirmed commenter who asked for
// follow-up, so is the notification.
//
// Returns ErrNotFound naming "thread" for a thread Config.Threads refuses,
// ErrInvalid naming the field at fault (thread, name, email, body, parent; the
// faults of name, email and body joined with errors.Join, the first outermost)
// and ErrConflict naming "body" for a duplicate or naming "thread" for a thread
// that reached Config.MaxThreadSize or MaxThreadHTML; posted through the
// Handler, ErrInvalid naming "ts" for a form that already posted a comment.
// Nothing is stored on error.
func (s *Service) Post(ctx context.Context, in Input) (Posted, error) {
	if err := s.checkThread(ctx, in.Thread); err != nil {
		return Posted{}, err
	}
	name := strings.TrimSpace(in.Name)
	// Every field is checked, so a form shows all its faults at once.
	nameErr := privacy.CheckText("name", name, MaxNameLen, true)
	email, emailErr := privacy.NormalizeEmail(in.Email)
	html, bodyErr := s.checkBody(in.Body)
	if err := errors.Join(nameErr, emailErr, bodyErr); err != nil {
		return Posted{}, err
	}
	if in.ParentID < 0 {
		return Posted{}, privacy.Invalid("parent", "is not a comment")
	}
	if in.ParentID > 0 {
		p, err := s.store.Comment(ctx, in.ParentID)
		if errors.Is(err, privacy.ErrNotFound) || err == nil && (p.Thread != in.Thread || p.Status != StatusApproved) {
			return Posted{}, privacy.Invalid("parent", "the comment you reply to is not on this page")
		}
		if err != nil {
			return Posted{}, err
		}
	}
	now := s.clock()
	digest := Digest(in.Body)
	q := DuplicateQuery{Thread: in.Thread, Email: email, Digest: digest}
	if s.cfg.DuplicateWindow > 0 {
		q.Since = now.Add(-s.cfg.DuplicateWindow)
	}
	dup, err := s.store.Duplicate(ctx, q)
	if err != nil {
		return Posted{}, err
	}
	if dup {
		return Posted{}, &privacy.Error{Kind: privacy.ErrConflict, Field: "body", Message: "this comment was already posted"}
	}
	n, size, err := s.store.ThreadSize(ctx, in.Thread)
	if err != nil {
		return Posted{}, err
	}
	if n >= s.cfg.MaxThreadSize || size+int64(len(html)) > s.cfg.MaxThreadHTML {
		return Posted{}, &privacy.Error{Kind: privacy.ErrConflict, Field: "thread", Message: "this page takes no more comments"}
	}
	status := StatusPending
	switch s.cfg.Moderation {
	case ModerateNone:
		status = StatusApproved
	case ModerateFirst:
		approved, err := s.store.Approved(ctx, email)
		if err != nil {
			return Posted{}, err
		}
		if approved >= s.cfg.TrustAfter {
			status = StatusApproved
		}
	}
	token, hash, err := s.token()
	if err != nil {
		return Posted{}, err
	}
	c := Comment{
		Thread: in.Thread, ParentID: in.ParentID, Name: name, Email: email, Source: in.Body, HTML: html,
		Digest: digest, Status: status, FollowUp: in.FollowUp, Hue: s.hue(email), Manage: hash, Created: now,
	}
	err = s.store.Do(ctx, func(ctx context.Context) error {
		// First, so that a stamp spent meanwhile by a concurrent post fails the
		// post before it writes anything.
		if in.stamp != nil {
			if err := s.store.UseStamp(ctx, in.stamp, in.stampExpires, now); errors.Is(err, privacy.ErrConflict) {
				return errStampUsed()
			} else if err != nil {
				return err
			}
		}
		if err := s.store.CreateComment(ctx, &c); err != nil {
			return err
		}
		if c.FollowUp {
			if err := s.requestConfirmation(ctx, email, now); err != nil {
				return err
			}
		}
		if c.Status == StatusApproved {
			return s.notifyReply(ctx, c)
		}
		return nil
	})
	if err != nil {
		return Posted{}, err
	}
	return Posted{Comment: s.public(c), Status: c.Status, ManageToken: token}, nil
}

// Digest returns the hex SHA-256 of body with case and runs of white space
// folded, so that trivially altered repeats still match.
func Digest(body string) string {
	norm := strings.Join(strings.Fields(strings.ToLower(body)), " ")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

// token returns a new random token (256 bits) and the hash to store, made by the
// kernel's TokenMaker over Config.Rand.
func (s *Service) token() (string, []byte, error) {
	return privacy.TokenMaker{Rand: s.rand}.New()
}

// parseToken returns the hash of a token from a URL, or ErrNotFound for a string
// that cannot be one of ours.
func parseToken(t string) ([]byte, error) {
	h, ok := privacy.TokenMaker{}.Hash(t)
	if !ok {
		return nil, privacy.Errorf(privacy.ErrNotFound, "this link is not valid")
	}
	return h, nil
}

func (s *Service) mac(label, email string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("consentkit comments " + label + "\x00"))
	h.Write([]byte(email))
	return h.Sum(nil)
}

// stopToken is derived, not stored, so every follow-up mail can carry it while the
// store keeps only its hash.
func (s *Service) stopToken(email string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("stop", email))
}

// hue picks one of eight avatar colours from a keyed hash: never a plain hash of the
// address, which anyone could compute from a guessed address.
func (s *Service) hue(email string) int { return int(s.mac("avatar", email)[0]%8) + 1 }

// requestConfirmation issues a confirmation for email unless it confirmed, stopped
// or holds one unexpired at now, and enqueues the confirmation mail with it, in
// the unit of work ctx carries. A confirmation whose mail is refused is taken back:
// the comment still posts, and the address may ask again.
func (s *Service) requestConfirmation(ctx context.Context, email string, now time.Time) error {
	token, hash, err := s.token()
	if err != nil {
		return err
	}
	stop := s.stopToken(email)
	data := confirmMail{Site: s.siteName(), ConfirmURL: s.base + "/confirm/" + token, ValidFor: s.cfg.ConfirmTTL.String(), StopURL: s.base + "/stop/" + stop}
	if s.cfg.ConfirmTTL%time.Hour == 0 {
		data.ValidHours = int(s.cfg.ConfirmTTL / time.Hour)
	}
	msg, err := s.mail("confirm", data)
	if err != nil {
		return err
	}
	msg.Purpose, msg.DataSubject, msg.To = PurposeFollowUp, email, privacy.Address{Email: email}
	msg.Unsubscribe, msg.Ref = data.StopURL, ConfirmRef
	key := SubscriberKey{Email: email}
	var before Subscriber
	issued := false
	_, err = s.store.UpdateSubscriber(ctx, key, func(cur Subscriber) (Subscriber, error) {
		before, issued = cur, false
		if !cur.MayAsk(now) {
			return cur, nil
		}
		issued = true
		return Subscriber{Email: email, ConfirmHash: hash, ConfirmExpires: now.Add(s.cfg.ConfirmTTL),
			StopHash: privacy.HashToken(stop), Created: now}, nil
	})
	if err != nil || !issued {
		return err
	}
	_, err = s.mailer.Send(ctx, msg)
	if errors.Is(err, privacy.ErrRefused) {
		// A suppressed address still may comment; it just gets no mail.
		s.log.InfoContext(ctx, "comment follow-up confirmation not sent", "err", err)
		_, err = s.store.UpdateSubscriber(ctx, key, func(Subscriber) (Subscriber, error) { return before, nil })
	}
	return err
}

func (s *Service) siteName() string {
	if s.site != "" {
		return s.site
	}
	return s.base
}

// confirmMail is what the confirm-subject and confirm-text templates show.
type confirmMail struct {
	Site, ConfirmURL, StopURL string
	ValidHours                int    // the link's life in hours, 0 when not whole hours
	ValidFor                  string // the link's life as a Go duration
}

// replyMail is what the reply-subject and reply-text templates show.
type replyMail struct {
	Name, Site, Excerpt, URL, StopURL string
}

// mail returns the subject and text of mail name, from its templates
// name-subject and name-text.
func (s *Service) mail(name string, data any) (privacy.Message, error) {
	var subject, text strings.Builder
	if err := s.tpl.Text.ExecuteTemplate(&subject, name+"-subject", data); err != nil {
		return privacy.Message{}, fmt.Errorf("comments: mail %s: %w", name, err)
	}
	if err := s.tpl.Text.ExecuteTemplate(&text, name+"-text", data); err != nil {
		return privacy.Message{}, fmt.Errorf("comments: mail %s: %w", name, err)
	}
	return privacy.Message{Subject: subject.String(), Text: text.String()}, nil
}

// notifyReply mails the author of reply's parent when that author asked for
// follow-up and is confirmed and not stopped. A refusal by the mail guard is logged,
// never fatal: the comment itself must still publish.
func (s *Service) notifyReply(ctx context.Context, reply Comment) error {
	if reply.ParentID == 0 {
		return nil
	}
	p, err := s.store.Comment(ctx, reply.ParentID)
	if errors.Is(err, privacy.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.FollowUp || p.Email == "" || privacy.AddressKey(p.Email) == privacy.AddressKey(reply.Email) || p.Status != StatusApproved {
		return nil
	}
	sub, err := s.store.Subscriber(ctx, p.Email)
	if errors.Is(err, privacy.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sub.Active() {
		return nil
	}
	stop := s.base + "/stop/" + s.stopToken(p.Email)
	excerpt := reply.Source
	if utf8.RuneCountInString(excerpt) > 1000 {
		excerpt = string([]rune(excerpt)[:1000]) + " …"
	}
	msg, err := s.mail("reply", replyMail{Name: reply.Name, Site: s.siteName(), Excerpt: excerpt,
		URL: s.threadURL(reply.Thread) + "#c" + strconv.FormatInt(reply.ID, 10), StopURL: stop})
	if err != nil {
		return err
	}
	msg.Purpose, msg.DataSubject, msg.To = PurposeFollowUp, p.Email, privacy.Address{Name: p.Name, Email: p.Email}
	msg.Unsubscribe, msg.Ref = stop, ReplyRef
	_, err = s.mailer.Send(ctx, msg)
	if errors.Is(err, privacy.ErrRefused) {
		s.log.InfoContext(ctx, "reply notification not sent", "err", err)
		return nil
	}
	return err
}

// Avatar is a generated avatar: initials on one of eight colours (CSS classes
// avatar-1 … avatar-8 in the host's stylesheet).
type Avatar struct {
	Initials string `json:"initials"`
	Hue      int    `json:"hue"`
}

// Public is a comment as anyone may see it. It has no field that could hold the
// author's address.
type Public struct {
	ID       int64         `json:"id"`
	ParentID int64         `json:"parent_id,omitempty"`
	Name     string        `json:"name"`
	HTML     template.HTML `json:"html"`
	Created  time.Time     `json:"created"`
	Edited   *time.Time    `json:"edited,omitempty"`
	Deleted  bool          `json:"deleted,omitempty"` // a tombstone kept for its replies
	Avatar   *Avatar       `json:"avatar,omitempty"`
	Replies  []Public      `json:"replies,omitempty"`
}

// DeletedName is shown in place of the name of a comment whose author was erased.
const DeletedName = "deleted"

func (s *Service) public(c Comment) Public {
	p := Public{ID: c.ID, ParentID: c.ParentID, Name: c.Name, HTML: template.HTML(c.HTML), Created: c.Created}
	if !c.Edited.IsZero() {
		e := c.Edited
		p.Edited = &e
	}
	if c.Status == StatusDeleted {
		p.Deleted, p.Name, p.HTML = true, DeletedName, ""
		return p
	}
	if c.Name == "" {
		p.Name = DeletedName
		return p
	}
	if c.Hue > 0 {
		p.Avatar = &Avatar{Initials: initials(c.Name), Hue: c.Hue}
	}
	return p
}

func initials(name string) string {
	var out []rune
	for w := range strings.FieldsSeq(name) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// ThreadView is a thread as shown to visitors: published comments as a tree.
type ThreadView struct {
	Thread   string   `json:"thread"`
	Count    int      `json:"count"` // published comments, tombstones not counted
	Comments []Public `json:"comments"`
}

// maxDepth is how deep replies nest on the page; deeper replies are listed, in
// order, under their ancestor at this depth.
const maxDepth = 6

// Thread returns thread's published comments as a tree, oldest first; the result
// is the caller's to modify. Returns ErrInvalid naming "thread" for a bad
// identifier.
func (s *Service) Thread(ctx context.Context, thread string) (ThreadView, error) {
	e, err := s.shown(ctx, thread, nil)
	if err != nil {
		return ThreadView{}, err
	}
	v := e.view
	v.Comments = clonePublic(e.view.Comments)
	return v, nil
}

// clonePublic deep-copies ps, which may be shared with the thread cache.
func clonePublic(ps []Public) []Public {
	out := slices.Clone(ps)
	for i := range out {
		p := &out[i]
		if p.Edited != nil {
			e := *p.Edited
			p.Edited = &e
		}
		if p.Avatar != nil {
			a := *p.Avatar
			p.Avatar = &a
		}
		if p.Replies != nil {
			p.Replies = clonePublic(p.Replies)
		}
	}
	return out
}

func (s *Service) tree(thread string, cs []Comment) ThreadView {
	present := make(map[int64]bool, len(cs))
	for _, c := range cs {
		present[c.ID] = true
	}
	children := make(map[int64][]int, len(cs))
	var roots []int
	tv := ThreadView{Thread: thread}
	for i, c := range cs {
		if c.Status == StatusApproved {
			tv.Count++
		}
		if c.ParentID != 0 && present[c.ParentID] {
			children[c.ParentID] = append(children[c.ParentID], i)
		} else {
			roots = append(roots, i)
		}
	}
	var build func(idx []int, depth int) []Public
	var flatten func(id int64, out *[]int)
	flatten = func(id int64, out *[]int) {
		for _, i := range children[id] {
			*out = append(*out, i)
			flatten(cs[i].ID, out)
		}
	}
	build = func(idx []int, depth int) []Public {
		var out []Public
		for _, i := range idx {
			p := s.public(cs[i])
			if depth < maxDepth {
				p.Replies = build(children[cs[i].ID], depth+1)
			} else {
				var flat []int
				flatten(cs[i].ID, &flat)
				slices.Sort(flat)
				p.Replies = s.flat(cs, flat)
			}
			if p.Deleted && len(p.Replies) == 0 {
				continue // a tombstone whose replies are gone shows nothing
			}
			out = append(out, p)
		}
		return out
	}
	tv.Comments = build(roots, 1)
	if tv.Comments == nil {
		tv.Comments = []Public{} // JSON clients get a list, never null
	}
	return tv
}

func (s *Service) flat(cs []Comment, idx []int) []Public {
	out := make([]Public, 0, len(idx))
	for _, i := range idx {
		if cs[i].Status == StatusDeleted {
			continue
		}
		out = append(out, s.public(cs[i]))
	}
	return out
}
