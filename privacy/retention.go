package privacy

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// A Locker grants a named lock to one process at a time. TryLock does not wait: it
// returns ok=false when another process holds the lock.
type Locker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// LocalLocker is a Locker for a single process.
type LocalLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

// TryLock implements Locker.
func (l *LocalLocker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]bool{}
	}
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	return func() {
		l.mu.Lock()
		delete(l.held, name)
		l.mu.Unlock()
	}, true, nil
}

// Retention runs every holder's Purge on a schedule, so data does not outlive its
// purpose. With several processes on one database, give them a shared Locker (the
// MySQL store's named lock): one purges at a time and the others skip that round.
type Retention struct {
	Registry *Registry
	Locker   Locker
	Every    time.Duration // default 1h
	Log      *slog.Logger
	Now      func() time.Time
}

// RunOnce purges once, if this process gets the lock. It reports whether it ran and
// how many records each holder removed.
func (rt *Retention) RunOnce(ctx context.Context) (map[string]int, bool, error) {
	unlock, ok, err := rt.Locker.TryLock(ctx, "consentkit:retention")
	if err != nil || !ok {
		return nil, false, err
	}
	defer unlock()
	removed, err := rt.Registry.Purge(ctx, nowOr(rt.Now))
	return removed, true, err
}

// Run purges every Every until ctx is done.
func (rt *Retention) Run(ctx context.Context) {
	every := rt.Every
	if every <= 0 {
		every = time.Hour
	}
	log := rt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		removed, ran, err := rt.RunOnce(ctx)
		switch {
		case err != nil:
			log.Error("retention purge", "err", err)
		case ran:
			log.Info("retention purge", "removed", removed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
