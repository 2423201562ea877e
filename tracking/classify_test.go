package tracking_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/medama-io/go-useragent/agents"
	"github.com/medama-io/go-useragent/data"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/tracking"
)

func TestClassify(t *testing.T) {
	c := tracking.NewClassifier()
	for _, tc := range []struct {
		ua      string
		browser string
		bot     bool
	}{
		{firefox, "Firefox 128", false},
		{chrome, "Chrome 124", false},
		{safari, "Safari 17", false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51", "Edge 124", false},
		{"Mozilla/5.0", tracking.Unknown, false},
		{"w3m/0.5.3", "", true}, // no Mozilla token, no system named, no rule knows it: a tool
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet 26", false},
		{"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer 11", false},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0", "Opera 116", false},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.0.0 Mobile Safari/537.36", "Android WebView 131", false},
		{"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "", true},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "", true},
		{"okhttp/4.12.0", "", true},
		{"axios/1.6.8", "", true},
		{"", "", true},
		{"   ", "", true},
		{googlebot, "", true},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "", true},
		{"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "", true},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "", true},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "", true},
		{"curl/8.5.0", "", true},
		{"Wget/1.21.3", "", true},
		{"python-requests/2.31.0", "", true},
		{"Go-http-client/1.1", "", true},
		{"Scrapy/2.11 (+https://scrapy.org)", "", true},
		{"Mozilla/5.0 (compatible; YandexSpider/3.0)", "", true},
		{"UptimeRobot/2.0; monitor", "", true},
		{firefox + strings.Repeat("x", 1024), "", true},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/99999.0", "Firefox", false}, // implausible version: the family alone
	} {
		browser, bot := c.Classify(tc.ua)
		assert.Equal(t, tc.bot, bot, "bot for %q", tc.ua)
		assert.Equal(t, tc.browser, browser, "browser for %q", tc.ua)
		// Asked again, the remembered answer is the same.
		b2, bot2 := c.Classify(tc.ua)
		assert.Equal(t, browser, b2)
		assert.Equal(t, bot, bot2)
	}
}

// TestClassifyBrowsersAreNotBots runs go-useragent's corpus of real user agents
// through the classifier: the bot rules must not catch a person's browser. (Its
// family names are go-useragent's, not the ones tracking shows; the families are
// measured in TestClassifyCorpora.)
func TestClassifyBrowsersAreNotBots(t *testing.T) {
	c := tracking.NewClassifier()
	checked := 0
	for _, tc := range data.AllTestCases {
		if tc.ExpectedDevice == agents.DeviceBot || tc.ExpectedBrowser == "" {
			continue
		}
		_, bot := c.Classify(tc.UserAgent)
		assert.False(t, bot, "%s: %q", tc.Name, tc.UserAgent)
		checked++
	}
	require.Greater(t, checked, 50, "the corpus was read")
}

func TestNormMIME(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
		ok        bool
	}{
		{"text/html; charset=utf-8", "text/html", true},
		{"Text/HTML", "text/html", true},
		{" application/json ; charset=utf-8", "application/json", true},
		{"image/svg+xml", "image/svg+xml", true},
		{"application/vnd.api+json", "application/vnd.api+json", true},
		{"text", "", false},
		{"text/", "", false},
		{"/html", "", false},
		{"text/html extra", "", false},
		{"text/ht\x00ml", "", false},
		{"text/" + strings.Repeat("a", 130), "", false},
	} {
		got, ok := tracking.NormMIME(tc.raw)
		assert.Equal(t, tc.ok, ok, "%q", tc.raw)
		assert.Equal(t, tc.want, got, "%q", tc.raw)
	}
}

func TestRegistrableDomain(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"host-1-2-3-4.dyn.example.net.", "example.net"},
		{"HOST.Example.COM", "example.com"},
		{"a.b.c.example.co.uk", "example.co.uk"},
		{"example.net", "example.net"},
		{"alice.github.io", "github.io"},         // a private suffix never yields a personal name
		{"x.alice.blogspot.com", "blogspot.com"}, // nor here
		{"johns-laptop.lan", ""},                 // an unlisted suffix: a home network
		{"router.home.arpa", ""},
		{"localhost", ""},
		{"net", ""},
		{"co.uk", ""},
		{"1.2.3.4", ""},
		{"", ""},
		{".", ""},
		{"a..example.net", ""},
		{"bad name.example.net", ""},
		{"é.example.net", ""},
		{strings.Repeat("a", 64) + ".example.net", ""},
		{strings.Repeat("a.", 130) + "example.net", ""},
	} {
		got, ok := tracking.RegistrableDomain(tc.name)
		assert.Equal(t, tc.want != "", ok, "%q", tc.name)
		assert.Equal(t, tc.want, got, "%q", tc.name)
	}
}

func TestPathMatch(t *testing.T) {
	m, err := tracking.NewPathMatcher([]string{"/", "/about", "/about/", "/blog/{slug}", "/blog/{slug}/comments", "/docs/{rest...}", "/u/{id}/x"}, true)
	require.NoError(t, err)
	for _, tc := range []struct {
		path, mux, want string
	}{
		{"/", "", "/"},
		{"/about", "", "/about"},
		{"/about/", "", "/about/"},
		{"/About", "", tracking.Other},
		{"/blog/hello", "", "/blog/{slug}"},
		{"/blog/hello/", "", tracking.Other},
		{"/blog/", "", tracking.Other}, // a wildcard needs a segment
		{"/blog/hello/comments", "", "/blog/{slug}/comments"},
		{"/docs/", "", "/docs/{rest...}"},
		{"/docs/a/b/c", "", "/docs/{rest...}"},
		{"/docs", "", tracking.Other},
		{"/u//x", "", tracking.Other},
		{"/u/7/x", "", "/u/{id}/x"},
		{"", "", tracking.Other},
		{"relative", "", tracking.Other},
		{"/elsewhere", "GET /elsewhere/{id}", "/elsewhere/{id}"},
		{"/elsewhere", "example.com/elsewhere", "example.com/elsewhere"},
		{"/about", "GET /{x...}", "/about"}, // the configured path first
		{"/weird", "GET /bad\x00", tracking.Other},
	} {
		assert.Equal(t, tc.want, m.Match(tc.path, tc.mux), "path %q mux %q", tc.path, tc.mux)
	}

	noMux, err := tracking.NewPathMatcher([]string{"/"}, false)
	require.NoError(t, err)
	assert.Equal(t, tracking.Other, noMux.Match("/x", "GET /x"), "mux patterns only when enabled")
}

// TestPathMatchByPath is issue 16's path labels: the pages of a ByPath pattern count
// under their own path, up to MaxPaths of them; then, and for a path no store can
// hold, under the pattern.
func TestPathMatchByPath(t *testing.T) {
	m, err := tracking.NewPathMatcherByPath([]string{"/", "/blog/{slug}", "/docs/{rest...}"}, []string{"/blog/{slug}"}, 3, true)
	require.Error(t, err, "a pattern in both lists")
	assert.Contains(t, err.Error(), "listed twice")

	m, err = tracking.NewPathMatcherByPath([]string{"/", "/docs/{rest...}"}, []string{"/blog/{slug}"}, 3, true)
	require.NoError(t, err)
	for _, tc := range []struct{ path, mux, want string }{
		{"/", "", "/"},
		{"/blog/first", "GET /blog/{slug}", "/blog/first"},
		{"/blog/second", "GET /blog/{slug}", "/blog/second"},
		{"/blog/first", "", "/blog/first"},
		{"/blog/third", "", "/blog/third"},
		{"/blog/fourth", "", "/blog/{slug}"},                      // past MaxPaths
		{"/blog/" + strings.Repeat("x", 300), "", "/blog/{slug}"}, // too long to store
		{"/blog/second", "", "/blog/second"},                      // still counted by name
		{"/blog/a/b", "", tracking.Other},
		{"/docs/a/b", "", "/docs/{rest...}"},
	} {
		assert.Equal(t, tc.want, m.Match(tc.path, tc.mux), "path %q", tc.path)
	}

	for _, bad := range [][]string{{"/blog"}, {"blog/{slug}"}, {"/blog/{slug}", "/blog/{slug}"}} {
		_, err := tracking.NewPathMatcherByPath(nil, bad, 10, false)
		assert.Error(t, err, "%q", bad)
	}
}

// TestClassifyFakeVersionsDoNotCrowdOutRealOnes is the audit's finding 17 (issue
// 13): a flood of made-up browser versions filled the label table, after which a
// real new version was counted as its family alone.
func TestClassifyFakeVersionsDoNotCrowdOutRealOnes(t *testing.T) {
	c := tracking.NewClassifier()
	for v := 1000; v < 9999; v++ {
		c.Classify("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(v) + ".0.0.0 Safari/537.36")
	}
	for v := 1; v < 1000; v++ {
		c.Classify("Mozilla/5.0 (X11; Linux x86_64; rv:" + strconv.Itoa(v) + ".0) Gecko/20100101 Firefox/" + strconv.Itoa(v) + ".0")
	}
	browser, bot := c.Classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0")
	assert.False(t, bot)
	assert.Equal(t, "Edge 143", browser)
	browser, _ = c.Classify("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1234.0.0.0 Safari/537.36")
	assert.Equal(t, "Chrome", browser, "an implausible version counts as the family alone")
}
