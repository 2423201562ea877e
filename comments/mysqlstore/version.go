package mysqlstore

import (
	"context"
	"sync"
)

// Every page view asks for its thread's version, and a view must not be
// answered by a read that started before it arrived: that read may predate a
// change committed just before the view, and the view would show the thread
// as it was. Views of one thread arriving together can still share reads, as
// a group commit shares a disk flush: the first view with no read in flight
// reads for itself; views arriving while a read is in flight wait for the
// next read, which starts when that one returns, and all of them take its
// answer. Each view is answered by a read that started after it arrived, and
// under load one round trip answers as many views as arrived during the
// previous one.

// versionReads coalesces the version reads of each thread so.
type versionReads struct {
	read func(ctx context.Context, thread string) (int64, error)

	mu sync.Mutex
	// next holds, for each thread with a read in flight, the read that starts
	// when it returns: nil while no view waits for one.
	next map[string]*versionRound
}

// versionRound is one read shared by the views that wait for it.
type versionRound struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiting int // views still waiting; the read is cancelled when the last leaves
	done    chan struct{}
	v       int64
	err     error
}

func newVersionReads(read func(ctx context.Context, thread string) (int64, error)) *versionReads {
	return &versionReads{read: read, next: map[string]*versionRound{}}
}

// get returns thread's version as read by a read that started after get was
// called.
func (c *versionReads) get(ctx context.Context, thread string) (int64, error) {
	c.mu.Lock()
	r, busy := c.next[thread]
	if !busy {
		c.next[thread] = nil
		c.mu.Unlock()
		// Read with this view's own context: no other view takes this answer.
		v, err := c.read(ctx, thread)
		c.finish(thread)
		return v, err
	}
	if r == nil {
		// Detached from this view, so that the read goes on for the others
		// should it leave; cancelled when every view waiting has left.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r = &versionRound{ctx: rctx, cancel: cancel, done: make(chan struct{})}
		c.next[thread] = r
	}
	r.waiting++
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		c.mu.Lock()
		r.waiting--
		if r.waiting == 0 {
			r.cancel()
			if c.next[thread] == r {
				c.next[thread] = nil // not started: nobody needs it now
			}
		}
		c.mu.Unlock()
		return 0, ctx.Err()
	}
}

// finish ends thread's read in flight: the next read, if views wait for one,
// starts now, else the thread has no read in flight.
func (c *versionReads) finish(thread string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.next[thread]
	if r == nil {
		delete(c.next, thread)
		return
	}
	c.next[thread] = nil
	go func() {
		r.v, r.err = c.read(r.ctx, thread)
		r.cancel()
		close(r.done)
		c.finish(thread)
	}()
}
