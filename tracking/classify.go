package tracking

import (
	"cmp"
	"hash/maphash"
	"net/http"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ua-parser/uap-go/uaparser"
)

// classifier reduces a user-agent string to a browser family and major version, or
// to a bot, with uap-core's rules (the ones ua-parser implements in every language)
// as uap-go compiles them. Those rules are some 365 regular expressions tried in
// turn, hundreds of microseconds per string, so a string is parsed once and its
// label remembered in a direct-mapped table keyed by a keyed hash of the string: the
// table holds no user-agent string, only which label a hash stands for, and it lives
// in memory only. The Tracker looks labels up on the request path and leaves the
// parsing of a string it has not seen to a background worker.
type classifier struct {
	rules   *uaparser.RegexDefinitions
	spiders int // uap-core's device rules that name crawlers come first: this many
	seed    maphash.Seed
	slots   [1 << 15]atomic.Uint64 // hash's top 48 bits << 16 | label index + 1; 0 = empty

	mu       sync.Mutex
	index    map[browserKey]uint16
	captured map[string]bool // families a rule took from the string itself

	labels atomic.Pointer[[]string] // by index; labels are replaced, never changed

	openFamily []bool     // by UA rule: its family is whatever the string holds there
	needs      [][]string // by UA rule: texts one of which a string must hold to match
}

type browserKey struct {
	family string
	major  int32
}

// Label indexes with a meaning of their own.
const (
	botLabel     = 0
	unknownLabel = 1
)

// maxMajor is the largest major version taken as real for the browsers of
// majorFamilies: the fastest-moving (Chrome, Edge, Firefox) were near 145 in 2026
// and gain about 13 a year. Any other family may reach maxAppMajor (apps such as
// Facebook's are past 400). A larger version counts as the family alone.
const (
	maxMajor    = 299
	maxAppMajor = 999
)

// maxLabels bounds the labels of the families outside majorFamilies: when it is
// reached, a new version of one of them counts as its family alone. The families of
// majorFamilies are not held to it (they have at most maxMajor+2 labels each), so a
// flood of made-up versions never crowds out a real version of a common browser.
const maxLabels = 1 << 15

// maxCaptured bounds the families that uap-core's rules copy from the string itself
// (an app's name before "CFNetwork", say), which a visitor could otherwise vary
// without end; past it, a new such family counts as Unknown.
const maxCaptured = 512

// maxFamilyLen is the longest family name kept; a longer one is not a browser's.
const maxFamilyLen = 48

func newClassifier() *classifier {
	// uaparser.New fails only on options it is not given.
	p, _ := uaparser.New(uaparser.WithMode(uaparser.EUserAgentLookUpMode), uaparser.WithCacheSize(1))
	c := &classifier{rules: p.RegexDefinitions, seed: maphash.MakeSeed(), index: map[browserKey]uint16{}, captured: map[string]bool{}}
	for _, r := range c.rules.UA {
		c.openFamily = append(c.openFamily, isOpenFamily(r.FamilyReplacement, r.Reg.String()))
		c.needs = append(c.needs, needs(r.Reg.String()))
	}
	for c.spiders < len(c.rules.Device) && c.rules.Device[c.spiders].DeviceReplacement == "Spider" {
		c.spiders++
	}
	c.labels.Store(&[]string{botLabel: "", unknownLabel: Unknown})
	return c
}

// lookup returns the label index remembered for ua, and the hash to hand to resolve
// when there is none (ok = false). It does not allocate.
func (c *classifier) lookup(ua string) (label uint32, h uint64, ok bool) {
	if len(ua) > 1024 || strings.TrimSpace(ua) == "" {
		// No person's browser sends an empty user agent or one of more than a kilobyte.
		return botLabel, 0, true
	}
	h = maphash.String(c.seed, ua)
	if v := c.slots[h&uint64(len(c.slots)-1)].Load(); v != 0 && v>>16 == h>>16 {
		return uint32(v&0xffff) - 1, h, true
	}
	return 0, h, false
}

// resolve parses ua, whose hash is h, and remembers its label.
func (c *classifier) resolve(ua string, h uint64) uint32 {
	if v := c.slots[h&uint64(len(c.slots)-1)].Load(); v != 0 && v>>16 == h>>16 {
		return uint32(v&0xffff) - 1 // another request had it parsed meanwhile
	}
	i := c.parse(ua)
	c.slots[h&uint64(len(c.slots)-1)].Store(h>>16<<16 | uint64(i+1))
	return uint32(i)
}

// classify returns the label index of ua, parsing it if need be.
func (c *classifier) classify(ua string) (browser uint32, bot bool) {
	i, h, ok := c.lookup(ua)
	if !ok {
		i = c.resolve(ua, h)
	}
	return i, i == botLabel
}

// name returns the browser value with the given id.
func (c *classifier) name(id uint32) string {
	if labels := *c.labels.Load(); int(id) < len(labels) && id != botLabel {
		return labels[id]
	}
	return Unknown
}

// parse returns the label index for ua.
func (c *classifier) parse(ua string) int {
	if len(ua) > 1024 || strings.TrimSpace(ua) == "" || looksLikeBot(ua) {
		return botLabel
	}
	for _, r := range c.rules.Device[:c.spiders] {
		if r.Reg.MatchString(ua) {
			return botLabel
		}
	}
	var a uaparser.UserAgent
	open := false // the family is text of the string's own, not one of the rules' names
	for i, r := range c.rules.UA {
		if !holdsAny(ua, c.needs[i]) {
			continue
		}
		r.Match(ua, &a)
		if a.Family != "" {
			open = c.openFamily[i]
			break
		}
	}
	family, major := cmp.Or(a.Family, "Other"), a.Major
	if automatedFamilies[family] || strings.HasPrefix(family, "aws-sdk") || containsFold(family, "bot") {
		return botLabel
	}
	// uap-go's rules lag behind the browsers: many a browser built on Chromium, Gecko or
	// WebKit still reads as the engine's browser, followed by a product token of its
	// own ("... Safari/537.36 Herring/95.5"). That token names it.
	if engineFamilies[family] {
		if name, v, ok := appMarker(ua); ok {
			family, major, open = name, v, false
		} else if name, v, ok := productToken(ua); ok {
			family, major, open = name, v, true
		}
	}
	if v, ok := familyNames[family]; ok {
		family, open = v, false
	}
	if (open || engineFamilies[family]) && containsFold(ua, "compatible") && !strings.Contains(ua, "MSIE") {
		// "Mozilla/5.0 (compatible; Name/1.0)" is how robots introduce themselves; a
		// browser of this form is one the rules know by name.
		return botLabel
	}
	// A browser says it is one ("Mozilla/5.0 ..."), and an app on a phone or a Mac
	// names the system it runs on; a client that does neither is a script or a tool
	// unless the rules know it by name.
	person := strings.Contains(ua, "Mozilla/") || strings.HasPrefix(ua, "Opera/") || hasDeviceToken(ua)
	switch {
	case !person && (open || family == "Other"):
		return botLabel
	case family == "Other":
		return unknownLabel
	case len(family) > maxFamilyLen || checkValue(family) != nil:
		return unknownLabel
	}
	k := browserKey{family: family, major: majorVersion(major, maxAppMajor)}
	top := majorFamilies[family]
	if top && k.major > maxMajor {
		k.major = -1
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[k]; ok {
		return int(i)
	}
	if open && !c.captured[family] {
		if len(c.captured) >= maxCaptured {
			return unknownLabel
		}
		c.captured[strings.Clone(family)] = true
	}
	old := *c.labels.Load()
	if k.major >= 0 && !top && len(old) >= maxLabels {
		k.major = -1
		if i, ok := c.index[k]; ok {
			return int(i)
		}
	}
	if len(old) > 0xfffe {
		// Out of the slots' 16 bits: only reachable with made-up families.
		return unknownLabel
	}
	k.family = strings.Clone(family)
	v := k.family
	if k.major >= 0 {
		v += " " + strconv.Itoa(int(k.major))
	}
	labels := append(old[:len(old):len(old)], v)
	c.index[k] = uint16(len(labels) - 1)
	c.labels.Store(&labels)
	return len(labels) - 1
}

// needs returns texts one of which every string a regular expression matches holds,
// or nil when it finds none. Trying the rules' expressions costs hundreds of
// microseconds a string; most fail on such a text, found in a fraction of that.
func needs(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	return required(re)
}

func required(r *syntax.Regexp) []string {
	switch r.Op {
	case syntax.OpLiteral:
		if r.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(r.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return required(r.Sub[0])
	case syntax.OpRepeat:
		if r.Min >= 1 {
			return required(r.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, s := range r.Sub {
			if n := required(s); n != nil && (best == nil || shortest(n) > shortest(best)) {
				best = n
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, s := range r.Sub {
			n := required(s)
			if n == nil {
				return nil
			}
			all = append(all, n...)
		}
		return all
	}
	return nil
}

func shortest(texts []string) int {
	n := len(texts[0])
	for _, t := range texts[1:] {
		n = min(n, len(t))
	}
	return n
}

func holdsAny(s string, texts []string) bool {
	if texts == nil {
		return true
	}
	for _, t := range texts {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// isOpenFamily reports whether a rule's family (its replacement, which may name the
// regular expression's groups as $1 ...) can be any text the string holds, rather
// than one of a few names the rule spells out, such as "(Explorer|Collector)".
func isOpenFamily(replacement, expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return true
	}
	groups := map[int]*syntax.Regexp{}
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		if r.Op == syntax.OpCapture {
			groups[r.Cap] = r.Sub[0]
		}
		for _, s := range r.Sub {
			walk(s)
		}
	}
	walk(re)
	for i := 0; i+1 < len(replacement); i++ {
		if replacement[i] != '$' || replacement[i+1] < '1' || replacement[i+1] > '9' {
			continue
		}
		g, ok := groups[int(replacement[i+1]-'0')]
		if !ok || !isFixed(g) {
			return true
		}
	}
	return false
}

// isFixed reports whether r matches one of a few short texts: literals, alternatives
// and small character classes, nothing repeated.
func isFixed(r *syntax.Regexp) bool {
	switch r.Op {
	case syntax.OpLiteral, syntax.OpEmptyMatch:
		return true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(r.Rune); i += 2 {
			n += int(r.Rune[i+1]-r.Rune[i]) + 1
		}
		return n <= 4
	case syntax.OpConcat, syntax.OpAlternate, syntax.OpCapture:
		for _, s := range r.Sub {
			if !isFixed(s) {
				return false
			}
		}
		return true
	case syntax.OpQuest:
		return isFixed(r.Sub[0])
	}
	return false
}

// appMarkers name apps and browsers by a mark they leave in a string that otherwise
// reads as their engine's browser; the version, if any, follows the mark.
var appMarkers = []struct{ mark, family string }{
	{"MicroMessenger/", "WeChat Browser"},
	{"bdhonorbrowser/", "Honor Browser"},
	{"baiduboxapp/", "Baidu Explorer"},
	{"musical_ly_", "TikTok in-app"},
	{"trill_", "TikTok in-app"},
	{"__weibo__", "Weibo in-app"},
	{"Weibo", "Weibo in-app"},
	{"Instagram ", "Instagram in-app"},
	{"Camoufox ", "Camoufox"},
	{"QIHU 360", "360 Secure Browser"},
	{"Chromium GOST", "Chromium GOST Browser"},
	{" Brave", "Brave"},
	{"(Brave)", "Brave"},
}

func appMarker(ua string) (family, version string, ok bool) {
	for _, m := range appMarkers {
		if i := strings.Index(ua, m.mark); i >= 0 {
			v := ua[i+len(m.mark):]
			if v == "" || v[0] < '0' || v[0] > '9' {
				v = ""
			}
			return m.family, v, true
		}
	}
	return "", "", false
}

// hasDeviceToken reports whether ua names the system of a phone, a tablet or a Mac.
func hasDeviceToken(ua string) bool {
	for _, t := range [...]string{"CFNetwork/", "Darwin/", "Android", "iPhone", "iPad", "iOS", "IOS/"} {
		if strings.Contains(ua, t) {
			return true
		}
	}
	return false
}

// engineFamilies are uap-core's names for a browser engine's own browser, which a
// product token after them can refine.
var engineFamilies = map[string]bool{
	"Chrome": true, "Chrome Mobile": true, "Chrome Mobile WebView": true, "Chromium": true, "Safari": true,
	"Mobile Safari": true, "Mobile Safari UI/WKWebView": true, "Firefox": true, "Other": true,
}

// standardTokens are the product tokens every browser of an engine sends.
var standardTokens = map[string]bool{
	"Mozilla": true, "AppleWebKit": true, "Chrome": true, "Chromium": true, "Safari": true, "Version": true,
	"Mobile": true, "Gecko": true, "Firefox": true, "CriOS": true, "FxiOS": true, "CEF": true, "Electron": true,
	"Edg": true, "EdgA": true, "EdgiOS": true, "OPR": true, "CFNetwork": true, "Darwin": true,
	"Ubuntu": true, "Fedora": true, "BrightSign": true, "SP-engine": true,
}

// productToken returns the first product token outside parentheses ("Name/1.2") that
// is not one of standardTokens, with its version.
func productToken(ua string) (name, version string, ok bool) {
	depth := 0
	for len(ua) > 0 {
		i := strings.IndexAny(ua, " ()")
		tok := ua
		if i >= 0 {
			tok = ua[:i]
		}
		if depth == 0 {
			if n, v, found := strings.Cut(tok, "/"); found && n != "" && v != "" && v[0] >= '0' && v[0] <= '9' && !standardTokens[n] && isProductName(n) {
				return n, v, true
			}
		}
		if i < 0 {
			break
		}
		switch ua[i] {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		}
		ua = ua[i+1:]
	}
	return "", "", false
}

func isProductName(s string) bool {
	if len(s) > maxFamilyLen || !(s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// majorVersion returns the leading number of v, or -1 when there is none or it is
// above limit.
func majorVersion(v string, limit int32) int32 {
	n := int32(0)
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if i == 4 {
			return -1
		}
		n = n*10 + int32(v[i]-'0')
	}
	if i == 0 || n > limit {
		return -1
	}
	return n
}

// familyNames renames uap-core's families to the names browsers go by: the same
// browser on a phone is the same browser, and an app's built-in browser or a
// WebView is named as one, not as the browser engine inside it.
var familyNames = map[string]string{
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

	// Product tokens (see productToken) under the names their browsers go by.
	"OPX":              "Opera GX",
	"OPT":              "Opera Touch",
	"UCMobile":         "UC Browser",
	"UCBrowser":        "UC Browser",
	"OculusBrowser":    "Oculus Browser",
	"QtWebEngine":      "Qt Web Engine",
	"OBS":              "OBS Studio",
	"AdobeCEP":         "Adobe CEP",
	"OpenWave":         "Open Wave",
	"HIBrowser":        "HiBrowser",
	"SLBrowser":        "Smart Lenovo Browser",
	"115Browser":       "115 Browser",
	"QuarkPC":          "Quark PC",
	"Atom":             "Atom Browser",
	"AOLShield":        "AOL Shield Browser",
	"Hola":             "Hola Browser",
	"CravingExplorer":  "Craving Explorer Browser",
	"ABB":              "Aloha Browser",
	"ADG":              "AOL Desktop Gold Browser",
	"SberBrowser":      "Sber Browser",
	"JiSu":             "JiSu Browser",
	"Wolvic":           "Wolvic Browser",
	"HeyTapBrowser":    "HeyTap Browser",
	"HonorBrowser":     "Honor Browser",
	"PHX":              "Phoenix Browser",
	"MicroMessenger":   "WeChat Browser",
	"Mypal":            "Mypal Browser",
	"KAKAOTALK":        "KakaoTalk in-app",
	"Telegram-Android": "Telegram in-app",
	"VivoBrowser":      "VivoBrowser",
	"Teams":            "Microsoft Teams",
	"OMI":              "Vewd Browser",
	"Thano":            "SmartTV WebBrowser",
}

// majorFamilies are the browsers most visits come from, whose versions are never
// crowded out (see maxLabels).
var majorFamilies = map[string]bool{
	"Chrome": true, "Safari": true, "Firefox": true, "Edge": true, "Opera": true, "Samsung Internet": true,
	"Internet Explorer": true, "Android WebView": true, "iOS WebView": true, "Brave": true, "Vivaldi": true,
	"Yandex Browser": true, "UC Browser": true, "Opera Mini": true, "Opera Mobile": true, "Chromium": true,
	"DuckDuckGo": true, "Facebook in-app": true, "Instagram in-app": true, "Google app": true,
}

// automatedFamilies are uap-core's families of clients no person reads a page with:
// HTTP libraries and command-line tools, headless browsers, monitoring agents,
// scanners and SDKs. They count as bots.
var automatedFamilies = map[string]bool{
	"Spider": true, "curl": true, "Wget": true, "wget2": true, "libwww-perl": true, "Python Requests": true,
	"Python aiohttp": true, "PycURL": true, "urlgrabber": true, "okhttp": true, "axios": true, "got": true,
	"Go-http-client": true, "go-resty": true, "reqwest": true, "ureq": true, "HTTPie": true, "http.rb": true,
	"akka-http": true, "scalaj-http": true, "unirest-java": true, "GuzzleHttp": true, "Jersey": true, "AHC": true,
	"Vert.x-WebClient": true, "Apache-CXF": true, "Apache-HttpClient": true, "HTTPClient": true,
	"Google-HTTP-Java-Client": true, "lua-resty-http": true, "Node-oauth": true, "PostmanRuntime": true,
	"aria2": true, "Axel": true, "lftp": true, "HTTrack": true, "OpenBSD ftp": true, "libcurl-agent": true,
	"PyAMF": true, "ReactorNetty": true, "Java-EurekaClient": true, "minio-go": true, "rusoto": true,
	"ibm-cos-sdk-java": true, "s3fs": true, "rclone": true, "JetS3t": true, "S3Gof3r": true,
	"HeadlessChrome": true, "PhantomJS": true, "Ruxit Synthetic": true, "Monitis": true, "YottaaMonitor": true,
	"Site24x7": true, "Catchpoint": true, "ping-service": true, "Google-InspectionTool": true,
	"OpenVAS Scanner": true, "GmailImageProxy": true, "WhatsApp": true, "Mediapartners-Google": true,
	"Reaper": true, "RedCarpet": true,
}

// botTokens catch automated clients uap-core does not flag: crawlers, fetchers and
// previewers, monitoring, testing and auditing agents, scrapers and automated
// browsers, and contact details, which no browser sends. Each is matched
// case-insensitively anywhere in the string.
var botTokens = []string{
	"bot", "spider", "crawl", "scrap", "fetch", "preview", "archive", "index", "slurp",
	"python", "wget", "curl", "libwww", "httpclient", "http-client", "okhttp", "axios", "node-fetch",
	"headless", "selenium", "puppeteer", "playwright", "phantomjs", "lighthouse",
	"monitor", "uptime", "pingdom", "synthetic", "check", "scan", "probe", "test", "inspect", "audit", "verif",
	"validator", "optimizer", "research", "agent", "headers", "gtmetrix", "hotjar", "silktide",
	"hardenize", "dareboost", "linktiger", "favicon", "google-", "googleagent", "google web", "insights",
	"abuse", "(java)", "splash", "netcraft", "zgrab",
	"http://", "https://", "www.", "@", "(at)", "[at]", "mailto", "gptbot", "claude", "anthropic", "openai",
	"perplexity", "bytespider", "diffbot", "feed", "proxy", "resolver", "fluid/",
}

// looksLikeBot reports whether ua carries a sign of automation: one of botTokens, a
// domain name, or Java's own client.
func looksLikeBot(ua string) bool {
	for _, t := range botTokens {
		if containsFold(ua, t) && (t != "bot" || !containsFold(ua, "cubot")) { // a phone maker
			return true
		}
	}
	return strings.HasPrefix(ua, "Java/") || strings.Contains(ua, "-Google") || hasDomain(ua)
}

// hasDomain reports whether ua holds a domain name such as "example.com".
func hasDomain(ua string) bool {
	for i := 1; i < len(ua); i++ {
		if ua[i] != '.' || !isLower(ua[i-1]) && !isDigit(ua[i-1]) {
			continue
		}
		j := i + 1
		for j < len(ua) && isLower(ua[j]) {
			j++
		}
		if j < len(ua) && (isDigit(ua[j]) || ua[j] >= 'A' && ua[j] <= 'Z') {
			continue
		}
		switch ua[i+1 : j] {
		case "com", "net", "org", "io", "co", "ai", "app", "dev", "ly", "gy", "info", "biz":
			return true
		}
	}
	return false
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// containsFold reports whether s contains the lower-case ASCII token t, ignoring the
// case of s, without allocating.
func containsFold(s, t string) bool {
	first := t[0]
	for i := 0; i+len(t) <= len(s); i++ {
		if s[i]|0x20 != first {
			continue
		}
		j := 1
		for ; j < len(t); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != t[j] {
				break
			}
		}
		if j == len(t) {
			return true
		}
	}
	return false
}

// isPrefetch reports whether the browser is loading the page speculatively, before
// (or without) anyone looking at it.
func isPrefetch(h http.Header) bool {
	for _, k := range [...]string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		for _, v := range h[k] {
			if containsFold(v, "prefetch") || containsFold(v, "preview") || containsFold(v, "prerender") {
				return true
			}
		}
	}
	return false
}

// normMIME reduces a Content-Type header value to its lower-case media type, or
// reports that it is not one.
func normMIME(raw string) (string, bool) {
	t, _, _ := strings.Cut(raw, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || !isToken(typ) || !isToken(sub) || len(t) > 127 {
		return "", false
	}
	return t, true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
