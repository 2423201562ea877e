package mysqlstore

import (
	"context"
	"slices"
	"sync"
	"time"
)

// VersionLag is how long a change to a thread waits, once committed, before
// the method that made it returns, so that a version read started up to
// VersionLag before a page view already sees every change acknowledged before
// the view arrived (commit-wait). Views of a busy thread are then answered
// from a recent read, without a round trip each.
const VersionLag = 10 * time.Millisecond

// Every page view asks for its thread's version, and must not be answered by
// a read that started more than the lag before it arrived: that read may
// predate a change acknowledged just before the view, and the view would show
// the thread as it was. Within that rule reads are shared, in three ways:
//
//   - a view takes the last read that returned (the one that started last),
//     when it started within the lag; when no read started in the last
//     quarter of the lag, the view also starts the next one, without waiting
//     for a read still in flight (up to maxAhead at once), so that a busy
//     thread always has a recent read and no view waits even when a round
//     trip takes longer than the lag: one slow read is overtaken by the next;
//   - else it waits for the oldest read in flight that started within the lag;
//   - else it waits for the next read, which starts when a read in flight
//     returns (at once when none is), with every view that arrived meanwhile,
//     as a group commit shares a disk flush: one round trip answers as many
//     views as arrived during the previous one.
//
// With no lag, this is only the last: each view is answered by a read that
// started after it arrived, and one read of a thread is in flight at a time.
//
// Reads in flight together may return out of order, or see a change in the
// opposite order: views arriving before the change is acknowledged may then
// show the thread before and after it in turn, as they may anyway; those
// arriving after never take a read that started before it committed.

// maxAhead bounds the reads of one thread in flight: four, one for each
// quarter of the lag, so a database that stops answering holds no more.
const maxAhead = 4

// versionReads shares the version reads of each thread so.
type versionReads struct {
	read func(ctx context.Context, thread string) (int64, error)
	lag  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	threads map[string]*threadReads
	swept   int // len(threads) after the last sweep
}

// threadReads are the reads of one thread.
type threadReads struct {
	flying []*versionRound // in flight, in the order they started
	next   *versionRound   // starts when one in flight returns; nil while no view waits for it
	last   *versionRound   // of the reads that succeeded, the one that started last; nil when none
}

// versionRound is one read, shared by the views that wait for it.
type versionRound struct {
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time // set before the query is sent
	waiting int       // views waiting; the read is cancelled when the last leaves
	done    chan struct{}
	v       int64
	err     error
}

func newVersionReads(lag time.Duration, read func(ctx context.Context, thread string) (int64, error)) *versionReads {
	return &versionReads{read: read, lag: lag, now: time.Now, threads: map[string]*threadReads{}}
}

// get returns thread's version as read by a read that started no more than
// the lag before get was called.
func (c *versionReads) get(ctx context.Context, thread string) (int64, error) {
	arrived := c.now()
	oldest := arrived.Add(-c.lag)
	c.mu.Lock()
	t := c.threads[thread]
	if t == nil {
		c.sweep(oldest)
		t = &threadReads{}
		c.threads[thread] = t
	}
	if l := t.last; l != nil && !l.started.Before(oldest) {
		newest := l.started
		if n := len(t.flying); n > 0 && t.flying[n-1].started.After(newest) {
			newest = t.flying[n-1].started
		}
		if arrived.Sub(newest) > c.lag/4 && len(t.flying) < maxAhead {
			c.start(thread, t, newRound(context.Background()))
		}
		c.mu.Unlock()
		return l.v, nil
	}
	var r *versionRound
	if i := slices.IndexFunc(t.flying, func(r *versionRound) bool { return !r.started.Before(oldest) }); i >= 0 {
		r = t.flying[i]
	} else if len(t.flying) == 0 {
		r = newRound(ctx)
		c.start(thread, t, r)
	} else {
		if t.next == nil {
			t.next = newRound(ctx)
		}
		r = t.next
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
			if t.next == r {
				t.next = nil // not started: nobody needs it now
			}
		}
		c.mu.Unlock()
		return 0, ctx.Err()
	}
}

// newRound returns a read detached from the view that asks for it first, so
// that it goes on for the others should that view leave; it is cancelled
// when every view waiting for it has left.
func newRound(ctx context.Context) *versionRound {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &versionRound{ctx: rctx, cancel: cancel, done: make(chan struct{})}
}

// start sends r as a read of thread. c.mu is held.
func (c *versionReads) start(thread string, t *threadReads, r *versionRound) {
	r.started = c.now()
	t.flying = append(t.flying, r)
	go func() {
		v, err := c.read(r.ctx, thread)
		c.finish(thread, t, r, v, err)
	}()
}

// finish answers the views waiting for r and starts the next read, if views
// wait for one.
func (c *versionReads) finish(thread string, t *threadReads, r *versionRound, v int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.v, r.err = v, err
	r.cancel()
	close(r.done)
	if err == nil && (t.last == nil || r.started.After(t.last.started)) {
		t.last = r
	}
	t.flying = slices.DeleteFunc(t.flying, func(f *versionRound) bool { return f == r })
	if n := t.next; n != nil {
		t.next = nil
		c.start(thread, t, n)
	}
}

// sweep forgets the threads with no read in flight or waited for and no read
// recent enough to answer a view, once the threads known have doubled since
// the last sweep: a view of each of many threads leaves no lasting trace.
// c.mu is held.
func (c *versionReads) sweep(oldest time.Time) {
	if len(c.threads) < 2*max(c.swept, 64) {
		return
	}
	for thread, t := range c.threads {
		if len(t.flying) == 0 && t.next == nil && (t.last == nil || t.last.started.Before(oldest)) {
			delete(c.threads, thread)
		}
	}
	c.swept = len(c.threads)
}
