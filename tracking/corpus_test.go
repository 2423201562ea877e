package tracking_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ua-parser/uap-go/uaparser"
	"go.yaml.in/yaml/v3"

	"github.com/consentkit/consentkit/tracking"
)

// The public corpora of ../shared/corpora (see its README), read where they are and
// never copied into the tree.

// corporaDir returns the folder of the shared corpora: shared/corpora in the module's
// directory or in one above it. Without it the test skips, unless
// CONSENTKIT_REQUIRE_CORPORA=1.
func corporaDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CONSENTKIT_CORPORA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "corpora")
		if _, err := os.Stat(filepath.Join(c, "uap-core-test_ua.yaml")); err == nil {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("CONSENTKIT_REQUIRE_CORPORA") == "1" {
		tb.Fatalf("no shared/corpora above %s (CONSENTKIT_REQUIRE_CORPORA=1)", wd)
	}
	tb.Skipf("no shared/corpora above %s: the corpus figures are not measured", wd)
	return ""
}

// uapCase is one string of uap-core's test_ua.yaml, with whether uap-core's device
// rules call it a crawler.
type uapCase struct {
	UA, Family, Major string
	Spider            bool
}

var (
	corpusOnce sync.Once
	uapCases   []uapCase
	crawlers   []string
	corpusErr  error
)

func loadCorpora(tb testing.TB) ([]uapCase, []string) {
	tb.Helper()
	dir := corporaDir(tb)
	corpusOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(dir, "uap-core-test_ua.yaml"))
		if err != nil {
			corpusErr = err
			return
		}
		var doc struct {
			Cases []struct {
				UA     string `yaml:"user_agent_string"`
				Family string `yaml:"family"`
				Major  string `yaml:"major"`
			} `yaml:"test_cases"`
		}
		if corpusErr = yaml.Unmarshal(b, &doc); corpusErr != nil {
			return
		}
		// The crawlers are the strings uap-core's device rules call "Spider", as the
		// corpus's README says; uap-go carries those rules.
		p, _ := uaparser.New(uaparser.WithMode(uaparser.EDeviceLookUpMode))
		for _, c := range doc.Cases {
			uapCases = append(uapCases, uapCase{UA: c.UA, Family: c.Family, Major: c.Major, Spider: p.ParseDevice(c.UA).Family == "Spider"})
		}
		b, err = os.ReadFile(filepath.Join(dir, "crawler-user-agents.json"))
		if err != nil {
			corpusErr = err
			return
		}
		var entries []struct {
			Instances []string `json:"instances"`
		}
		if corpusErr = json.Unmarshal(b, &entries); corpusErr != nil {
			return
		}
		for _, e := range entries {
			crawlers = append(crawlers, e.Instances...)
		}
	})
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return uapCases, crawlers
}

// sameBrowser lists the equivalences the accuracy figures grant: uap-core's family on
// the left, the name tracking shows on the right. They are the same product under
// the name it goes by (Chrome on a phone is Chrome), a WebView or an app's built-in
// browser named as such, or Internet Explorer spelt out. A family not listed must
// match exactly.
var sameBrowser = map[string]string{
	"Chrome Mobile":              "Chrome",
	"Chrome Mobile iOS":          "Chrome",
	"Mobile Safari":              "Safari",
	"Edge Mobile":                "Edge",
	"Firefox Mobile":             "Firefox",
	"Firefox iOS":                "Firefox",
	"IE":                         "Internet Explorer",
	"IE Mobile":                  "Internet Explorer Mobile",
	"Chrome Mobile WebView":      "Android WebView",
	"Mobile Safari UI/WKWebView": "iOS WebView",
	"Facebook":                   "Facebook in-app",
	"Facebook Messenger":         "Messenger in-app",
	"Instagram":                  "Instagram in-app",
	"Pinterest":                  "Pinterest in-app",
	"Snapchat":                   "Snapchat in-app",
	"TikTok":                     "TikTok in-app",
	"Twitter":                    "X (Twitter) in-app",
	"LINE":                       "LINE in-app",
	"KakaoTalk":                  "KakaoTalk in-app",
	"Telegram":                   "Telegram in-app",
	"Weibo":                      "Weibo in-app",
	"Google":                     "Google app",
	"DuckDuckGo Mobile":          "DuckDuckGo",
}

// automated lists the families of uap-core-test_ua.yaml's non-crawler strings that
// are no person's browser: HTTP libraries and command-line tools, headless browsers,
// monitoring and scanning agents. The issue counts them as bots, so they are taken
// out of the browser strings and must be counted as bots instead.
var automated = map[string]bool{}

func init() {
	for _, f := range strings.Split(automatedList, ",") {
		automated[strings.TrimSpace(f)] = true
	}
}

// automatedList holds the families of automated above, one after the other.
const automatedList = `curl, Wget, wget2, libwww-perl, Python Requests, Python aiohttp, PycURL, urlgrabber, okhttp, axios,
	got, Go-http-client, go-resty, reqwest, ureq, HTTPie, http.rb, akka-http, scalaj-http, unirest-java, GuzzleHttp,
	Jersey, AHC, Vert.x-WebClient, Apache-CXF, Apache-HttpClient, HTTPClient, Google-HTTP-Java-Client,
	lua-resty-http, Node-oauth, PostmanRuntime, aria2, Axel, lftp, HTTrack, OpenBSD ftp, libcurl-agent, PyAMF,
	ReactorNetty, Java-EurekaClient, minio-go, rusoto, ibm-cos-sdk-java, s3fs, rclone, JetS3t, S3Gof3r,
	aws-sdk-java, aws-sdk-go, aws-sdk-go-v2, aws-sdk-nodejs, aws-sdk-cpp, aws-sdk-dotnet-45, aws-sdk-ruby2,
	HeadlessChrome, PhantomJS, Ruxit Synthetic, PingdomBot, Monitis, YottaaMonitor, RackspaceBot,
	NewRelicPingerBot, Site24x7, Catchpoint, ping-service, Google-InspectionTool, OpenVAS Scanner,
	GmailImageProxy, Mediapartners-Google, HuaweiSymantecSpider, Huaweisymantecspider, PHPCrawl, msnbot,
	SSL-Crawler, moba-crawler, mobile crawler, FASTMobileCrawl, RSScrawler, Connector Spider, Web-sniffer,
	Reaper, RedCarpet, Microsoft-CryptoAPI, Windows-Update-Agent, Debian APT-HTTP, Ubuntu APT-HTTP, jupdate,
	SophosAgent, SophosUpdateManager, Bloglovin, Feedbin, Tiny Tiny RSS, Mtps Feed Aggregation System, Stringer,
	S3 Browser, Ghost, CloudCockpitBackend, Go-CF-client, DAVdroid, FME, Rival IQ`

// corpusFigures are the measured figures of one classifier.
type corpusFigures struct {
	browsers, familyOK, majorOK, browserBots, unknown int
	automated, automatedBots                          int
	crawlers, crawlerHuman                            int
	misses                                            []string
}

func (f corpusFigures) String() string {
	return fmt.Sprintf("browsers %d: family %d (%.1f %%), major %d of those (%.1f %%), unknown %d, counted as bots %d (%.2f %%); "+
		"automated clients %d, counted as bots %d; crawler instances %d, counted as human %d (%.2f %%)",
		f.browsers, f.familyOK, pct(f.familyOK, f.browsers), f.majorOK, pct(f.majorOK, f.familyOK), f.unknown,
		f.browserBots, pct(f.browserBots, f.browsers), f.automated, f.automatedBots, f.crawlers, f.crawlerHuman, pct(f.crawlerHuman, f.crawlers))
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// measure runs a classifier (returning the stored label, or bot) over both corpora.
func measure(cases []uapCase, crawlers []string, classify func(string) (string, bool)) corpusFigures {
	var f corpusFigures
	for _, c := range cases {
		if c.Spider {
			continue
		}
		label, bot := classify(c.UA)
		if automated[c.Family] {
			f.automated++
			if bot {
				f.automatedBots++
			} else {
				f.misses = append(f.misses, fmt.Sprintf("automated as %q: %s: %q", label, c.Family, c.UA))
			}
			continue
		}
		f.browsers++
		if bot {
			f.browserBots++
			f.misses = append(f.misses, fmt.Sprintf("bot: %s %s: %q", c.Family, c.Major, c.UA))
			continue
		}
		if label == "(unknown)" {
			f.unknown++
		}
		want := c.Family
		if v, ok := sameBrowser[want]; ok {
			want = v
		}
		family, major := label, ""
		if i := strings.LastIndexByte(label, ' '); i >= 0 && isDigits(label[i+1:]) {
			family, major = label[:i], label[i+1:]
		}
		// uap-core's own name counts too, for parsers (go-useragent) that keep it.
		if family != want && family != c.Family {
			f.misses = append(f.misses, fmt.Sprintf("family %q, want %s %s: %q", label, c.Family, c.Major, c.UA))
			continue
		}
		f.familyOK++
		if major == strings.TrimLeft(c.Major, "0") || major == "0" && strings.Trim(c.Major, "0") == "" && c.Major != "" {
			f.majorOK++
		} else {
			f.misses = append(f.misses, fmt.Sprintf("major %q, want %s %s: %q", label, c.Family, c.Major, c.UA))
		}
	}
	for _, ua := range crawlers {
		f.crawlers++
		if label, bot := classify(ua); !bot {
			f.crawlerHuman++
			f.misses = append(f.misses, fmt.Sprintf("crawler as %q: %q", label, ua))
		}
	}
	return f
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// TestClassifyCorpora measures the label tracking stores (the classifier the Tracker
// uses) against uap-core's test_ua.yaml and the crawler-user-agents instances, prints
// the figures and fails below the goals of issue 16.
//
// Mind the circularity: test_ua.yaml holds what uap-core's rules answer, and the
// classifier runs uap-core's rules (as uap-go embeds them, an older set than the
// corpus's). The family figure therefore mostly measures how much of the newer corpus
// the older rules and tracking's own additions (product tokens, app marks) cover, and
// the renaming into names people read (sameBrowser). The bot figures are independent:
// crawler-user-agents comes from another project.
func TestClassifyCorpora(t *testing.T) {
	cases, crawlers := loadCorpora(t)
	c := tracking.NewClassifier()
	f := measure(cases, crawlers, c.Classify)
	spiders := 0
	for _, c := range cases {
		if c.Spider {
			spiders++
		}
	}
	t.Logf("uap-core-test_ua.yaml: %d strings, %d crawlers by uap-core's device rules", len(cases), spiders)
	t.Logf("tracking (uap-go): %v", f)
	if testing.Verbose() {
		for _, m := range f.misses {
			t.Log(m)
		}
	}
	if got := pct(f.familyOK, f.browsers); got < 95 {
		t.Errorf("family matches for %.1f %% of the browser strings, want at least 95 %%", got)
	}
	if got := pct(f.majorOK, f.familyOK); got < 95 {
		t.Errorf("major version matches for %.1f %% of those, want at least 95 %%", got)
	}
	if got := pct(f.browserBots, f.browsers); got > 1 {
		t.Errorf("%.2f %% of the browser strings counted as bots, want at most 1 %%", got)
	}
	if f.automatedBots != f.automated {
		t.Errorf("%d of %d automated clients counted as bots, want all", f.automatedBots, f.automated)
	}
	if got := pct(f.crawlerHuman, f.crawlers); got > 1 {
		t.Errorf("%.2f %% of the crawler instances counted as human, want at most 1 %%", got)
	}
}

// TestCorporaThroughMiddleware sends every string of both corpora through the real
// middleware, and checks what reaches the store: the crawlers' requests in the bots
// total, the browsers' as page views.
func TestCorporaThroughMiddleware(t *testing.T) {
	cases, crawlers := loadCorpora(t)
	for _, tc := range []struct {
		name     string
		uas      []string
		maxShare float64 // of the requests counted the wrong way
		asBots   bool
	}{
		{"Crawlers", crawlers, 0.01, true},
		{"Browsers", browserStrings(cases), 0.01, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, store := newTracker(t, tracking.TrackerConfig{Paths: []string{"/"}, Resolver: newResolver(nil)})
			h := tr.Handler(site())
			for i, ua := range tc.uas {
				get(h, "/", fmt.Sprintf("192.0.2.%d:1234", i%250+1), ua)
			}
			require.NoError(t, tr.Close(context.Background()))
			views, bots := totals(t, store, tracking.Paths)["/"], totals(t, store, tracking.Bots)[""]
			require.EqualValues(t, len(tc.uas), views+bots, "every request counted once")
			wrong := views
			if !tc.asBots {
				wrong = bots
			}
			t.Logf("%d requests: %d page views, %d bots", len(tc.uas), views, bots)
			assert.LessOrEqual(t, float64(wrong), tc.maxShare*float64(len(tc.uas)), "counted the wrong way")
		})
	}
}

// browserStrings are the strings of test_ua.yaml that are neither crawlers nor
// automated clients.
func browserStrings(cases []uapCase) []string {
	var uas []string
	for _, c := range cases {
		if !c.Spider && !automated[c.Family] {
			uas = append(uas, c.UA)
		}
	}
	return uas
}
