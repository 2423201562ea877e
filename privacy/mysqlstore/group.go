package mysqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

// group commits the messages that callers outside any transaction enqueue at the
// same time in one multi-row INSERT: a site's requests each commit one message,
// and with one INSERT and one commit each, BenchmarkOutbox's 32 concurrent callers
// spent 171 s of its 190 s waiting on the network in them (`go tool trace
// -pprof=net`, load 17). A caller that finds no insert in flight leads one of
// what is queued, its own message included; callers that come meanwhile queue,
// and the first of them leads the next insert when the one in flight ends. Each
// message is committed before its caller returns without error. A caller whose
// context ends while it waits returns then, unavailable: its message not stored
// if no insert had taken it yet, not known to be if one had (as for a commit cut
// off), so a stalled insert holds no caller past its own deadline.
//
// Two inserts may be in flight: a second starts once as many callers queue as
// the last insert took, so that one commits while the next fills, without
// splitting the callers into groups much smaller than they would form waiting
// (three made groups of 8-9 that were no faster, and with no cap the groups fell
// to 2-4: BENCHMARKS.md).
type group struct {
	mu       sync.Mutex
	queue    []*call
	inFlight int // inserts under way, at most maxInFlight
	last     int // how many the last insert to start took
	stmts    insertStmts
}

const maxInFlight = 2

type call struct {
	msg   *privacy.Message
	lease lease
	body  []byte
	id    int64
	err   error
	batch []*call   // set with lead: what the call leads the insert of
	lead  chan bool // true: lead the insert of batch; false: id and err are set
}

// errAlone tells a caller to insert its message on its own: the group's insert
// failed, and only its own insert can say whether its message was the cause.
var errAlone = errors.New("enqueue alone")

func (g *group) enqueue(ctx context.Context, db *sqlx.DB, msg *privacy.Message, l lease) (int64, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	c := &call{msg: msg, lease: l, body: body, lead: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	var batch []*call
	if g.inFlight == 0 || g.inFlight < maxInFlight && len(g.queue) >= g.last {
		batch = g.take()
	}
	g.mu.Unlock()
	if batch == nil {
		switch lead, err := g.wait(ctx, c); {
		case err != nil:
			return 0, err
		case !lead:
			return c.id, c.err
		}
		batch = c.batch
	}

	insert(ctx, db, &g.stmts, batch)

	g.done()
	for _, o := range batch {
		if o != c {
			o.lead <- false
		}
	}
	return c.id, c.err
}

// wait waits for queued c's turn: true when c is to lead the insert of c.batch,
// false when an insert has set c.id and c.err. If ctx ends first, it returns
// ctx's error: c's message not stored if no insert had taken it yet (c leaves
// the queue), not known to be if one had, as for a commit cut off
// (mysqldb.Translate). Chosen to lead meanwhile, c leads: the insert fails at
// once for ctx, and the others insert alone.
func (g *group) wait(ctx context.Context, c *call) (lead bool, err error) {
	select {
	case lead := <-c.lead:
		return lead, nil
	case <-ctx.Done():
	}
	if g.leave(c) {
		return false, tr(ctx.Err())
	}
	select {
	case lead := <-c.lead:
		return lead, nil
	default:
		return false, tr(ctx.Err())
	}
}

// leave takes c out of the queue if no insert has taken it yet, and reports
// whether it did.
func (g *group) leave(c *call) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.queue, c)
	if i < 0 {
		return false
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	return true
}

// done ends an insert: the first queued leads the next, if what is queued may
// start one.
func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if len(g.queue) > 0 && (g.inFlight == 0 || len(g.queue) >= g.last) {
		next := g.take()
		next[0].batch = next
		next[0].lead <- true
	}
}

// take starts an insert of what is queued, as much as one insert holds; g.mu is
// held.
func (g *group) take() []*call {
	batch := g.queue[:min(len(g.queue), enqueueRows)]
	g.queue = append([]*call(nil), g.queue[len(batch):]...)
	g.inFlight++
	g.last = len(batch)
	return batch
}

// insert stores batch's messages, a chunk to a statement, each statement its own
// commit, and sets each call's id or error.
func insert(ctx context.Context, db *sqlx.DB, stmts *insertStmts, batch []*call) {
	msgs := make([]*privacy.Message, len(batch))
	leases := make([]lease, len(batch))
	bodies := make([][]byte, len(batch))
	ids := make([]int64, len(batch))
	for i, c := range batch {
		msgs[i], leases[i], bodies[i] = c.msg, c.lease, c.body
	}
	now := time.Now().UTC()
	ext := sqltx.Ext(ctx, db)
	for start := 0; start < len(batch); {
		end := chunkEnd(bodies, start)
		err := enqueueChunk(ctx, ext, db, stmts, msgs[start:end], leases[start:end], bodies[start:end], ids[start:end], now)
		for i := start; i < end; i++ {
			c := batch[i]
			switch {
			case err != nil:
				c.err = errAlone
			case ids[i] == 0:
				c.err = &privacy.RefusalError{Reason: privacy.RefusedSuppressed, Purpose: c.msg.Purpose}
			default:
				c.id = ids[i]
			}
		}
		start = end
	}
}
