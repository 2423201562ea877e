package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Address is a mailbox: an optional display name and an address.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Message is one outgoing email. It names the Purpose it is sent for and the data
// subject it concerns; it has exactly one recipient, and no CC or BCC exists.
type Message struct {
	Purpose     Purpose `json:"purpose"`
	DataSubject string  `json:"data_subject"`       // the person the message concerns; "" only for mail between operator addresses
	From        Address `json:"from"`               // an operator address; the policy's sender when empty
	To          Address `json:"to"`                 // the data subject or an operator address
	ReplyTo     Address `json:"reply_to,omitempty"` // optional: the data subject or an operator address
	Subject     string  `json:"subject"`
	Text        string  `json:"text"`
	HTML        string  `json:"html,omitempty"`
	// Unsubscribe is a one-click unsubscribe URL (RFC 8058). When set, the message
	// carries List-Unsubscribe and List-Unsubscribe-Post headers built from it.
	Unsubscribe string `json:"unsubscribe,omitempty"`
	// Ref groups messages for progress reports, e.g. "campaign:42". Never personal.
	Ref string `json:"ref,omitempty"`
	// ID is the message's outbox id, set by the Dispatcher for the Transport (which
	// may name the message in its return path, so a bounce can be traced to it
	// without holding the address); Send ignores it.
	ID int64 `json:"-"`
}

// Limits on header values.
const (
	MaxSubjectLen = 200
	MaxNameLen    = 100
	MaxURLLen     = 2000
	MaxBodyLen    = 1 << 20
)

// ErrRefused is matched (errors.Is) by every refusal of the purpose guard.
var ErrRefused = errors.New("mail refused by the purpose guard")

// Refusal reasons.
const (
	RefusedSender     = "sender"     // From is not an operator address
	RefusedRecipient  = "recipient"  // To or Reply-To is neither the subject nor an operator address
	RefusedPurpose    = "purpose"    // the subject's address was not collected for the purpose
	RefusedSuppressed = "suppressed" // the recipient bounced permanently or complained
)

// RefusalError says why the guard refused a message. It matches ErrRefused and
// ErrForbidden. It never holds the address.
type RefusalError struct {
	Reason  string
	Purpose Purpose
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("mail refused (%s) for purpose %s", e.Reason, e.Purpose)
}

// Is makes the error match ErrRefused and ErrForbidden.
func (e *RefusalError) Is(target error) bool { return target == ErrRefused || target == ErrForbidden }

// An Allower answers for one capability whether an address was collected for a
// purpose and may be mailed for it now (a confirmed newsletter subscriber, a
// commenter who asked for follow-up and confirmed). When ctx carries a transaction,
// the answer must see that transaction's uncommitted rows.
type Allower interface {
	Allows(ctx context.Context, p Purpose, subject string) (bool, error)
}

// A MessageAllower is an Allower that judges the whole message (its Purpose,
// DataSubject and Ref), for a capability that lets a person receive one message
// but not another for the same purpose: a pending newsletter subscriber may get the
// double-opt-in confirmation, and nothing else. The Mailer discovers it by type
// assertion and then calls AllowsMessage instead of Allows, at Send and again just
// before delivery. It is given a copy of the message, so it cannot change what is
// sent. When ctx carries a transaction, the answer must see that transaction's
// uncommitted rows.
type MessageAllower interface {
	AllowsMessage(ctx context.Context, msg *Message) (bool, error)
}

// A BatchAllower judges many messages at once, for the Dispatcher's re-check of a
// claimed batch: one look-up for the batch where AllowsMessage would make one a
// message. The Mailer discovers it by type assertion. The answer for each message
// must be the one AllowsMessage (or Allows) would give; the messages are copies.
type BatchAllower interface {
	AllowsMessages(ctx context.Context, msgs []*Message) ([]bool, error)
}

// AllowFunc adapts a function to Allower.
type AllowFunc func(ctx context.Context, p Purpose, subject string) (bool, error)

// Allows calls f.
func (f AllowFunc) Allows(ctx context.Context, p Purpose, subject string) (bool, error) {
	return f(ctx, p, subject)
}

// Mailer is the purpose-bound mailer (P8, P9). Send checks a message against the
// policy and enqueues it in the durable outbox; the Dispatcher checks it again just
// before delivery. Send also bounds how much mail of the purposes anyone can trigger
// reaches one address (MailLimits: by default 3 per address per 24 hours for each of
// account, parental-consent and data-rights mail).
type Mailer struct {
	policy *Policy
	store  OutboxStore
	log    *slog.Logger

	mu       sync.RWMutex
	allowers map[Purpose][]Allower
	applied  map[string]bool // holder name + purpose, for AllowContract
	limits   MailLimits
	declared map[Purpose]int // PurposeUse.Limit of the contracts applied

	refusals sync.Map // reason -> *atomic.Int64

	handover atomic.Pointer[handover] // a running Dispatcher's, if any
}

// NewMailer returns a Mailer for policy that enqueues into store. log may be nil.
func NewMailer(policy *Policy, store OutboxStore, log *slog.Logger) *Mailer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{policy: policy, store: store, log: log, allowers: map[Purpose][]Allower{}, applied: map[string]bool{}, declared: map[Purpose]int{}}
	m.SetLimits(MailLimits{})
	return m
}

// Work returns the unit of work of the mailer's outbox store, or nil if the store
// is not one: capabilities check at construction that their store is on the same
// database (SameDatabase), and run a change and its mail in it.
func (m *Mailer) Work() UnitOfWork {
	w, _ := m.store.(UnitOfWork)
	return w
}

// knows reports whether p is a purpose an Allower was registered for.
func (m *Mailer) knows(p Purpose) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.allowers[p]) > 0
}

// Policy returns the policy the mailer enforces.
func (m *Mailer) Policy() *Policy { return m.policy }

// Allow registers a for purpose p. A message for p to a data subject is allowed when
// any Allower registered for p allows it; with none registered, it is refused.
func (m *Mailer) Allow(p Purpose, a Allower) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allowers[p] = append(m.allowers[p], a)
}

// AllowContract registers the Allower of every purpose c declares, once: a holder's
// Service may apply its own contract when it is built, and the Registry again when
// the holder is registered.
func (m *Mailer) AllowContract(c Contract) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pu := range c.Purposes {
		key := c.Name + "\x00" + string(pu.Purpose)
		if pu.Allower == nil || m.applied[key] {
			continue
		}
		m.applied[key] = true
		m.allowers[pu.Purpose] = append(m.allowers[pu.Purpose], pu.Allower)
		if pu.Limit > 0 {
			m.declared[pu.Purpose] = pu.Limit
		}
	}
}

// allowedPurposes returns the purposes Allowers are registered for.
func (m *Mailer) allowedPurposes() []Purpose {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Purpose, 0, len(m.allowers))
	for p := range m.allowers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Send checks msg and enqueues it. When ctx carries a transaction (a capability's
// MySQL store opened it), the message is enqueued in it and is sent only if it commits.
// Returns ErrInvalid (naming the field) for a malformed message and a *RefusalError
// (ErrRefused, ErrForbidden) for one the policy does not allow; nothing is enqueued then.
// A message over its recipient's limit (see MailLimits) is not enqueued either, but
// Send then returns id 0 and no error, so that no visitor can tell; so is a message
// of a limited purpose to a suppressed recipient (counted as RefusedSuppressed).
func (m *Mailer) Send(ctx context.Context, msg Message) (int64, error) {
	if err := m.checkFormat(&msg); err != nil {
		return 0, err
	}
	// The store refuses a suppressed recipient as it inserts.
	if err := m.checkPolicy(ctx, &msg, false); err != nil {
		return 0, err
	}
	switch over, err := m.overLimit(ctx, &msg); {
	case err != nil:
		return 0, err
	case over:
		m.count(LimitedRecipient)
		m.log.WarnContext(ctx, "mail over the recipient's limit, not sent", "purpose", string(msg.Purpose))
		return 0, nil
	}
	// A running Dispatcher on this store takes mail sent outside a unit of work
	// as it is stored, rather than claiming it back. Mail sent one message at a
	// time in a unit of work is claimed, which delivers it in the order it was
	// stored (a request's mail before the next one's): handed over after each
	// commit, two workers could deliver two such messages the other way round.
	var id int64
	var err error
	handed := false
	if h := m.handover.Load(); h != nil && !InUnitOfWork(ctx) {
		id, handed, err = h.send(ctx, &msg)
	}
	if !handed {
		id, err = m.store.Enqueue(ctx, &msg)
	}
	var re *RefusalError
	if errors.As(err, &re) {
		return 0, m.suppressed(ctx, re.Reason, msg.Purpose)
	}
	return id, err
}

// suppressed counts a message the store refused for its recipient and returns
// what Send answers for it.
func (m *Mailer) suppressed(ctx context.Context, reason string, p Purpose) error {
	err := m.refuse(ctx, reason, p)
	if reason == RefusedSuppressed && m.limited(p) {
		// A visitor can make the site mail any address for this purpose:
		// answering otherwise would tell them the address is a member's that
		// bounced or complained (audit #13 finding 6).
		return nil
	}
	return err
}

// SendBatch is Send for each of msgs, for a sender of many messages at once (a
// campaign): the purpose's Allowers are asked once for all the messages of a
// purpose (BatchAllower) and the messages are stored a few hundred to a statement
// (OutboxStore.EnqueueBatch), in one unit of work of the outbox store, which joins
// the one ctx carries. ids[i] and errs[i] are what Send would have returned for
// msgs[i], an Allower's failure included. err is a failure of the store, and then
// none of msgs is enqueued.
func (m *Mailer) SendBatch(ctx context.Context, msgs []Message) (ids []int64, errs []error, err error) {
	msgs = slices.Clone(msgs)
	errs = make([]error, len(msgs))
	var checked []*Message
	var at []int
	for i := range msgs {
		if errs[i] = m.checkFormat(&msgs[i]); errs[i] == nil {
			checked = append(checked, &msgs[i])
			at = append(at, i)
		}
	}
	for k, err := range m.recheck(ctx, checked) {
		errs[at[k]] = err
	}
	var over []bool
	work := func(ctx context.Context) error {
		// Set, not added to: a unit of work that conflicts runs again.
		ids = make([]int64, len(msgs))
		over = make([]bool, len(msgs))
		var queue []*Message
		var qi []int
		for i := range msgs {
			if errs[i] != nil {
				continue
			}
			o, err := m.overLimit(ctx, &msgs[i])
			if err != nil {
				return err
			}
			if over[i] = o; !o {
				queue = append(queue, &msgs[i])
				qi = append(qi, i)
			}
		}
		if len(queue) == 0 {
			return nil
		}
		got, err := m.enqueueBatch(ctx, queue)
		for k, id := range got {
			ids[qi[k]] = id
		}
		return err
	}
	if w := m.Work(); w != nil {
		err = w.Do(ctx, work)
	} else {
		err = work(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range msgs {
		switch {
		case errs[i] != nil:
		case over[i]:
			m.count(LimitedRecipient)
			m.log.WarnContext(ctx, "mail over the recipient's limit, not sent", "purpose", string(msgs[i].Purpose))
		case ids[i] == 0:
			errs[i] = m.suppressed(ctx, RefusedSuppressed, msgs[i].Purpose)
		}
	}
	return ids, errs, nil
}

// enqueueBatch enqueues msgs in the unit of work ctx carries (SendBatch's: a
// campaign's batch). With a Dispatcher running on the store, as many as its
// hand-over queue has room for are enqueued leased to it and handed over once the
// unit has committed, rather than claimed back; if the unit is undone, so is their
// lease with the rest.
func (m *Mailer) enqueueBatch(ctx context.Context, msgs []*Message) ([]int64, error) {
	h := m.handover.Load()
	if h == nil {
		return m.store.EnqueueBatch(ctx, msgs)
	}
	n := h.reserve(len(msgs))
	if n == 0 {
		return m.store.EnqueueBatch(ctx, msgs)
	}
	now := nowOr(h.now)
	until := now.Add(h.lease)
	var ids []int64 // read once the unit has ended
	if !AfterWork(ctx, func(committed bool) {
		if !committed || len(ids) < n {
			h.unreserve(n)
			return
		}
		items := make([]handed, 0, n)
		for i, msg := range msgs[:n] {
			if ids[i] != 0 {
				items = append(items, handed{Item{ID: ids[i], Message: *msg, Created: now}, until})
			}
		}
		h.unreserve(n - len(items))
		// Not ctx: it carries the unit of work, which has ended.
		if err := h.put(context.Background(), items); err != nil {
			m.log.ErrorContext(ctx, "outbox release", "err", err)
		}
	}) {
		h.unreserve(n)
		return m.store.EnqueueBatch(ctx, msgs)
	}
	leased, err := h.store.EnqueueBatchLeased(ctx, msgs[:n], h.owner, until)
	if err != nil || n == len(msgs) {
		ids = leased
		return leased, err
	}
	rest, err := m.store.EnqueueBatch(ctx, msgs[n:])
	ids = append(leased, rest...)
	return ids, err
}

// Check validates msg in place (filling From and normalising addresses) and applies
// the purpose guard, suppression included, without enqueueing anything: Send's
// checks, for a caller that wants to know before it commits to sending.
func (m *Mailer) Check(ctx context.Context, msg *Message) error {
	if err := m.checkFormat(msg); err != nil {
		return err
	}
	return m.checkPolicy(ctx, msg, true)
}

// Refusals returns how many messages were refused, by reason.
func (m *Mailer) Refusals() map[string]int64 {
	out := map[string]int64{}
	m.refusals.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (m *Mailer) count(reason string) {
	c, _ := m.refusals.LoadOrStore(reason, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

func (m *Mailer) refuse(ctx context.Context, reason string, p Purpose) error {
	m.count(reason)
	m.log.WarnContext(ctx, "mail refused", "reason", reason, "purpose", string(p))
	return &RefusalError{Reason: reason, Purpose: p}
}

func (m *Mailer) checkFormat(msg *Message) error {
	if !m.knows(msg.Purpose) {
		return Invalid("purpose", "unknown purpose %q: no holder declares it", msg.Purpose)
	}
	if msg.From.Email == "" {
		msg.From = Address{Name: m.policy.Operator, Email: m.policy.SenderAddress()}
	}
	for _, f := range []struct {
		name string
		addr *Address
		opt  bool
	}{{"from", &msg.From, false}, {"to", &msg.To, false}, {"reply_to", &msg.ReplyTo, true}} {
		if f.opt && f.addr.Email == "" && f.addr.Name == "" {
			continue
		}
		e, err := NormalizeEmail(f.addr.Email)
		if err != nil {
			return Invalid(f.name, "%s", strings.TrimPrefix(err.Error(), "email: "))
		}
		f.addr.Email = e
		if err := CheckText(f.name+"_name", f.addr.Name, MaxNameLen, false); err != nil {
			return err
		}
	}
	if msg.DataSubject != "" {
		e, err := NormalizeEmail(msg.DataSubject)
		if err != nil {
			return Invalid("data_subject", "%s", strings.TrimPrefix(err.Error(), "email: "))
		}
		msg.DataSubject = e
	}
	if err := CheckText("subject", msg.Subject, MaxSubjectLen, true); err != nil {
		return err
	}
	if err := CheckText("ref", msg.Ref, 100, false); err != nil {
		return err
	}
	if err := CheckMultiline("text", msg.Text, MaxBodyLen, true); err != nil {
		return err
	}
	if err := CheckMultiline("html", msg.HTML, MaxBodyLen, false); err != nil {
		return err
	}
	if msg.Unsubscribe != "" {
		if err := CheckURL("unsubscribe", msg.Unsubscribe); err != nil {
			return err
		}
	}
	return nil
}

// CheckURL checks that s is an absolute http(s) URL with nothing in it that could
// break out of a mail header: no spaces, control characters, angle brackets or commas.
func CheckURL(field, s string) error {
	if err := CheckText(field, s, MaxURLLen, true); err != nil {
		return err
	}
	if strings.ContainsAny(s, " <>,\"\\") {
		return Invalid(field, "contains a character not allowed in a URL")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Invalid(field, "must be an absolute http or https URL")
	}
	return nil
}

// checkPolicy applies the guard. The dispatcher's re-check (recheck) skips the
// suppression look-up: Claim already reports suppressed recipients.
func (m *Mailer) checkPolicy(ctx context.Context, msg *Message, suppression bool) error {
	ask, err := m.parties(ctx, msg)
	if err != nil {
		return err
	}
	if suppression {
		suppressed, err := m.store.Suppressed(ctx, msg.To.Email)
		if err != nil {
			return err
		}
		if suppressed {
			return m.refuse(ctx, RefusedSuppressed, msg.Purpose)
		}
	}
	if !ask {
		return nil
	}
	ok, err := m.allowed(ctx, msg.Purpose, []*Message{msg})
	if err != nil {
		return err
	}
	if !ok[0] {
		return m.refuse(ctx, RefusedPurpose, msg.Purpose)
	}
	return nil
}

// parties applies the rules on sender and recipients, which need no look-up, and
// reports whether the purpose's Allowers must still be asked: not for mail between
// operator addresses, which concerns no one else.
func (m *Mailer) parties(ctx context.Context, msg *Message) (ask bool, err error) {
	p := m.policy
	if !p.IsOperatorAddress(msg.From.Email) {
		return false, m.refuse(ctx, RefusedSender, msg.Purpose)
	}
	party := func(a string) bool { return a == "" || a == msg.DataSubject || p.IsOperatorAddress(a) }
	if !party(msg.To.Email) || !party(msg.ReplyTo.Email) {
		return false, m.refuse(ctx, RefusedRecipient, msg.Purpose)
	}
	if msg.DataSubject == "" && !p.IsOperatorAddress(msg.To.Email) {
		return false, m.refuse(ctx, RefusedRecipient, msg.Purpose)
	}
	return msg.DataSubject != "" && !p.IsOperatorAddress(msg.DataSubject), nil
}

// recheck applies the guard to a claimed batch, as checkPolicy without suppression
// would to each message, asking each BatchAllower once for all the messages of its
// purpose. It returns one error (or nil) for each message.
func (m *Mailer) recheck(ctx context.Context, msgs []*Message) []error {
	errs := make([]error, len(msgs))
	byPurpose := map[Purpose][]int{}
	for i, msg := range msgs {
		ask, err := m.parties(ctx, msg)
		switch {
		case err != nil:
			errs[i] = err
		case ask:
			byPurpose[msg.Purpose] = append(byPurpose[msg.Purpose], i)
		}
	}
	for p, idx := range byPurpose {
		group := make([]*Message, len(idx))
		for k, i := range idx {
			group[k] = msgs[i]
		}
		ok, err := m.allowed(ctx, p, group)
		for k, i := range idx {
			switch {
			case err != nil:
				errs[i] = err
			case !ok[k]:
				errs[i] = m.refuse(ctx, RefusedPurpose, p)
			}
		}
	}
	return errs
}

// allowed reports for each of msgs, all for purpose p, whether any Allower
// registered for p allows it. Each Allower is given copies.
func (m *Mailer) allowed(ctx context.Context, p Purpose, msgs []*Message) ([]bool, error) {
	m.mu.RLock()
	as := m.allowers[p]
	m.mu.RUnlock()
	ok := make([]bool, len(msgs))
	for _, a := range as {
		var pending []int
		for i := range msgs {
			if !ok[i] {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		copies := make([]*Message, len(pending))
		for k, i := range pending {
			c := *msgs[i]
			copies[k] = &c
		}
		var yes []bool
		var err error
		switch a := a.(type) {
		case BatchAllower:
			yes, err = a.AllowsMessages(ctx, copies)
			if err == nil && len(yes) != len(copies) {
				err = fmt.Errorf("%d answers for %d messages", len(yes), len(copies))
			}
		default:
			yes = make([]bool, len(copies))
			for k, c := range copies {
				if ma, isMsg := a.(MessageAllower); isMsg {
					yes[k], err = ma.AllowsMessage(ctx, c)
				} else {
					yes[k], err = a.Allows(ctx, p, c.DataSubject)
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("purpose check for %s: %w", p, err)
		}
		for k, i := range pending {
			ok[i] = ok[i] || yes[k]
		}
	}
	return ok, nil
}

// SenderAddress returns the address mail is sent from: Sender, or Contact.
func (p *Policy) SenderAddress() string {
	if p.Sender != "" {
		return p.Sender
	}
	return p.Contact
}

// nowOr reads an injected clock, or the real one when none was injected.
func nowOr(now func() time.Time) time.Time {
	if now != nil {
		return now().UTC()
	}
	return time.Now().UTC()
}
