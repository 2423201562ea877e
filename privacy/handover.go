package privacy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A LeasingStore is an OutboxStore that can enqueue a message already claimed. A
// running Dispatcher whose Mailer enqueues into it takes the mail that Mailer sends
// straight from the Mailer (hand-over), as it is stored or, a batch sent in a
// unit of work, once that unit commits, without claiming it back from the store:
// the message is stored, committed and leased before it is sent, as a claimed one
// is, and if the process dies the lease runs out and any Dispatcher claims it. On
// MySQL, claims (a locking read and an update of every message) were most of the
// database's work for a delivery (BENCHMARKS.md).
type LeasingStore interface {
	OutboxStore
	// EnqueueLeased is Enqueue, with the message claimed by owner until until, as a
	// Claim would have it: no other owner claims it before then. ctx must carry no
	// unit of work (a message handed over before its unit commits could be sent
	// for a change then undone): the store returns ErrInUnitOfWork if it does.
	EnqueueLeased(ctx context.Context, msg *Message, owner string, until time.Time) (int64, error)
	// EnqueueBatchLeased is EnqueueBatch, each message claimed by owner until
	// until. Unlike EnqueueLeased it joins the unit of work ctx carries: its caller
	// hands the messages over only once that unit has committed (AfterWork).
	EnqueueBatchLeased(ctx context.Context, msgs []*Message, owner string, until time.Time) ([]int64, error)
}

// ErrInUnitOfWork is returned by LeasingStore.EnqueueLeased called inside a unit of work.
var ErrInUnitOfWork = errors.New("a leased enqueue cannot join a unit of work")

// InUnitOfWork reports whether ctx carries a unit of work, of any database.
func InUnitOfWork(ctx context.Context) bool {
	_, ok := ctx.Value(DatabaseKey{}).(string)
	return ok
}

// handover queues the messages its Mailer enqueued leased to a running Dispatcher
// for that Dispatcher's workers. It holds at most cap(queue) of them; a message
// sent while it is full is enqueued as usual and claimed.
type handover struct {
	store LeasingStore
	owner string
	batch int
	lease time.Duration
	now   func() time.Time
	ready chan struct{} // wakes a worker for mail handed over

	mu        sync.RWMutex // held for reading by each send; closing takes it
	closed    bool
	queue     chan handed
	free      chan struct{} // a token a place in queue, taken before the insert
	lastClaim atomic.Int64  // when a worker last turned to claiming (UnixNano)
	backlog   atomic.Bool   // the last claim came back full
}

type handed struct {
	Item
	until time.Time // the end of its lease
}

// handoverRoom is the least a hand-over queue holds: room for a unit of work's
// batch of mail (a campaign enqueues 500 at a time) beside what the workers are
// taking. With 256 places, half of each campaign batch found none and was claimed
// (BENCHMARKS.md).
const handoverRoom = 1024

func newHandover(d *Dispatcher, store LeasingStore) *handover {
	n := max(2*d.Workers*d.Batch, handoverRoom)
	h := &handover{store: store, owner: newOwner(), batch: d.Batch, lease: d.Lease, now: d.Now, ready: make(chan struct{}, 1),
		queue: make(chan handed, n), free: make(chan struct{}, n)}
	for range n {
		h.free <- struct{}{}
	}
	return h
}

// send enqueues msg leased to the Dispatcher and queues it for its workers. ok
// is false when it did neither: the Dispatcher stopped or its queue is full.
func (h *handover) send(ctx context.Context, msg *Message) (id int64, ok bool, err error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed || h.reserve(1) == 0 {
		return 0, false, nil
	}
	now := nowOr(h.now)
	until := now.Add(h.lease)
	id, err = h.store.EnqueueLeased(ctx, msg, h.owner, until)
	if err != nil {
		h.unreserve(1)
		return 0, true, err
	}
	h.push(handed{Item{ID: id, Message: *msg, Created: now}, until})
	return id, true, nil
}

// push queues it in a place reserved for it. One worker is woken for the first
// message in the queue and another for each batch more; each takes what comes
// within linger (a group insert's callers queue theirs together).
func (h *handover) push(it handed) {
	h.queue <- it
	if n := len(h.queue); n == 1 || n%h.batch == 0 {
		h.signal()
	}
}

// reserve takes up to n places in the queue, for messages about to be enqueued
// leased in a unit of work and put once it commits, and returns how many it took.
func (h *handover) reserve(n int) int {
	for k := range n {
		select {
		case <-h.free:
		default:
			return k
		}
	}
	return n
}

// unreserve gives back n places reserve took.
func (h *handover) unreserve(n int) {
	for range n {
		h.free <- struct{}{}
	}
}

// put queues items, enqueued leased to h in a unit of work that has committed, in
// the places reserved for them. Once h is closed it releases them instead, due at
// once for any Dispatcher.
func (h *handover) put(ctx context.Context, items []handed) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		return h.store.Release(ctx, h.owner, ids)
	}
	for _, it := range items {
		h.push(it)
	}
	return nil
}

// claimDue reports whether it is time for a claim, to one worker: no worker of
// the Dispatcher has claimed for every.
func (h *handover) claimDue(every time.Duration) bool {
	t, last := time.Now().UnixNano(), h.lastClaim.Load()
	return t-last >= int64(every) && h.lastClaim.CompareAndSwap(last, t)
}

// claimed records what a claim found: a full batch means the store holds a
// backlog, which every worker free of mail handed over claims from, and wakes
// one more to join.
func (h *handover) claimed(full bool) {
	h.backlog.Store(full)
	if full {
		h.signal()
	}
}

// signal wakes a sleeping worker, if none is being woken already.
func (h *handover) signal() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// linger is how long take waits for more messages to fill a batch.
const linger = time.Millisecond

// take returns up to h.batch queued messages, those that come within linger of
// the first included, leaving out any whose lease is half gone: another
// Dispatcher may claim it before a batch is sent.
func (h *handover) take() []Item {
	var items []Item
	var timer <-chan time.Time
	for len(items) < h.batch {
		var it handed
		select {
		case it = <-h.queue:
		default:
			if timer == nil && len(items) > 0 {
				timer = time.After(linger)
			}
			if timer == nil {
				return nil
			}
			select {
			case it = <-h.queue:
			case <-timer:
				return items
			}
		}
		h.free <- struct{}{}
		if nowOr(h.now).Before(it.until.Add(-h.lease / 2)) {
			items = append(items, it.Item)
		}
	}
	return items
}

// close stops the hand-over, once every send under way has queued its message,
// and releases the messages no worker took, due at once for any Dispatcher.
func (h *handover) close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	var ids []int64
	for {
		select {
		case it := <-h.queue:
			ids = append(ids, it.ID)
		default:
			if len(ids) == 0 {
				return nil
			}
			return h.store.Release(ctx, h.owner, ids)
		}
	}
}
