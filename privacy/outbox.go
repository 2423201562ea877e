package privacy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Item is a message claimed from the outbox for delivery.
type Item struct {
	ID         int64
	Message    Message
	Attempts   int       // delivery attempts before this one
	Created    time.Time // when it was enqueued
	Suppressed bool      // the recipient was suppressed after it was enqueued
}

// OutboxStats counts messages by state.
type OutboxStats struct {
	Queued int `json:"queued"` // waiting or being delivered
	Sent   int `json:"sent"`
	Failed int `json:"failed"` // refused, permanently failed or expired
}

// Total is every message counted.
func (s OutboxStats) Total() int { return s.Queued + s.Sent + s.Failed }

// OutboxStore is the durable outbox. A message is enqueued in the caller's transaction
// (carried by ctx), claimed by one worker at a time under a lease, and ends sent or
// failed. Several processes may share one store: a message is claimed by one worker
// at a time, and a claim whose lease expired (its worker died) is claimed again.
type OutboxStore interface {
	// Enqueue stores msg for delivery and returns its id. It returns a
	// *RefusalError (RefusedSuppressed), storing nothing, when the recipient is
	// suppressed: the check and the insert are one statement.
	Enqueue(ctx context.Context, msg *Message) (int64, error)
	// EnqueueBatch is Enqueue for each of msgs, in a few statements for all: it
	// returns their ids in order, 0 for a message whose recipient is suppressed,
	// which is not stored. On an error, a store whose unit of work ctx carries has
	// stored nothing once that unit is undone; outside one, some may be stored.
	EnqueueBatch(ctx context.Context, msgs []*Message) ([]int64, error)
	// Claim leases up to limit messages due at now to owner until now+lease.
	Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]Item, error)
	// MarkSent records that owner delivered ids. Ids owner no longer holds are ignored.
	MarkSent(ctx context.Context, owner string, ids []int64, now time.Time) error
	// MarkSentAndClaim is MarkSent(sent) then Claim, in one transaction: a worker
	// that delivered a full batch commits once for it and the next. On an error
	// neither happened.
	MarkSentAndClaim(ctx context.Context, owner string, sent []int64, limit int, now time.Time, lease time.Duration) ([]Item, error)
	// Retry releases id for another attempt at next, recording the reason.
	Retry(ctx context.Context, owner string, id int64, next time.Time, reason string) error
	// MarkFailed ends id without delivery, recording the reason.
	MarkFailed(ctx context.Context, owner string, id int64, reason string, now time.Time) error
	// Release gives back claimed ids unattempted, due at once.
	Release(ctx context.Context, owner string, ids []int64) error
	// Suppress stops all future mail to addr.
	Suppress(ctx context.Context, addr, reason string, now time.Time) error
	// Suppressed reports whether addr is suppressed.
	Suppressed(ctx context.Context, addr string) (bool, error)
	// Recipient returns the address message id was for, so that a bounce naming
	// the message can suppress it. Returns ErrNotFound when the message is no
	// longer kept (purged or erased).
	Recipient(ctx context.Context, id int64) (string, error)
	// OutboxStats counts messages with the given Ref, or all messages when ref is "".
	OutboxStats(ctx context.Context, ref string) (OutboxStats, error)
	// PurgeOutbox removes sent and failed messages that ended before t.
	PurgeOutbox(ctx context.Context, t time.Time) (int, error)
	// EraseOutbox removes every message concerning subject or sent to it, except the
	// suppression entry, which is kept so the address is never mailed again.
	EraseOutbox(ctx context.Context, subject string) (int, error)
	// CountMail adds one to the mail counter key (a MailLimitKey) and returns its
	// count, this message included. A counter whose window ended at or before now
	// starts again at one, with a window ending at now+window. One call is atomic
	// across every process on the store, and joins the transaction in ctx, if any.
	CountMail(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// PurgeMailCounts removes the counters whose window ended at or before t.
	PurgeMailCounts(ctx context.Context, t time.Time) (int, error)
}

// A Transport opens connections to a mail relay.
type Transport interface {
	Dial(ctx context.Context) (Conn, error)
}

// A Conn delivers messages over one connection. A Conn is used by one worker at a time.
type Conn interface {
	Send(ctx context.Context, msg *Message) error
	Close() error
}

// DeliveryError classifies a delivery failure: Permanent failures (SMTP 5xx)
// suppress the recipient; all others are retried.
type DeliveryError struct {
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// SuppressionKey is the form in which a suppressed address is stored: its SHA-256,
// so the suppression list, which outlives an erasure to keep the promise never to
// mail the address again, does not hold the address itself. It hashes
// AddressKey(addr): a bounce for Zed@ suppresses zed@ too.
func SuppressionKey(addr string) string {
	h := sha256.Sum256([]byte(AddressKey(addr)))
	return hex.EncodeToString(h[:])
}

// BuildError is returned by a Conn for a message it could not turn into mail. That
// is a bug in the caller or the transport, never a bounce: the Dispatcher fails the
// message and logs its id, and does not suppress the recipient. Err may hold the
// address, so the Dispatcher neither logs nor stores it.
type BuildError struct{ Err error }

func (e *BuildError) Error() string { return "message could not be built" }
func (e *BuildError) Unwrap() error { return e.Err }

func isPermanent(err error) bool {
	var d *DeliveryError
	return errors.As(err, &d) && d.Permanent
}

// Dispatcher delivers the outbox: Workers workers each hold one connection, claim
// batches (or take the mail handed over to them, see Run), re-check every message
// against the purpose guard just before sending it, retry temporary failures with
// exponential backoff until MaxAge, and suppress the recipient of a permanent
// failure (a relay's 5xx), never of a *BuildError. Zero fields take the defaults
// shown.
type Dispatcher struct {
	Store     OutboxStore
	Transport Transport
	Mailer    *Mailer // re-checks each message before delivery
	Log       *slog.Logger
	Now       func() time.Time

	Workers    int           // 4
	Batch      int           // 32
	Lease      time.Duration // 2m: longer than a batch can take to send
	Poll       time.Duration // 250ms: wait when the outbox is empty; claim at least this often
	MinBackoff time.Duration // 30s: the first retry delay; it doubles each attempt
	MaxBackoff time.Duration // 1h
	MaxAge     time.Duration // 72h: a message still undelivered then fails

	wake  chan struct{}
	woken atomic.Bool // Wake was called: claim at once
	once  sync.Once
}

func (d *Dispatcher) defaults() {
	d.once.Do(func() {
		def := func(v *time.Duration, x time.Duration) {
			if *v <= 0 {
				*v = x
			}
		}
		if d.Workers <= 0 {
			d.Workers = 4
		}
		if d.Batch <= 0 {
			d.Batch = 32
		}
		def(&d.Lease, 2*time.Minute)
		def(&d.Poll, 250*time.Millisecond)
		def(&d.MinBackoff, 30*time.Second)
		def(&d.MaxBackoff, time.Hour)
		def(&d.MaxAge, 72*time.Hour)
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
		d.wake = make(chan struct{}, 1)
	})
}

// Wake tells idle workers to look at the outbox now rather than at the next poll.
func (d *Dispatcher) Wake() {
	d.defaults()
	d.woken.Store(true)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then finishes the message in flight, marks what was
// sent and releases what was claimed but not attempted, and returns nil.
//
// While it runs, the mail its Mailer sends outside a unit of work is handed to its
// workers as it is stored, and what its SendBatch sends in one (a campaign's
// batches) once that unit has committed (privacy.AfterWork), leased to them, when
// the Store is a LeasingStore and the Mailer's own (one Dispatcher per Mailer at a
// time). What finds no room in the hand-over queue, what Send sends in a unit of
// work, and a unit of work that runs nothing after it, is claimed as before.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.defaults()
	var h *handover
	if ls, ok := d.Store.(LeasingStore); ok && d.Mailer != nil && sameStore(d.Mailer.store, d.Store) {
		h = newHandover(d, ls)
		if !d.Mailer.handover.CompareAndSwap(nil, h) {
			h = nil
		}
	}
	var wg sync.WaitGroup
	for range d.Workers {
		wg.Go(func() { d.work(ctx, newOwner(), h) })
	}
	wg.Wait()
	if h != nil {
		d.Mailer.handover.CompareAndSwap(h, nil)
		if err := h.close(context.WithoutCancel(ctx)); err != nil {
			d.Log.Error("outbox release", "err", err)
		}
	}
	return nil
}

// sameStore reports whether a and b are one store.
func sameStore(a, b OutboxStore) bool {
	return a != nil && reflect.TypeOf(a).Comparable() && any(a) == any(b)
}

func newOwner() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *Dispatcher) work(ctx context.Context, owner string, h *handover) {
	// Bookkeeping must outlive a cancelled ctx so nothing claimed is left dangling.
	bg := context.WithoutCancel(ctx)
	var conn Conn
	var sent []int64   // delivered, not yet marked
	var handed []int64 // handed over and delivered, not yet marked
	defer func() {
		d.markSent(bg, owner, sent)
		if h != nil {
			d.markSent(bg, h.owner, handed)
		}
		if conn != nil {
			conn.Close()
		}
	}()
	idle := d.Poll
	for ctx.Err() == nil {
		// Mail handed over is leased already: it goes first, and what it delivers
		// is marked a batch at a time, as claimed mail is. Mail only the store
		// holds (sent in a unit of work, due for a retry) is claimed once a Poll
		// by one of the workers, on Wake, and by every worker the queue leaves
		// free while claims come back full.
		if h != nil && d.woken.Swap(false) {
			h.lastClaim.Store(0) // a Wake makes a claim due, not the mail handed over wait
		}
		if h != nil && !h.claimDue(idle) {
			if items := h.take(); len(items) > 0 {
				if len(h.queue) > 0 {
					h.signal() // a unit of work's mail comes many at once: another worker takes the rest
				}
				// What the last claim delivered is marked first, well within its lease.
				d.markSent(bg, owner, sent)
				sent = nil
				var done []int64
				conn, done = d.deliver(ctx, h.owner, conn, items)
				if handed = append(handed, done...); len(handed) >= d.Batch {
					d.markSent(bg, h.owner, handed)
					handed = nil
				}
				continue
			}
			if !h.backlog.Load() {
				// Nothing to deliver: wait for mail or the next claim, and mark
				// what was delivered if no more mail comes soon.
				d.markSent(bg, owner, sent)
				sent = nil
				if len(handed) == 0 {
					d.sleep(ctx, idle, h)
				} else if !d.sleep(ctx, min(idle, 20*time.Millisecond), h) {
					d.markSent(bg, h.owner, handed)
					handed = nil
				}
				continue
			}
		}
		if h != nil {
			d.markSent(bg, h.owner, handed)
			handed = nil
		}
		// A full batch delivered is marked in the transaction that claims the next.
		items, err := d.Store.MarkSentAndClaim(ctx, owner, sent, d.Batch, nowOr(d.Now), d.Lease)
		if err != nil {
			d.markSent(bg, owner, sent)
			sent = nil
			if ctx.Err() == nil {
				d.Log.Error("outbox claim", "err", err)
			}
			d.sleep(ctx, idle, h)
			continue
		}
		sent = nil
		if len(items) == 0 {
			if h != nil {
				h.claimed(false)
				if len(h.queue) > 0 {
					continue // mail handed over waits
				}
			}
			d.sleep(ctx, idle, h)
			continue
		}
		if h != nil {
			h.claimed(len(items) == d.Batch)
		}
		conn, sent = d.deliver(ctx, owner, conn, items)
		if len(items) < d.Batch {
			// The outbox is drained: mark now rather than after the wait, and let
			// the outbox fill up a little rather than claim messages one by one as
			// they trickle in.
			d.markSent(bg, owner, sent)
			sent = nil
			d.sleep(ctx, min(idle, 20*time.Millisecond), h)
		}
	}
}

func (d *Dispatcher) markSent(ctx context.Context, owner string, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if err := d.Store.MarkSent(ctx, owner, ids, nowOr(d.Now)); err != nil {
		d.Log.Error("outbox mark sent", "err", err, "count", len(ids))
	}
}

// sleep waits for dur, a Wake, mail handed over to h (if not nil) or the end of
// ctx, and reports whether it was woken.
func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration, h *handover) (woken bool) {
	var ready chan struct{}
	if h != nil {
		ready = h.ready
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-d.wake:
		return true
	case <-ready:
		return true
	}
	return false
}

// deliver sends items over conn (dialling when nil) and returns the connection to
// reuse, or nil after a connection failure, and the ids delivered, for the caller
// to mark sent.
func (d *Dispatcher) deliver(ctx context.Context, owner string, conn Conn, items []Item) (_ Conn, sent []int64) {
	bg := context.WithoutCancel(ctx)
	// The purpose guard looks again at every message just before its batch goes
	// out, in one look-up per Allower for the batch.
	verdicts := make([]error, len(items))
	if d.Mailer != nil {
		var msgs []*Message
		var at []int
		for i := range items {
			if !items[i].Suppressed {
				msgs = append(msgs, &items[i].Message)
				at = append(at, i)
			}
		}
		for k, err := range d.Mailer.recheck(bg, msgs) {
			verdicts[at[k]] = err
		}
	}
	for i, it := range items {
		if ctx.Err() != nil {
			ids := make([]int64, 0, len(items)-i)
			for _, rest := range items[i:] {
				ids = append(ids, rest.ID)
			}
			if err := d.Store.Release(bg, owner, ids); err != nil {
				d.Log.Error("outbox release", "err", err)
			}
			return conn, sent
		}
		msg := it.Message
		msg.ID = it.ID
		if it.Suppressed {
			d.fail(bg, owner, it, "recipient suppressed")
			continue
		}
		if err := verdicts[i]; err != nil {
			if errors.Is(err, ErrRefused) {
				d.fail(bg, owner, it, "refused at delivery: "+err.Error())
			} else {
				d.retry(bg, owner, it, err)
			}
			continue
		}
		reused := conn != nil
		if conn == nil {
			c, err := d.Transport.Dial(bg)
			if err != nil {
				d.Log.Warn("mail relay unreachable", "err", err)
				for _, rest := range items[i:] {
					d.retry(bg, owner, rest, err)
				}
				return nil, sent
			}
			conn = c
		}
		err := conn.Send(bg, &msg)
		var be *BuildError
		if errors.As(err, &be) {
			d.Log.Error("outbox message could not be built", "id", it.ID, "purpose", string(it.Message.Purpose))
			d.fail(bg, owner, it, be.Error())
			continue
		}
		if err != nil && !isPermanent(err) && reused {
			// The relay may have closed the idle connection: redial once before
			// counting an attempt and waiting out a backoff.
			conn.Close()
			conn = nil
			if c, derr := d.Transport.Dial(bg); derr == nil {
				conn = c
				err = conn.Send(bg, &msg)
			}
		}
		switch {
		case err == nil:
			sent = append(sent, it.ID)
		case isPermanent(err):
			if serr := d.Store.Suppress(bg, msg.To.Email, "permanent failure", nowOr(d.Now)); serr != nil {
				d.Log.Error("outbox suppress", "err", serr)
			}
			d.fail(bg, owner, it, err.Error())
		default:
			d.retry(bg, owner, it, err)
			if conn != nil {
				conn.Close()
				conn = nil
			}
		}
	}
	return conn, sent
}

func (d *Dispatcher) fail(ctx context.Context, owner string, it Item, reason string) {
	d.Log.Warn("mail not delivered", "id", it.ID, "purpose", string(it.Message.Purpose), "reason", reason)
	if err := d.Store.MarkFailed(ctx, owner, it.ID, reason, nowOr(d.Now)); err != nil {
		d.Log.Error("outbox mark failed", "err", err)
	}
}

func (d *Dispatcher) retry(ctx context.Context, owner string, it Item, cause error) {
	now := nowOr(d.Now)
	if now.Sub(it.Created) >= d.MaxAge {
		d.fail(ctx, owner, it, "expired: "+cause.Error())
		return
	}
	delay := d.MinBackoff
	for i := 0; i < it.Attempts && delay < d.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, d.MaxBackoff)
	if err := d.Store.Retry(ctx, owner, it.ID, now.Add(delay), cause.Error()); err != nil {
		d.Log.Error("outbox retry", "err", err)
	}
}
