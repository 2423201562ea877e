package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// pressureGrace is how long, while the site is near its connection cap, a
// connection may carry no request (silent since it connected, or idle between
// requests) before it is closed. Out of pressure, ReadHeaderTimeout and IdleTimeout
// apply.
const pressureGrace = 2 * time.Second

// connLimit returns how many connections the site may hold: want, lowered to 80% of
// the open-file limit, which leaves room for the database, the mail relay and the
// files the site reads. Past the limit accept fails with "too many open files" and
// no request gets in.
func connLimit(want int) int {
	if files, ok := openFileLimit(); ok {
		if room := files / 5 * 4; room < uint64(want) {
			return int(max(room, 1))
		}
	}
	return want
}

// connGuard caps the connections a server holds and keeps the cap for requests:
// from 3/4 of the cap it turns keep-alives off and closes every connection that has
// carried no request for pressureGrace, until fewer than half are open. Without
// it, idle connections would hold every slot of the capped listener until their
// timeouts, and a real request would wait behind them.
type connGuard struct {
	srv *http.Server
	max int
	log *slog.Logger

	mu      sync.Mutex
	conns   map[net.Conn]connState
	pressed bool
}

type connState struct {
	state http.ConnState
	since time.Time
}

// guardConns caps ln at max connections and installs the guard on srv, which
// must not serve yet; the guard works until ctx is done.
func guardConns(ctx context.Context, srv *http.Server, ln net.Listener, max int, log *slog.Logger) net.Listener {
	g := &connGuard{srv: srv, max: max, log: log, conns: map[net.Conn]connState{}}
	srv.ConnState = g.track
	go g.run(ctx)
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{})}
}

// limitListener accepts at most cap(slots) connections at once: Accept waits for
// one to close. It is netutil.LimitListener but for its connections, which keep
// the TCP connection's CloseWrite: net/http half-closes a connection it refuses
// (a header over MaxHeaderBytes, say) so the client reads the answer, and without
// CloseWrite the client gets a reset instead.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// CloseWrite half-closes the connection when it can.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (g *connGuard) track(c net.Conn, state http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(g.conns, c)
	default:
		g.conns[c] = connState{state, time.Now()}
	}
}

func (g *connGuard) run(ctx context.Context) {
	tick := time.NewTicker(pressureGrace / 8)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			g.sweep(now)
		}
	}
}

// sweep turns keep-alives off or on by the number of open connections and, under
// pressure, closes those that carried no request for pressureGrace.
func (g *connGuard) sweep(now time.Time) {
	g.mu.Lock()
	open, was := len(g.conns), g.pressed
	switch {
	case !g.pressed && open >= g.max*3/4:
		g.pressed = true
	case g.pressed && open < g.max/2:
		g.pressed = false
	}
	var idle []net.Conn
	if g.pressed {
		for c, s := range g.conns {
			if (s.state == http.StateNew || s.state == http.StateIdle) && now.Sub(s.since) >= pressureGrace {
				idle = append(idle, c)
			}
		}
	}
	pressed := g.pressed
	g.mu.Unlock()

	if pressed != was {
		// Off, it also closes the connections idle between requests at once.
		g.srv.SetKeepAlivesEnabled(!pressed)
		if pressed {
			g.log.Warn("connections near the cap: keep-alives off, idle connections closed", "open", open, "max", g.max)
		} else {
			g.log.Info("connections back under half the cap: keep-alives on", "open", open, "max", g.max)
		}
	}
	for _, c := range idle {
		c.Close()
	}
}
