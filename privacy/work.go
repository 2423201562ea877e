package privacy

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// A UnitOfWork commits a change and the mail it causes together: a comment is stored
// if and only if its notification is queued. Every store of one database joins the
// unit of work a ctx carries, so a host can enlist its own writes beside a
// capability's (privacy/mysqlstore's Store.Ext gives MySQL writes the transaction).
//
// The kernel's stores and every capability's Store implement it; the MySQL ones over
// one transaction, the memory ones with an undo journal (MemoryWork). Both run what
// the work registered with AfterWork once the unit has ended (WithAfterWork); a
// host's own implementation that does not still works, and the Mailer then leaves
// a batch's mail to the Dispatcher's claims instead of handing it over.
type UnitOfWork interface {
	// Do runs fn as one unit of work: what fn writes through the ctx it is given
	// commits when fn returns nil and is undone when it returns an error, which Do
	// returns. Inside another unit of work of the same database, fn joins it and
	// the outer Do commits. A ctx carrying a unit of work of another database is an
	// error: the two could not commit together.
	Do(ctx context.Context, fn func(ctx context.Context) error) error
	// Database names the database the work commits to. Stores are atomic together
	// only when they name the same one.
	Database() string
}

// SameDatabase returns an error naming what when a and b are not on one database,
// so a capability refuses at construction the stores a unit of work cannot span
// (a memory outbox beside a MySQL comment store, say), instead of losing
// atomicity silently. A value that is not a UnitOfWork is not checked.
func SameDatabase(what string, a, b any) error {
	ua, okA := a.(UnitOfWork)
	ub, okB := b.(UnitOfWork)
	if okA && okB && ua.Database() != ub.Database() {
		return fmt.Errorf("%s: the store is on %s but the privacy store on %s; a change and the mail it causes must commit together, so both must be on one database", what, ua.Database(), ub.Database())
	}
	return nil
}

// MemoryDatabase is what memory stores name as their Database: all memory stores of
// a process take part in one unit of work.
const MemoryDatabase = "memory"

// journal is a memory unit of work: what to undo if it fails and what to finish
// if it commits.
type journal struct {
	mu     sync.Mutex
	undo   []func()
	commit []func()
}

type journalKey struct{}

// MemoryWork is UnitOfWork.Do for memory stores: fn runs with a journal in its ctx
// (or joins the one ctx carries) where memory stores record how to undo each write
// (OnUndo) and what a commit finishes (OnCommit). If fn fails, the undos run, newest
// first. Readers may see a write before its unit commits; a memory site serves
// from one process, and the outbox holds such messages back until the commit.
func MemoryWork(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(journalKey{}).(*journal); ok {
		return fn(ctx)
	}
	if db, ok := ctx.Value(DatabaseKey{}).(string); ok {
		return fmt.Errorf("a unit of work on %s cannot include memory stores", db)
	}
	j := &journal{}
	ctx, ended := WithAfterWork(ctx)
	err := fn(context.WithValue(context.WithValue(ctx, journalKey{}, j), DatabaseKey{}, MemoryDatabase))
	j.mu.Lock()
	undo, commit := j.undo, j.commit
	j.undo, j.commit = nil, nil
	j.mu.Unlock()
	if err != nil {
		for _, u := range slices.Backward(undo) {
			u()
		}
		ended(false)
		return err
	}
	for _, c := range commit {
		c()
	}
	ended(true)
	return nil
}

// afterWork is what runs once a unit of work has ended.
type afterWork struct {
	mu    sync.Mutex
	fns   []func(committed bool)
	ended bool
}

type afterWorkKey struct{}

// WithAfterWork is for implementations of UnitOfWork: it returns the ctx to run a
// new unit's work in, and ended, to call once the unit has committed (true) or
// been undone (false), which runs what AfterWork registered in that ctx. A unit
// of work that does not offer it still works; the Mailer then leaves its mail to
// be claimed rather than handing it to a Dispatcher after the commit.
func WithAfterWork(ctx context.Context) (_ context.Context, ended func(committed bool)) {
	a := &afterWork{}
	return context.WithValue(ctx, afterWorkKey{}, a), func(committed bool) {
		a.mu.Lock()
		fns := a.fns
		a.fns, a.ended = nil, true
		a.mu.Unlock()
		for _, fn := range fns {
			fn(committed)
		}
	}
}

// AfterWork registers fn to run once the unit of work ctx carries has ended, with
// whether it committed, and reports true. It reports false, and fn never runs,
// when ctx carries no unit of work, one that does not offer it (WithAfterWork),
// or one that has ended.
func AfterWork(ctx context.Context, fn func(committed bool)) bool {
	a, ok := ctx.Value(afterWorkKey{}).(*afterWork)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return false
	}
	a.fns = append(a.fns, fn)
	return true
}

// OnUndo records how to undo a memory write made in ctx's unit of work; without
// one, the write is final and undo is not kept.
func OnUndo(ctx context.Context, undo func()) {
	if j, ok := ctx.Value(journalKey{}).(*journal); ok {
		j.mu.Lock()
		j.undo = append(j.undo, undo)
		j.mu.Unlock()
	}
}

// OnCommit runs done when ctx's unit of work commits, or at once outside one.
func OnCommit(ctx context.Context, done func()) {
	if j, ok := ctx.Value(journalKey{}).(*journal); ok {
		j.mu.Lock()
		j.commit = append(j.commit, done)
		j.mu.Unlock()
		return
	}
	done()
}

// DatabaseKey is the context key under which a unit of work names its database
// (UnitOfWork.Database), so that a store of another database refuses to join it.
type DatabaseKey struct{}

// Undo is a memory write's journal: how to put back what it changed, run newest
// first with the store's lock held should the write's unit of work fail.
type Undo []func()

// LockedWrite runs fn with mu held, then hands what fn recorded in its Undo to
// ctx's unit of work (OnUndo) once mu is released, since the undo takes mu again.
// Without a unit of work in ctx the write is final and the journal is dropped.
func LockedWrite(ctx context.Context, mu sync.Locker, fn func(u *Undo) error) error {
	var u Undo
	mu.Lock()
	err := fn(&u)
	mu.Unlock()
	if len(u) > 0 {
		OnUndo(ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			for _, f := range slices.Backward(u) {
				f()
			}
		})
	}
	return err
}
