package newsletter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// Config configures a Service. Zero option fields take the defaults shown.
type Config struct {
	Store  Store
	Mailer *privacy.Mailer
	// Outbox is the Mailer's outbox store: campaign progress is read from it
	// (OutboxStats) and complaints suppress addresses in it.
	Outbox privacy.OutboxStore
	// Consents records every opt-in and withdrawal, and is read by SyncConsents.
	Consents *privacy.Consents
	// Auditor records every complaint a staff member relays (RelayComplaint), the
	// one staff act on a subscriber's data. Required (P11); usually an Auditor over
	// the kernel's store, the Outbox's. It is not taken from Outbox by default, so
	// that whoever builds the Service sees, and chooses, where the record goes.
	Auditor *privacy.Auditor
	Log     *slog.Logger
	Now     func() time.Time
	// Rand supplies the confirmation tokens (128 bits each, made by a
	// privacy.TokenMaker); nil means crypto/rand.
	Rand io.Reader
	// Secret signs unsubscribe links and the forms' timestamps: at least 32 random
	// bytes, the same in every process of the site. Changing it breaks the
	// unsubscribe links of every mail already sent.
	Secret []byte
	// BaseURL is the absolute URL the Handler is mounted at, used in the links mailed;
	// default the policy's SiteURL + "/newsletter".
	BaseURL string
	// Templates are the host's overrides of DefaultTemplates, for the mail the
	// Service sends (confirm.txt, campaign.txt, campaign.html, lists.txt); nil for
	// the defaults. Pass the Handler the same overrides.
	Templates fs.FS
	// Lists are the lists the site offers, in the order pages show them; nil for
	// DefaultLists. A list's name is kept in every subscription to it: renaming one
	// leaves its members behind, and a list taken out of Lists mails no one.
	Lists       []ListDef
	ConfirmTTL  time.Duration // 7 days: how long a confirmation link works
	ResendAfter time.Duration // 10m: a second subscribe within this sends no second confirmation
	// LeftRetention is how long a subscription is kept after its subscriber left
	// the list; 0 keeps it until the person asks for erasure. Purge removes it then,
	// and the policy page says so.
	LeftRetention time.Duration
	BatchSize     int // 500: campaign recipients enqueued per transaction
	// MaxQueued pauses a campaign's enqueueing while this many of its messages wait
	// in the outbox (default 2000). The outbox delivers oldest first, so a bounded
	// backlog keeps other mail (a confirmation, a password reset) from waiting behind
	// a whole campaign, and keeps the outbox's claim query short.
	MaxQueued int
	SyncBatch int           // 200: consent records read per SyncConsents transaction
	Poll      time.Duration // 1s: how often Run looks for due campaigns and new consents
}

// Service keeps subscriptions and sends campaigns. Every rule of the capability lives
// here; create it with New.
type Service struct {
	store    Store
	mailer   *privacy.Mailer
	outbox   privacy.OutboxStore
	consents *privacy.Consents
	auditor  *privacy.Auditor
	policy   *privacy.Policy
	log      *slog.Logger
	now      func() time.Time
	tokens   tokenSigner
	confirm  privacy.TokenMaker
	secret   []byte
	base     string
	prefix   string // base's path: where the Handler's pages are
	tm       *privacy.Templates
	lists    []ListDef
	// sending maps a campaign past its draft, whose list no longer changes, to its
	// list: the check before each message's delivery reads it once per process.
	sending sync.Map

	confirmTTL, resendAfter, poll time.Duration
	leftRetention                 time.Duration
	batch, syncBatch, maxQueued   int
}

// New returns a Service and registers it with cfg.Mailer as the privacy.Allower for
// PurposeNewsletter and PurposePromotions (see AllowsMessage). Returns an error naming what
// is missing or wrong in cfg.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("newsletter: Config.Store is required"))
	}
	if cfg.Mailer == nil {
		errs = append(errs, errors.New("newsletter: Config.Mailer is required"))
	}
	if cfg.Outbox == nil {
		errs = append(errs, errors.New("newsletter: Config.Outbox is required"))
	}
	if cfg.Consents == nil || cfg.Consents.Store == nil || cfg.Consents.Policy == nil {
		errs = append(errs, errors.New("newsletter: Config.Consents with a Store and a Policy is required"))
	}
	if len(cfg.Secret) < 32 {
		errs = append(errs, errors.New("newsletter: Config.Secret must hold at least 32 random bytes"))
	}
	if cfg.Auditor == nil || cfg.Auditor.Log == nil {
		errs = append(errs, errors.New("newsletter: Config.Auditor with a Log is required: staff act on subscribers' data"))
	}
	lists := cfg.Lists
	if lists == nil {
		lists = DefaultLists()
	}
	if err := checkListDefs(lists); err != nil {
		errs = append(errs, err)
	}
	if cfg.Store != nil && cfg.Mailer != nil {
		if err := privacy.SameDatabase("newsletter", cfg.Store, cfg.Mailer.Work()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Service{lists: slices.Clone(lists),
		store: cfg.Store, mailer: cfg.Mailer, outbox: cfg.Outbox, consents: cfg.Consents, auditor: cfg.Auditor,
		policy: cfg.Mailer.Policy(), log: cfg.Log, now: cfg.Now,
		tokens: tokenSigner{key: cfg.Secret}, confirm: confirmTokens(cfg.Rand), secret: cfg.Secret,
		confirmTTL: cfg.ConfirmTTL, resendAfter: cfg.ResendAfter, poll: cfg.Poll, leftRetention: max(cfg.LeftRetention, 0),
		batch: cfg.BatchSize, syncBatch: cfg.SyncBatch, maxQueued: cfg.MaxQueued,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.confirmTTL <= 0 {
		s.confirmTTL = 7 * 24 * time.Hour
	}
	if s.resendAfter <= 0 {
		s.resendAfter = 10 * time.Minute
	}
	if s.poll <= 0 {
		s.poll = time.Second
	}
	if s.batch <= 0 {
		s.batch = 500
	}
	if s.maxQueued <= 0 {
		s.maxQueued = 2000
	}
	if s.syncBatch <= 0 {
		s.syncBatch = 200
	}
	base := cfg.BaseURL
	if base == "" {
		base = strings.TrimRight(s.policy.SiteURL, "/") + "/newsletter"
	}
	base = strings.TrimRight(base, "/")
	prefix, err := web.Prefix(base)
	if err != nil || privacy.CheckURL("base_url", base+"/") != nil || strings.ContainsAny(base, "?#") {
		return nil, fmt.Errorf("newsletter: Config.BaseURL %q must be an absolute http(s) URL without query or fragment", base)
	}
	s.base, s.prefix = base, prefix
	if s.tm, err = parseTemplates(cfg.Templates, prefix, s.listDef); err != nil {
		return nil, fmt.Errorf("newsletter: Config.Templates: %w", err)
	}
	s.mailer.AllowContract(s.Contract())
	return s, nil
}

func (s *Service) clock() time.Time { return s.now().UTC() }

// Lists returns the lists the site offers, in the order pages show them.
func (s *Service) Lists() []ListDef { return slices.Clone(s.lists) }

// listDef returns the definition of l; for a list the site no longer defines, one
// titled with its name and no purpose, so that it mails no one.
func (s *Service) listDef(l List) ListDef {
	for _, d := range s.lists {
		if d.Name == l {
			return d
		}
	}
	return ListDef{Name: l, Title: string(l)}
}

// defined reports whether the site offers l.
func (s *Service) defined(l List) bool { return s.listDef(l).Purpose != "" }

// listsOf returns the names of the lists that mail under p, in order.
func (s *Service) listsOf(p privacy.Purpose) []List {
	var out []List
	for _, d := range s.lists {
		if d.Purpose == p {
			out = append(out, d.Name)
		}
	}
	return out
}

// names returns the names of the lists the site offers, in order.
func (s *Service) names() []List {
	out := make([]List, len(s.lists))
	for i, d := range s.lists {
		out[i] = d.Name
	}
	return out
}

// errQuiet rolls back a change whose mail the Mailer refused (the address is
// suppressed): the visitor is answered as if it had worked, so the form does not tell
// who bounced or complained, and nothing is stored.
var errQuiet = errors.New("newsletter: mail refused; change rolled back")

type ctxKey int

const campaignKey ctxKey = 0

// campaignMark rides in the context of a campaign send: the recipients the Store
// just read, in this same transaction, as confirmed members of the list.
type campaignMark struct {
	emails map[string]bool
	list   List
}

// ConfirmRef is the Ref of every double-opt-in confirmation mail. It is the one
// message a pending subscriber may receive (see AllowsMessage).
const ConfirmRef = "newsletter:confirm"

// Allows implements privacy.Allower for PurposeNewsletter and PurposePromotions. It
// answers whether subject may receive any mail for p at all: a confirmed member
// may, and a pending subscriber may while a confirmation is outstanding. The
// Mailer asks AllowsMessage instead, which also tells the confirmation from every
// other message. When ctx carries a transaction, its uncommitted rows are seen.
func (s *Service) Allows(ctx context.Context, p privacy.Purpose, subject string) (bool, error) {
	return s.allows(ctx, p, subject, ConfirmRef)
}

// AllowsMessage implements privacy.MessageAllower for PurposeNewsletter and
// PurposePromotions; the Mailer asks it at Send and again just before delivery.
//
// A confirmed member of the purpose's list may be mailed anything for it. A pending
// subscriber may be mailed only the confirmation (Ref ConfirmRef), and only while it
// is outstanding; once it expires, nothing. Unsubscribed and unknown addresses are
// refused. When ctx carries a transaction, its uncommitted rows are seen.
//
// Campaign sends get a distinct, strict check: the context of a campaign batch names
// the one recipient the Store read as a confirmed member of the list in the batch's
// own transaction (the snapshot a query here would read, so it is not read twice),
// and every other address is refused. The Dispatcher's re-check just before delivery
// carries no such mark and reads the subscription again, so a member who left, or
// left and asked to join again, while a campaign message of theirs was queued or
// being retried gets nothing.
func (s *Service) AllowsMessage(ctx context.Context, msg *privacy.Message) (bool, error) {
	return s.allows(ctx, msg.Purpose, msg.DataSubject, msg.Ref)
}

// allows is AllowsMessage for a message to subject with the given Ref. A campaign's
// message is allowed by its own list; any other, by any list of p.
func (s *Service) allows(ctx context.Context, p privacy.Purpose, subject, ref string) (bool, error) {
	if m, ok := ctx.Value(campaignKey).(campaignMark); ok {
		return m.emails[subject] && s.listDef(m.list).Purpose == p, nil
	}
	lists, err := s.listsFor(ctx, p, ref)
	if err != nil {
		return false, err
	}
	for _, l := range lists {
		sub, err := s.store.Subscription(ctx, subject, l)
		if errors.Is(err, privacy.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if s.admits(sub, ref) {
			return true, nil
		}
	}
	return false, nil
}

// listsFor returns the lists whose members a message of purpose p with ref may
// reach: a campaign's own list (none when the campaign is unknown), or any list of p.
func (s *Service) listsFor(ctx context.Context, p privacy.Purpose, ref string) ([]List, error) {
	lists := s.listsOf(p)
	if id, ok := campaignID(ref); ok {
		list, err := s.campaignList(ctx, id)
		if errors.Is(err, privacy.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		lists = slices.DeleteFunc(lists, func(l List) bool { return l != list })
	}
	return lists, nil
}

// admits reports whether a message with ref may go to sub's address.
func (s *Service) admits(sub Subscription, ref string) bool {
	switch {
	case sub.Status == StatusConfirmed:
		return true
	case ref == ConfirmRef:
		return sub.awaitsConfirmation(s.clock())
	default:
		return false
	}
}

// AllowsMessages implements privacy.BatchAllower: AllowsMessage for each of msgs,
// with one look-up for each list.
func (s *Service) AllowsMessages(ctx context.Context, msgs []*privacy.Message) ([]bool, error) {
	out := make([]bool, len(msgs))
	if _, marked := ctx.Value(campaignKey).(campaignMark); marked {
		for i, m := range msgs {
			ok, err := s.AllowsMessage(ctx, m)
			if err != nil {
				return nil, err
			}
			out[i] = ok
		}
		return out, nil
	}
	byList := map[List][]int{}
	for i, m := range msgs {
		lists, err := s.listsFor(ctx, m.Purpose, m.Ref)
		if err != nil {
			return nil, err
		}
		for _, l := range lists {
			byList[l] = append(byList[l], i)
		}
	}
	for list, idx := range byList {
		emails := make([]string, len(idx))
		for k, i := range idx {
			emails[k] = msgs[i].DataSubject
		}
		subs, err := s.store.SubscriptionsTo(ctx, list, emails)
		if err != nil {
			return nil, err
		}
		byAddr := make(map[string]Subscription, len(subs))
		for _, sub := range subs {
			byAddr[privacy.AddressKey(sub.Email)] = sub
		}
		for _, i := range idx {
			sub, ok := byAddr[privacy.AddressKey(msgs[i].DataSubject)]
			out[i] = out[i] || ok && s.admits(sub, msgs[i].Ref)
		}
	}
	return out, nil
}

// campaignList returns the list of campaign id. Returns ErrNotFound.
func (s *Service) campaignList(ctx context.Context, id int64) (List, error) {
	if l, ok := s.sending.Load(id); ok {
		return l.(List), nil
	}
	c, err := s.store.Campaign(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Status != CampaignDraft {
		s.sending.Store(id, c.List)
	}
	return c.List, nil
}

// checkLists de-duplicates lists into the order of the site's lists. Returns
// ErrInvalid naming "lists" when none or one the site does not offer is given.
func (s *Service) checkLists(lists []List) ([]List, error) {
	if len(lists) == 0 {
		return nil, privacy.Invalid("lists", "choose at least one list")
	}
	for _, l := range lists {
		if !s.defined(l) {
			return nil, privacy.Invalid("lists", "there is no list %q", clip(string(l), 40))
		}
	}
	return slices.DeleteFunc(s.names(), func(l List) bool { return !slices.Contains(lists, l) }), nil
}

// Subscribe asks for email to join lists: each list is its own opt-in, pending
// until the person confirms from the link mailed to them (one mail for all lists
// asked for at once). A consent record is kept per list. Asking again within
// ResendAfter, or for a list already confirmed, sends nothing more. Returns ErrInvalid
// naming "email" or "lists", or one of each joined with errors.Join. An address the
// outbox suppressed (bounced, complained) gets the same answer and nothing is stored
// or sent.
func (s *Service) Subscribe(ctx context.Context, email string, lists []List) error {
	addr, lists, err := s.checkSubscription(email, lists)
	if err != nil {
		return err
	}
	return s.subscribe(ctx, addr, lists, SourceForm, true)
}

// checkSubscription returns email normalized and lists checked, or the faults of
// both, joined.
func (s *Service) checkSubscription(email string, lists []List) (string, []List, error) {
	addr, errEmail := privacy.NormalizeEmail(email)
	lists, errLists := s.checkLists(lists)
	return addr, lists, errors.Join(errEmail, errLists)
}

func (s *Service) subscribe(ctx context.Context, addr string, lists []List, source string, record bool) error {
	now := s.clock()
	token, hash, err := s.confirm.New()
	if err != nil {
		return fmt.Errorf("newsletter: %w", err)
	}
	_, err = s.update(ctx, addr, func(cur []Subscription) ([]Subscription, error) {
		var out []Subscription
		for _, l := range lists {
			i := slices.IndexFunc(cur, func(x Subscription) bool { return x.List == l })
			var sub Subscription
			if i >= 0 {
				sub = cur[i]
				if sub.Status == StatusConfirmed || sub.awaitsConfirmation(now) && now.Sub(sub.ConfirmSentAt) < s.resendAfter {
					continue
				}
			} else {
				sub = Subscription{Email: addr, List: l, CreatedAt: now}
			}
			sub.Status, sub.Source, sub.PolicyVersion = StatusPending, source, s.policy.Version
			sub.ConfirmHash, sub.ConfirmSentAt, sub.ConfirmExpires = hash, now, now.Add(s.confirmTTL)
			out = append(out, sub)
		}
		return out, nil
	}, func(ctx context.Context, written []Subscription) error {
		if len(written) == 0 {
			return nil
		}
		// The mail goes first: when the guard refuses it, no consent record is
		// written, which a store without transactions could not take back.
		if err := s.sendConfirmation(ctx, addr, written, token); err != nil || !record {
			return err
		}
		return s.record(ctx, written, true, source)
	})
	if errors.Is(err, errQuiet) {
		return nil
	}
	return err
}

func (s *Service) sendConfirmation(ctx context.Context, addr string, subs []Subscription, token string) error {
	link, err := s.url("/confirm", token)
	if err != nil {
		return err
	}
	data := struct {
		Lists         []List
		Operator, URL string
		Expires       time.Time
	}{Operator: s.policy.Operator, URL: link, Expires: subs[0].ConfirmExpires}
	for _, sub := range subs {
		data.Lists = append(data.Lists, sub.List)
	}
	subj, err := subject(s.tm, "confirm-subject", data)
	if err != nil {
		return err
	}
	text, err := execText(s.tm, "confirm-mail", data)
	if err != nil {
		return err
	}
	_, err = s.mailer.Send(ctx, privacy.Message{
		Purpose: s.listDef(subs[0].List).Purpose, DataSubject: addr, To: privacy.Address{Email: addr},
		Subject: subj, Text: text, Ref: ConfirmRef,
	})
	if errors.Is(err, privacy.ErrRefused) {
		s.log.InfoContext(ctx, "confirmation mail refused; subscription not stored", "err", err)
		return errQuiet
	}
	return err
}

// url returns the absolute link to path on the Handler with token. The link is
// checked as every URL in a mail header must be.
func (s *Service) url(path, token string) (string, error) {
	u := s.base + path + "?t=" + token
	if err := privacy.CheckURL("url", u); err != nil {
		return "", fmt.Errorf("newsletter: built a bad link: %w", err)
	}
	return u, nil
}

// PendingConfirmation returns the lists a confirmation token would confirm, without
// confirming them (what the confirm page shows on GET). Returns ErrInvalid naming "t"
// for a malformed token and ErrGone for one that is unknown, expired or used.
func (s *Service) PendingConfirmation(ctx context.Context, token string) ([]List, error) {
	hash, ok := s.confirm.Hash(token)
	if !ok {
		return nil, privacy.Invalid("t", "this link is not complete; copy the whole link from the mail")
	}
	subs, err := s.store.SubscriptionsByConfirmHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	var lists []List
	for _, sub := range subs {
		if sub.awaitsConfirmation(now) {
			lists = append(lists, sub.List)
		}
	}
	if len(lists) == 0 {
		return nil, privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
	}
	return lists, nil
}

// Confirm confirms the subscriptions a confirmation token was mailed for and keeps
// a consent record per list. Returns the lists confirmed; ErrInvalid naming "t" for a
// malformed token; ErrGone for one that is unknown, expired or used.
func (s *Service) Confirm(ctx context.Context, token string) ([]List, error) {
	hash, ok := s.confirm.Hash(token)
	if !ok {
		return nil, privacy.Invalid("t", "this link is not complete; copy the whole link from the mail")
	}
	subs, err := s.store.SubscriptionsByConfirmHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	gone := privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
	if len(subs) == 0 {
		return nil, gone
	}
	now := s.clock()
	written, err := s.update(ctx, subs[0].Email, func(cur []Subscription) ([]Subscription, error) {
		var out []Subscription
		for _, sub := range cur {
			if bytes.Equal(sub.ConfirmHash, hash) && sub.awaitsConfirmation(now) {
				sub.Status, sub.ConfirmedAt, sub.LeftAt = StatusConfirmed, now, time.Time{}
				sub.ConfirmHash, sub.ConfirmSentAt, sub.ConfirmExpires = nil, time.Time{}, time.Time{}
				out = append(out, sub)
			}
		}
		if len(out) == 0 {
			return nil, gone
		}
		return out, nil
	}, func(ctx context.Context, written []Subscription) error {
		return s.record(ctx, written, true, SourceConfirm)
	})
	if err != nil {
		return nil, err
	}
	lists := make([]List, len(written))
	for i, sub := range written {
		lists[i] = sub.List
	}
	return lists, nil
}

// update runs decide on addr's subscriptions (Store.UpdateSubscriptions) and then
// on the rows written, in one unit of work: the mail and consent records then
// causes commit with the rows, or nothing does.
func (s *Service) update(ctx context.Context, addr string, decide func([]Subscription) ([]Subscription, error), then func(ctx context.Context, written []Subscription) error) ([]Subscription, error) {
	var written []Subscription
	err := s.store.Do(ctx, func(ctx context.Context) error {
		var err error
		if written, err = s.store.UpdateSubscriptions(ctx, addr, decide); err != nil {
			return err
		}
		return then(ctx, written)
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

func (s *Service) record(ctx context.Context, subs []Subscription, granted bool, source string) error {
	for _, sub := range subs {
		if _, err := s.consents.Record(ctx, sub.Email, s.listDef(sub.List).Purpose, granted, ConsentSource(source, sub.List)); err != nil {
			return err
		}
	}
	return nil
}

// byToken returns the subscription an unsubscribe token names. Returns ErrInvalid
// naming "t" for a malformed token and ErrGone for one that names no subscription
// (erased, or never issued).
func (s *Service) byToken(ctx context.Context, token string) (Subscription, error) {
	id, mac, ok := parseUnsubscribeToken(token)
	if !ok {
		return Subscription{}, privacy.Invalid("t", "this link is not complete; copy the whole link from the mail")
	}
	sub, err := s.store.SubscriptionByID(ctx, id)
	if errors.Is(err, privacy.ErrNotFound) || err == nil && !s.tokens.verify(sub.ID, sub.Email, mac) {
		return Subscription{}, privacy.Errorf(privacy.ErrGone, "this link is no longer valid; nothing is sent to this address from this list")
	}
	return sub, err
}

// Subscriber is what the unsubscribe and preference pages show: the address, masked,
// and its subscriptions.
type Subscriber struct {
	Masked        string         `json:"email"` // a***@example.org
	List          List           `json:"list"`  // the list of the mail the link came from
	Subscriptions []Subscription `json:"-"`
}

// Preferences returns the subscriber an unsubscribe token names, changing nothing.
// Returns ErrInvalid naming "t" or ErrGone, as Unsubscribe.
func (s *Service) Preferences(ctx context.Context, token string) (Subscriber, error) {
	sub, err := s.byToken(ctx, token)
	if err != nil {
		return Subscriber{}, err
	}
	subs, err := s.store.Subscriptions(ctx, sub.Email)
	if err != nil {
		return Subscriber{}, err
	}
	return Subscriber{Masked: mask(sub.Email), List: sub.List, Subscriptions: subs}, nil
}

// Unsubscribe takes the subscription a token names off its list, at once, and keeps
// a consent record of the withdrawal. Unsubscribing twice is not an error. Returns the
// list left; ErrInvalid naming "t" for a malformed token; ErrGone for a token that
// names no subscription.
func (s *Service) Unsubscribe(ctx context.Context, token string) (List, error) {
	sub, err := s.byToken(ctx, token)
	if err != nil {
		return "", err
	}
	_, err = s.leave(ctx, sub.Email, func(l List) bool { return l == sub.List }, SourceOneClick, nil)
	return sub.List, err
}

// SetPreferences keeps the token's address on the lists in keep and takes it off
// every other list it is on or pending for, at once. Joining a list is not possible
// here: that needs a new double opt-in. Returns the lists left; ErrInvalid naming "t"
// or "lists"; ErrGone.
func (s *Service) SetPreferences(ctx context.Context, token string, keep []List) ([]List, error) {
	for _, l := range keep {
		if !s.defined(l) {
			return nil, privacy.Invalid("lists", "there is no list %q", clip(string(l), 40))
		}
	}
	sub, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.leave(ctx, sub.Email, func(l List) bool { return !slices.Contains(keep, l) }, SourcePreferences, nil)
}

// ReportComplaint handles a spam complaint (a feedback-loop report, or a staff
// member relaying one): addr leaves every list and is suppressed in the outbox, so
// nothing more is ever sent to it, whatever the purpose. Returns ErrInvalid naming
// "email".
func (s *Service) ReportComplaint(ctx context.Context, addr string) error {
	addr, err := privacy.NormalizeEmail(addr)
	if err != nil {
		return err
	}
	_, err = s.leave(ctx, addr, func(List) bool { return true }, SourceComplaint, func(ctx context.Context) error {
		return s.outbox.Suppress(ctx, addr, "complaint", s.clock())
	})
	return err
}

// RelayComplaint is ReportComplaint done by a staff member, who relays a complaint
// received some other way. It stops all mail to the address, so the actor in ctx
// must be an admin, and the act is recorded in the access log (actor, what, about
// whom) before it is done. Returns ErrUnauthorized or ErrForbidden, changing and
// recording nothing, for anyone else, and ErrInvalid naming "email".
func (s *Service) RelayComplaint(ctx context.Context, addr string) error {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return err
	}
	addr, err := privacy.NormalizeEmail(addr)
	if err != nil {
		return err
	}
	if err := s.auditor.Record(ctx, privacy.RoleAdmin, addr, "newsletter complaint: left every list, all mail suppressed", "spam complaint relayed by staff"); err != nil {
		return err
	}
	return s.ReportComplaint(ctx, addr)
}

// leave unsubscribes addr from the lists it is on that leaves picks, and records the
// withdrawals; also runs in the same transaction.
func (s *Service) leave(ctx context.Context, addr string, leaves func(List) bool, source string, also func(ctx context.Context) error) ([]List, error) {
	now := s.clock()
	written, err := s.update(ctx, addr, func(cur []Subscription) ([]Subscription, error) {
		var out []Subscription
		for _, sub := range cur {
			if leaves(sub.List) && sub.Status != StatusUnsubscribed {
				sub.Status, sub.LeftAt = StatusUnsubscribed, now
				sub.ConfirmHash, sub.ConfirmSentAt, sub.ConfirmExpires = nil, time.Time{}, time.Time{}
				out = append(out, sub)
			}
		}
		return out, nil
	}, func(ctx context.Context, written []Subscription) error {
		if source != "" {
			if err := s.record(ctx, written, false, source); err != nil {
				return err
			}
		}
		if also != nil {
			return also(ctx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	left := make([]List, len(written))
	for i, sub := range written {
		left[i] = sub.List
	}
	return left, nil
}

// SyncConsents acts on consent records written elsewhere since the last call (the
// cursor is kept in the Store): an opt-in to the newsletter or promotions purpose
// recorded at account registration (source "registration") becomes a pending
// subscription to the purpose's first list and a double opt-in confirmation mail;
// a withdrawal recorded by another part of the site (an account settings page)
// takes the address off every list of that purpose. This package's own records are skipped. The host runs it periodically (Run
// does). Returns how many records it acted on. Each batch of records, the changes
// and mails they cause and the cursor commit together, so a crash repeats or loses
// nothing; several processes may run it at once.
func (s *Service) SyncConsents(ctx context.Context) (int, error) {
	acted := 0
	for {
		got := 0
		err := s.store.WithSyncCursor(ctx, func(ctx context.Context, cursor int64) (int64, error) {
			recs, err := s.consents.Store.ConsentsAfter(ctx, cursor, s.syncBatch)
			if err != nil {
				return cursor, err
			}
			got = len(recs)
			n, err := s.applyConsents(ctx, recs)
			if err != nil {
				return cursor, err
			}
			acted += n
			if got > 0 {
				cursor = recs[len(recs)-1].ID
			}
			return cursor, nil
		})
		if err != nil || got < s.syncBatch {
			return acted, err
		}
	}
}

// applyConsents acts on recs in order; the registration opt-ins of one address are
// grouped so that it gets one confirmation mail for both lists.
func (s *Service) applyConsents(ctx context.Context, recs []privacy.Consent) (int, error) {
	var order []string
	optIns := map[string][]List{}
	flush := func(addr string) error {
		lists := optIns[addr]
		if len(lists) == 0 {
			return nil
		}
		delete(optIns, addr)
		lists, _ = s.checkLists(lists)
		return s.subscribe(ctx, addr, lists, SourceRegistration, false)
	}
	acted := 0
	for _, r := range recs {
		lists := s.listsOf(r.Purpose)
		if len(lists) == 0 || strings.HasPrefix(r.Source, "newsletter-") {
			continue
		}
		addr, err := privacy.NormalizeEmail(r.Subject)
		if err != nil {
			s.log.WarnContext(ctx, "consent record with an unusable address skipped", "id", r.ID)
			continue
		}
		switch {
		case r.Granted && r.Source == SourceRegistration:
			if _, seen := optIns[addr]; !seen {
				order = append(order, addr)
			}
			optIns[addr] = append(optIns[addr], lists[0])
			acted++
		case !r.Granted:
			if err := flush(addr); err != nil {
				return acted, err
			}
			// The withdrawal is already on record; only the subscription changes.
			if _, err := s.leave(ctx, addr, func(l List) bool { return slices.Contains(lists, l) }, "", nil); err != nil {
				return acted, err
			}
			acted++
		}
	}
	for _, addr := range order {
		if err := flush(addr); err != nil {
			return acted, err
		}
	}
	return acted, nil
}

func mask(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	r := []rune(addr[:at])
	return string(r[0]) + "***" + addr[at:]
}

func campaignRef(id int64) string { return "campaign:" + strconv.FormatInt(id, 10) }

// campaignID returns the campaign whose messages carry ref.
func campaignID(ref string) (int64, bool) {
	n, ok := strings.CutPrefix(ref, "campaign:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	return id, err == nil && id > 0
}
