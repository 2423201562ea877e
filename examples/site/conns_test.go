package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdConns opens keepAlive connections that each finish one request and stay
// open, then silent ones that send nothing, to the site at base. All are closed
// when the test ends.
func holdConns(t *testing.T, base string, keepAlive, silent int) {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	for i := range keepAlive + silent {
		c, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		if i >= keepAlive {
			continue
		}
		_, err = c.Write([]byte("GET /no-such-page HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n"))
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err, "keep-alive connection %d", i)
		resp.Body.Close()
		require.False(t, resp.Close, "the site closed keep-alive connection %d", i)
	}
}

// requestWithin fails unless a GET of base, on a new connection, answers 200
// within d.
func requestWithin(t *testing.T, base string, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Get(base)
	require.NoError(t, err, "a real request behind the idle connections")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("served %s after it connected", time.Since(start).Round(time.Millisecond))
}

// startRun runs args, adding serve on a loopback port, until the test ends, and
// returns the site's base URL.
func startRun(t *testing.T, args ...string) string {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append(args, "-addr", "127.0.0.1:0", "serve"), &out, &out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("site: %v", err)
		}
		if t.Failed() {
			t.Logf("site output:\n%s", &out)
		}
	})
	urlRE := regexp.MustCompile(`open (http://[^ ]+/)`)
	require.Eventually(t, func() bool { return urlRE.MatchString(out.String()) }, 30*time.Second, 20*time.Millisecond,
		"the site printed no URL: %s", &out)
	return urlRE.FindStringSubmatch(out.String())[1]
}

// TestMaxConns: with every one of its -max-conns connections held by a client that
// sends nothing more, the site still answers a new request within 5 s. Capped
// alone, it would not: the held connections keep their slots until their idle and
// header timeouts (60 s, 10 s).
func TestMaxConns(t *testing.T) {
	_, _, err := parseConfig([]string{"-max-conns", "0"}, io.Discard)
	require.ErrorContains(t, err, "-max-conns")

	base := startRun(t, "-quiet", "-max-conns", "8")
	holdConns(t, base, 4, 12)
	requestWithin(t, base, 5*time.Second)
}

// TestHeaderTooLargeAnswered: a request whose header passes MaxHeaderBytes gets
// its 431, not a connection reset. net/http half-closes such a connection and
// waits before closing it, so the client reads the answer while it still writes;
// a connection wrapper without CloseWrite turned that into a close with unread
// data, which the kernel answers with a reset.
func TestHeaderTooLargeAnswered(t *testing.T) {
	base := startRun(t, "-quiet")
	client := &http.Client{Timeout: 10 * time.Second}
	for range 3 {
		resp, err := client.Get(base + "comments/manage/" + strings.Repeat("%C3%A9", 100_001))
		require.NoError(t, err, "the answer to an oversized header")
		resp.Body.Close()
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	}
}

// TestLimitListener: at most max connections are accepted at once, closing one
// frees its slot, closing the listener ends a waiting Accept, and an accepted
// connection can still be half-closed (net/http's refusals rely on it; without
// it proof's TestHostileInput saw resets instead of 431s).
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &limitListener{Listener: ln, slots: make(chan struct{}, 2), done: make(chan struct{})}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted past the cap of 2")
	case <-time.After(200 * time.Millisecond):
	}
	_, ok := first.(interface{ CloseWrite() error })
	require.True(t, ok, "an accepted connection keeps CloseWrite")
	require.NoError(t, first.(interface{ CloseWrite() error }).CloseWrite())
	require.NoError(t, first.Close())
	third := <-accepted
	require.NotNil(t, third, "closing one frees its slot")
	require.NoError(t, l.Close())
	_, open := <-accepted
	require.False(t, open, "Accept ends when the listener closes")
	second.Close()
	third.Close()
}
