package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

const (
	hello    = "/blog/2026-03-01-hello"
	counting = "/blog/2026-11-01-counting"
)

// readPosts has a visitor read the first post 6 times and the second 5 times
// (and ask 5 times for one that does not exist), and waits until the tracker
// has counted them.
func readPosts(t *testing.T, s *Site, base string) {
	t.Helper()
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	for range 6 {
		c.get(hello)
	}
	for range 5 {
		c.get(counting)
		code, _ := c.get("/blog/no-such-post")
		require.Equal(t, http.StatusNotFound, code)
	}
	now := time.Now()
	q := tracking.Query{From: now.Add(-48 * time.Hour), To: now.Add(time.Hour)}
	// A hit is counted once its visitor's domain is looked up, off the request path.
	require.Eventually(t, func() bool {
		require.NoError(t, s.tracker.Flush(context.Background()))
		rep, err := s.stats.Report(context.Background(), q)
		require.NoError(t, err)
		return rep.Views >= 11
	}, 20*time.Second, 100*time.Millisecond)
}

// staffGet fetches path as a signed-in member would with the token.
func staffGet(t *testing.T, base, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Empty(t, resp.Header.Values("Set-Cookie"))
	return resp.StatusCode, string(b)
}

// TestUsageCountsEachPost: each post is a row of the usage report of its own,
// under its path and its title (TrackerConfig.ByPath), a missing post counts
// nowhere, and every link and form of the report stays under /stats/.
func TestUsageCountsEachPost(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	readPosts(t, s, base)
	const admin = "boss@example.org"
	in, err := s.accounts.SignIn(context.Background(), admin, member(t, s, admin, "Boss", privacy.RoleAdmin))
	require.NoError(t, err)

	code, body := staffGet(t, base, in.Token, "/stats/api/compare?range=7d")
	require.Equal(t, http.StatusOK, code, body)
	var c tracking.Comparison
	require.NoError(t, json.Unmarshal([]byte(body), &c))
	paths := map[string]int64{}
	for _, r := range c.Paths {
		paths[r.Value] = r.Views
	}
	assert.Equal(t, int64(6), paths[hello])
	assert.Equal(t, int64(5), paths[counting])
	assert.NotContains(t, paths, "/blog/{slug}", "posts are not merged into their pattern")
	assert.NotContains(t, body, "no-such-post")

	code, body = staffGet(t, base, in.Token, "/stats/?range=7d")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `A site without cookies <code>/blog/2026-03-01-hello</code>`, "a post is named by its title")
	assert.Contains(t, body, `<form method="get" action="/stats/"`)
	assert.NotContains(t, body, `href="/page`)
	assert.NotContains(t, body, `action="/staff`)
	assert.Contains(t, body, `<a href="/stats/page?path=%2fblog%2f2026-03-01-hello&amp;from=`)
	code, body = staffGet(t, base, in.Token, "/stats/page?path=%2Fblog%2F2026-03-01-hello&range=7d")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "<strong>6</strong> views of <code>/blog/2026-03-01-hello</code>")
	code, body = staffGet(t, base, in.Token, "/stats/export.csv?range=7d")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "path,/blog/2026-03-01-hello,A site without cookies,6,0,\n")
}

// TestUsageInBrowser: an admin opens Usage from the staff navigation, picks a
// preset and then a custom range, each at its own URL in the staff shell (Back
// returns to the preset), follows a page's link to its own report, and finds
// the CSV of the figures shown in the page's download link. No cookie, no
// console error, and axe-core finds nothing on any of the pages.
func TestUsageInBrowser(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	readPosts(t, s, base)
	b := newBrowser(t)
	const admin = "boss@example.org"
	password := member(t, s, admin, "Boss", privacy.RoleAdmin)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.openStaff(t, base, admin, password, "/stats/")
	b.waitText(t, "#staff-view", "A site without cookies")
	if cur := b.eval(t, `document.querySelector("#staff-view [aria-current=page]")?.textContent ?? ""`); cur != "30 days" {
		t.Errorf("the default range is marked %q, want 30 days", cur)
	}
	b.axe(t, "usage dashboard")

	b.do(t, "the 7 days preset", chromedp.Click(css(`#staff-view a[href="/stats/?range=7d"]`)))
	b.waitLoaded(t, "/stats/?range=7d")
	b.waitText(t, "#staff-view", "A site without cookies")
	if cur := b.eval(t, `document.querySelector("#staff-view [aria-current=page]")?.textContent ?? ""`); cur != "7 days" {
		t.Errorf("after choosing 7 days the range marked is %q", cur)
	}

	b.do(t, "a custom range",
		chromedp.SetValue(css(`#tracking-from`), "2024-01-01"),
		chromedp.SetValue(css(`#tracking-to`), "2024-01-31"),
		chromedp.Click(css(`#staff-view form.tracking-range button[type=submit]`)))
	b.waitLoaded(t, "/stats/?from=2024-01-01&to=2024-01-31&top=")
	b.waitText(t, "#staff-view", "No page views in this range.")
	if got := b.eval(t, `location.pathname + location.search`); got != "/stats/?from=2024-01-01&to=2024-01-31&top=" {
		t.Errorf("after Show the tab is at %s", got)
	}
	if cur := b.eval(t, `String(document.querySelectorAll("#staff-view [aria-current=page]").length)`); cur != "0" {
		t.Errorf("a custom range marks %s presets", cur)
	}
	b.axe(t, "usage, a range without views")
	b.do(t, "Back", chromedp.NavigateBack())
	b.waitLoaded(t, "/stats/?range=7d")
	b.waitText(t, "#staff-view", "A site without cookies")

	href := b.eval(t, `document.querySelector("#staff-view a[download]")?.getAttribute("href") ?? ""`)
	data, ok := strings.CutPrefix(href, "data:text/csv;charset=utf-8;base64,")
	if !ok {
		t.Fatalf("no CSV to download: %q", href)
	}
	figures, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"path,/blog/2026-03-01-hello,A site without cookies,6,", "path,/blog/2026-11-01-counting,"} {
		if !strings.Contains(string(figures), want) {
			t.Errorf("the CSV lacks %q:\n%s", want, figures)
		}
	}

	b.do(t, "one page's views", chromedp.Click(css(`#staff-view a[href^="/stats/page?path=%2fblog%2f2026-03-01-hello"]`)))
	b.waitText(t, "#page-title", "Views of /blog/2026-03-01-hello")
	b.waitText(t, "#staff-view", "6 views of /blog/2026-03-01-hello")
	if got := b.eval(t, `location.pathname`); got != "/stats/page" {
		t.Errorf("a page's report is at %s, want /stats/page", got)
	}
	b.axe(t, "usage of one page")
	b.check(t)
}

// TestUsageCountsHomeByPath: the home page counts as "/", not as its route's
// pattern "/{$}".
func TestUsageCountsHomeByPath(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	for range 5 {
		c.get("/")
	}
	now := time.Now()
	q := tracking.Query{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
	require.Eventually(t, func() bool {
		require.NoError(t, s.tracker.Flush(context.Background()))
		rep, err := s.stats.Report(context.Background(), q)
		require.NoError(t, err)
		return rep.Views >= 5
	}, 20*time.Second, 100*time.Millisecond)
	rep, err := s.stats.Report(context.Background(), q)
	require.NoError(t, err)
	paths := map[string]int64{}
	for _, r := range rep.Paths {
		paths[r.Value] = r.Views
	}
	assert.Equal(t, map[string]int64{"/": 5}, paths)
}
