package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/privacytest"
)

// client is a visitor without a browser: it fetches forms, waits out their
// stamps and posts them back.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

var stampRE = regexp.MustCompile(`name="ts" value="([^"]+)"`)

// A browser's user agent: Go's own is counted as a bot.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Empty(c.t, resp.Header.Values("Set-Cookie"), "GET %s set a cookie", path)
	return resp.StatusCode, string(b)
}

// submit fetches the form at page, then posts fields (plus its stamp) to action.
func (c *client) submit(page, action string, fields url.Values) (int, string) {
	c.t.Helper()
	_, body := c.get(page)
	if m := stampRE.FindStringSubmatch(body); m != nil {
		fields.Set("ts", m[1])
	}
	time.Sleep(250 * time.Millisecond)
	req, _ := http.NewRequest("POST", c.base+action, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Empty(c.t, resp.Header.Values("Set-Cookie"), "POST %s set a cookie", action)
	return resp.StatusCode, string(b)
}

// TestPrivacyKit runs privacytest against the whole site: no page sets a cookie,
// every mail went to its subject or the operator for a declared purpose, and the
// policy page describes what runs.
func TestPrivacyKit(t *testing.T) {
	rec := &privacytest.Recorder{}
	s, base := startSite(t, config{Tracking: true, wrapTransport: func(next privacy.Transport) privacy.Transport {
		rec.Next = next
		return rec
	}})
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}

	code, body := c.submit("/contact/", "/contact/", url.Values{"email": {"visitor@example.org"}, "subject": {"Hello"}, "message": {"A question."}})
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Your reference is")
	code, _ = c.submit("/newsletter/", "/newsletter/subscribe", url.Values{"email": {"reader@example.org"}, "newsletter": {"on"}})
	require.Less(t, code, 300)
	code, _ = c.submit("/accounts/register", "/accounts/register", url.Values{"email": {"member@example.org"},
		"password": {"a long enough password"}, "birth_date": {"1990-01-01"}, "newsletter": {"on"}})
	require.Less(t, code, 300)
	code, _ = c.submit("/blog/2026-03-01-hello", "/comments/t/2026-03-01-hello", url.Values{"name": {"Ann"},
		"email": {"commenter@example.org"}, "body": {"Nice post."}, "follow_up": {"on"}})
	require.Less(t, code, 300)
	require.Eventually(t, func() bool { return len(rec.Messages()) >= 4 }, 20*time.Second, 50*time.Millisecond)

	paths := []string{"/", "/blog", "/blog/2026-03-01-hello", "/contact/", "/newsletter/", "/accounts/register",
		"/accounts/signin", "/privacy/", "/privacy/request", "/member", "/staff", "/dev/mailbox", "/nowhere", "/static/app.js"}
	assert.NoError(t, privacytest.CheckNoCookiesHTTP(c.http, base, paths...))
	assert.NoError(t, privacytest.CheckMail(s.policy, s.registry, rec.Messages()))
	_, page := c.get("/privacy/")
	assert.NoError(t, privacytest.CheckPolicyPage(page, s.policy, s.registry))
	for _, p := range paths {
		_, body := c.get(p)
		for _, addr := range []string{"commenter@example.org"} {
			if p != "/dev/mailbox" {
				assert.NotContains(t, body, addr, "%s shows a commenter's address", p)
			}
		}
	}
}

// TestTwoProcessesOneDatabase runs two sites on one MySQL database and one mail
// relay: mail enqueued by either is delivered once, a comment posted on one is
// seen on the other, and page views from both add up.
func TestTwoProcessesOneDatabase(t *testing.T) {
	dsn := mysqltest.NewDSN(t)
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	cfg := config{MySQL: dsn, SMTP: "smtp://" + relay.Addr + "?tls=none", Tracking: true, Secret: "shared secret shared secret shared secret"}
	a, baseA := startSite(t, cfg)
	b, baseB := startSite(t, cfg)
	ca := &client{t: t, base: baseA, http: &http.Client{Timeout: 10 * time.Second}}
	cb := &client{t: t, base: baseB, http: &http.Client{Timeout: 10 * time.Second}}

	const n = 10 // each process lets one client send 5 at once
	var wg sync.WaitGroup
	for i := range n {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		wg.Go(func() {
			_, body := c.submit("/contact/", "/contact/", url.Values{"email": {fmt.Sprintf("v%d@example.org", i)},
				"subject": {fmt.Sprintf("Question %d", i)}, "message": {"Hello."}})
			assert.True(t, strings.Contains(body, "Your reference is"), "contact form %d was not accepted", i)
		})
	}
	wg.Wait()
	msgs := relay.Wait(n, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // let a duplicate show itself
	msgs = relay.Messages()
	assert.Len(t, msgs, n, "every notification delivered exactly once by the two processes")

	code, _ := ca.submit("/blog/2026-03-01-hello", "/comments/t/2026-03-01-hello", url.Values{"name": {"Ann"},
		"email": {"ann@example.org"}, "body": {"Seen from both sides."}})
	require.Less(t, code, 300)
	mod := privacy.WithActor(context.Background(), privacy.Actor{ID: "m", Email: "mod@example.com", Roles: []privacy.Role{privacy.RoleModerator}})
	held, err := b.comments.Queue(mod, comments.QueueFilter{Status: comments.StatusPending})
	require.NoError(t, err)
	require.Len(t, held, 1, "process B sees the comment posted on A")
	require.NoError(t, b.comments.Approve(mod, held[0].ID))
	_, page := ca.get("/blog/2026-03-01-hello")
	assert.Contains(t, page, "Seen from both sides.")

	for i := range 10 {
		ca.get("/blog")
		if i < 7 {
			cb.get("/blog")
		}
	}
	// A hit is counted once its visitor's domain is looked up, off the request path.
	ctx := context.Background()
	views := func() int {
		require.NoError(t, a.tracker.Flush(ctx))
		require.NoError(t, b.tracker.Flush(ctx))
		var n int
		require.NoError(t, a.db.QueryRow(`SELECT COALESCE(SUM(views), 0) FROM tracking_paths WHERE path = '/blog'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return views() >= 17 }, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, 17, views(), "counts from both processes add up, each once")
	assert.NoError(t, privacytest.CheckTables(ctx, a.db.DB, []string{"127.0.0.1", userAgent, "Firefox/140"},
		"tracking_paths", "tracking_domains", "tracking_browsers", "tracking_mime_types", "tracking_bots", "tracking_batches"),
		"no visitor address or user-agent string in any tracking table")
}

// TestGoRunServesQuickly builds the command as `go run` would and checks that it
// serves the home page within 10 seconds of starting, with no set-up.
func TestGoRunServesQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "site")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CONSENTKIT_MYSQL=", "CONSENTKIT_SMTP=")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	urlRE := regexp.MustCompile(`open (http://[^ ]+/)`)
	buf := make([]byte, 4096)
	var out string
	for time.Since(start) < 10*time.Second && !urlRE.MatchString(out) {
		n, err := stderr.Read(buf)
		out += string(buf[:n])
		if err != nil {
			break
		}
	}
	m := urlRE.FindStringSubmatch(out)
	require.NotNil(t, m, "the site printed no URL: %s", out)
	go io.Copy(io.Discard, stderr)
	for time.Since(start) < 10*time.Second {
		if resp, err := http.Get(m[1]); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Logf("home page served %s after start", time.Since(start).Round(time.Millisecond))
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the home page was not served within 10 seconds")
}

// TestCommentsOnlyOnPosts: only the site's posts take comments; a made-up thread
// id is 404 for the page, the feed and a post, and nothing is stored (audit #13
// finding 16).
func TestCommentsOnlyOnPosts(t *testing.T) {
	s, base := startSite(t, config{})
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	for _, thread := range []string{"no-such-post", "2026-03-01-hellox"} {
		code, _ := c.get("/comments/t/" + thread)
		assert.Equal(t, http.StatusNotFound, code, thread)
		code, _ = c.get("/comments/feed/" + thread)
		assert.Equal(t, http.StatusNotFound, code, thread)
		code, body := c.submit("/blog/2026-03-01-hello", "/comments/t/"+thread, url.Values{"name": {"Eve"},
			"email": {"eve@example.org"}, "body": {"Anyone here?"}})
		assert.Equal(t, http.StatusNotFound, code, thread)
		assert.Contains(t, body, "takes no comments", thread)
		th, err := s.comments.Thread(context.Background(), thread)
		if err == nil {
			assert.Zero(t, th.Count, thread)
		}
	}
	code, _ := c.submit("/blog/2026-03-01-hello", "/comments/t/2026-03-01-hello", url.Values{"name": {"Ann"},
		"email": {"ann@example.org"}, "body": {"Nice post."}})
	assert.Less(t, code, 300, "a real post still takes comments")
}
