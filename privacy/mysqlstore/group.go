package mysqlstore

import (
	"context"
	"encoding/json"
	"errors"
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
// -pprof=net`, load 17). The first caller leads: it inserts what is queued, its
// own message included, while the callers that come meanwhile queue for the next
// insert, which the first of them leads. Each message is committed before its
// caller returns, as before.
type group struct {
	mu      sync.Mutex
	queue   []*call
	leading bool
}

type call struct {
	msg   *privacy.Message
	lease lease
	body  []byte
	id    int64
	err   error
	lead  chan bool // true: lead the next insert; false: id and err are set
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
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead && !<-c.lead {
		return c.id, c.err
	}
	g.mu.Lock()
	batch := g.queue[:min(len(g.queue), enqueueRows)]
	g.queue = append([]*call(nil), g.queue[len(batch):]...)
	g.mu.Unlock()

	insert(ctx, db, batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- true
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, o := range batch {
		if o != c {
			o.lead <- false
		}
	}
	return c.id, c.err
}

// insert stores batch's messages, a chunk to a statement, each statement its own
// commit, and sets each call's id or error.
func insert(ctx context.Context, db *sqlx.DB, batch []*call) {
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
		err := enqueueChunk(ctx, ext, msgs[start:end], leases[start:end], bodies[start:end], ids[start:end], now)
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
