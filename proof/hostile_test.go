package proof_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// strict reports whether tests of known limits run (CONSENTKIT_PROOF_STRICT=1).
func strict() bool { return os.Getenv("CONSENTKIT_PROOF_STRICT") == "1" }

// hostileCase is one request the site must refuse.
type hostileCase struct {
	name        string
	method, url string
	contentType string
	json        bool // asks for JSON back
	body        func() io.Reader
	token       string
}

// jsonString writes s as a JSON string the way a hostile client would: control
// characters escaped as JSON requires, bytes that are not UTF-8 left raw (a
// well-behaved encoder would replace them, hiding them from the site).
func jsonString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// fieldSet is an ordered list of fields, so a field can be given twice or as
// something other than a string.
type fieldSet []struct {
	k   string
	v   string
	raw string // JSON to send instead of v (an array, an object)
}

func (fs fieldSet) form() []byte {
	var parts []string
	for _, f := range fs {
		parts = append(parts, url.QueryEscape(f.k)+"="+url.QueryEscape(f.v))
	}
	return []byte(strings.Join(parts, "&"))
}

func (fs fieldSet) json() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		jsonString(&b, f.k)
		b.WriteByte(':')
		if f.raw != "" {
			b.WriteString(f.raw)
		} else {
			jsonString(&b, f.v)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (fs fieldSet) with(k, v, raw string) fieldSet {
	out := slices.Clone(fs)
	for i := range out {
		if out[i].k == k {
			out[i].v, out[i].raw = v, raw
			return out
		}
	}
	return append(out, struct{ k, v, raw string }{k, v, raw})
}

func (fs fieldSet) without(k string) fieldSet {
	return slices.DeleteFunc(slices.Clone(fs), func(f struct{ k, v, raw string }) bool { return f.k == k })
}

func bytesBody(b []byte) func() io.Reader { return func() io.Reader { return bytes.NewReader(b) } }

// hostileCases turns the corpus into requests: for each endpoint, its valid-looking
// request with one thing wrong at a time, as a form and as JSON.
func hostileCases(tb testing.TB, base, stamp string, tokens map[string]string) []hostileCase {
	values, bodies := loadValues(tb), loadBodies(tb)
	var cases []hostileCase
	for _, ep := range loadEndpoints(tb) {
		var fs fieldSet
		keys := make([]string, 0, len(ep.Fields))
		for k := range ep.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fs = fs.with(k, ep.Fields[k], "")
		}
		if ep.Stamp {
			fs = fs.with("ts", stamp, "")
		}
		target := func(token string, query map[string]string) string {
			u := base + strings.ReplaceAll(ep.Path, "{token}", url.PathEscape(token))
			if len(query) > 0 {
				q := url.Values{}
				for k, v := range query {
					q.Set(k, v)
				}
				u += "?" + q.Encode()
			}
			return u
		}
		u := target(ep.Token, ep.Query)
		add := func(name string, asJSON bool, fs fieldSet, u string) {
			c := hostileCase{name: ep.Name + " " + name, method: ep.Method, url: u, token: tokens[ep.Auth], json: asJSON}
			if asJSON {
				c.contentType, c.body = "application/json", bytesBody(fs.json())
			} else {
				c.contentType, c.body = "application/x-www-form-urlencoded", bytesBody(fs.form())
			}
			cases = append(cases, c)
		}
		for _, asJSON := range []bool{false, true} {
			format := map[bool]string{false: "form", true: "json"}[asJSON]
			for _, k := range keys {
				if slices.Contains(ep.Flags, k) {
					continue // a ticked box: any value means yes, and none is kept
				}
				for i, v := range values {
					email := v.Class == "email"
					if v.Class == "any" || v.Class == "single" && slices.Contains(ep.Single, k) || email && slices.Contains(ep.Emails, k) {
						add(fmt.Sprintf("%s %s=value#%d(%s)", format, k, i, v.Class), asJSON, fs.with(k, v.Value, ""), u)
					}
				}
				if asJSON {
					add(format+" "+k+" as an array", true, fs.with(k, "", `["x","y"]`), u)
					add(format+" "+k+" as an object", true, fs.with(k, "", `{"$ne":null}`), u)
				} else {
					twice := append(slices.Clone(fs), struct{ k, v, raw string }{k, ep.Fields[k] + "2", ""})
					add(format+" "+k+" twice", false, twice, u)
				}
			}
			for _, k := range ep.Required {
				add(format+" without "+k, asJSON, fs.without(k), u)
			}
			if ep.Strict {
				add(format+" with an unknown field", asJSON, fs.with("is_admin", "true", ""), u)
			}
			if ep.Stamp && !(asJSON && ep.JSONUnstamped) {
				add(format+" without its timestamp", asJSON, fs.without("ts"), u)
				add(format+" with a forged timestamp", asJSON, fs.with("ts", "AAAAAGsMFmSuDnIaqK7jrMdn9qQNJHNox6JGKc2-E43iYWkbKuR_iw", ""), u)
			}
			for i, v := range values {
				if ep.Token != "" {
					add(fmt.Sprintf("%s path token value#%d(%s)", format, i, v.Class), asJSON, fs, target(v.Value, ep.Query))
				}
				for k := range ep.Query {
					add(fmt.Sprintf("%s query %s value#%d(%s)", format, k, i, v.Class), asJSON, fs, target(ep.Token, map[string]string{k: v.Value}))
				}
			}
		}
		for i, b := range bodies {
			cases = append(cases, hostileCase{name: fmt.Sprintf("%s body#%d (%s)", ep.Name, i, b.ContentType), method: ep.Method, url: u,
				token: tokens[ep.Auth], contentType: b.ContentType, json: strings.Contains(b.ContentType, "json"), body: bytesBody([]byte(b.Body))})
		}
	}
	return cases
}

// uploadCases are photo uploads the site must refuse: the image corpus, and
// multipart bodies that are too large or malformed.
func uploadCases(tb testing.TB, base, token string) []hostileCase {
	tb.Helper()
	u := base + "/accounts/me/resources"
	multi := func(name string, parts func(w *multipart.Writer)) hostileCase {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		parts(w)
		w.Close()
		return hostileCase{name: "upload " + name, method: "POST", url: u, token: token, json: true,
			contentType: w.FormDataContentType(), body: bytesBody(b.Bytes())}
	}
	file := func(w *multipart.Writer, field, name string, data []byte) {
		p, _ := w.CreateFormFile(field, name)
		p.Write(data)
	}
	var cases []hostileCase
	entries, err := os.ReadDir("testdata/hostile/images")
	require.NoError(tb, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata/hostile/images", e.Name()))
		require.NoError(tb, err)
		cases = append(cases, multi(e.Name(), func(w *multipart.Writer) {
			w.WriteField("title", e.Name())
			file(w, "file", e.Name(), data)
		}))
	}
	png6 := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 6<<20)...)
	cases = append(cases,
		multi("6 MiB file", func(w *multipart.Writer) { file(w, "file", "big.png", png6) }),
		multi("two files", func(w *multipart.Writer) {
			file(w, "file", "a.gif", gifFile(1, 1, 1))
			file(w, "file", "b.gif", gifFile(1, 1, 1))
		}),
		multi("unknown part", func(w *multipart.Writer) { w.WriteField("owner", "admin"); file(w, "file", "a.gif", gifFile(1, 1, 1)) }),
		multi("no file", func(w *multipart.Writer) { w.WriteField("title", "nothing") }),
		multi("title not UTF-8", func(w *multipart.Writer) {
			w.WriteField("title", "\xff\xfe")
			file(w, "file", "a.gif", gifFile(1, 1, 1))
		}),
		multi("title too long", func(w *multipart.Writer) {
			w.WriteField("title", strings.Repeat("x", 100_000))
			file(w, "file", "a.gif", gifFile(1, 1, 1))
		}),
		multi("bad visibility", func(w *multipart.Writer) {
			w.WriteField("visibility", "everyone'; --")
			file(w, "file", "a.gif", gifFile(1, 1, 1))
		}),
		hostileCase{name: "upload without a boundary", method: "POST", url: u, token: token, json: true,
			contentType: "multipart/form-data", body: bytesBody([]byte("--x\r\n\r\n--x--"))},
		hostileCase{name: "upload cut short", method: "POST", url: u, token: token, json: true,
			contentType: "multipart/form-data; boundary=x", body: bytesBody([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG"))},
		// 64 MiB streamed: the site must stop reading at its limit.
		hostileCase{name: "upload of 64 MiB", method: "POST", url: u, token: token, json: true,
			contentType: "multipart/form-data; boundary=x", body: func() io.Reader {
				head := "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.png\"\r\n\r\n\x89PNG\r\n\x1a\n"
				return io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, 64<<20), strings.NewReader("\r\n--x--\r\n"))
			}},
	)
	// And one the site must refuse because nobody is signed in.
	c := multi("anonymous", func(w *multipart.Writer) { file(w, "file", "a.gif", gifFile(1, 1, 1)) })
	c.token = ""
	return append(cases, c)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// rawCases are requests no Go client would send, written on the wire as they are.
var rawCases = []struct{ name, req string }{
	{"a header of 70 KB", "GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: " + strings.Repeat("a", 70_000) + "\r\n\r\n"},
	{"a NUL in the request line", "GET /\x00 HTTP/1.1\r\nHost: {host}\r\n\r\n"},
	{"two different lengths", "POST /contact/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
	{"a header name with a space", "GET / HTTP/1.1\r\nHost: {host}\r\nBad Header: x\r\n\r\n"},
	{"no Host", "GET / HTTP/1.1\r\n\r\n"},
	{"a chunk size that is not a number", "POST /contact/ HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nemail=x\r\n0\r\n\r\n"},
}

func sendRaw(addr, req string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, strings.ReplaceAll(req, "{host}", addr)); err != nil {
		return 0, err
	}
	line, err := bufioLine(c)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, fmt.Errorf("status line %q", line)
	}
	return strconv.Atoi(f[1])
}

func bufioLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 1024 {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return strings.TrimSpace(string(b)), nil
		}
		b = append(b, one[0])
	}
	return string(b), nil
}

// tableCounts counts the rows of every table of the site but the page-view
// tallies, which any page served adds to.
func tableCounts(tb testing.TB, db *sqlx.DB) map[string]int {
	tb.Helper()
	var tables []string
	require.NoError(tb, db.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name NOT LIKE 'tracking\_%' ORDER BY table_name`))
	out := map[string]int{}
	for _, t := range tables {
		out[t] = count(tb, db, "SELECT COUNT(*) FROM `"+t+"`")
	}
	// A staff form refused is shown again with the staff list below it, and
	// showing it records the admin's read of each address listed (audit #13
	// finding 14): those records are the page's, not the input's, and every
	// other is counted.
	out["privacy_access"] = count(tb, db, `SELECT COUNT(*) FROM privacy_access WHERE NOT (what = 'staff roles' AND why = 'listing staff')`)
	return out
}

// checkRefused checks that a is a clear refusal: a 4xx, no cookie, and for a JSON
// request a JSON error whose 400s name a field.
func checkRefused(t *testing.T, c hostileCase, a answer) {
	t.Helper()
	if !assert.NoError(t, a.Err, "%s: no answer", c.name) {
		return
	}
	if !assert.True(t, a.Status >= 400 && a.Status < 500, "%s: answered %s", c.name, a) {
		return
	}
	assert.Empty(t, a.Header.Values("Set-Cookie"), "%s set a cookie", c.name)
	ct := a.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var e struct {
			Error struct {
				Status  int    `json:"status"`
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if assert.NoError(t, json.Unmarshal(a.Body, &e), "%s: %s", c.name, a) {
			assert.Equal(t, a.Status, e.Error.Status, c.name)
			assert.NotEmpty(t, e.Error.Message, c.name)
			if a.Status == http.StatusBadRequest {
				assert.NotEmpty(t, e.Error.Field, "%s: a 400 names the field at fault: %s", c.name, a)
			}
		}
	case strings.HasPrefix(ct, "text/html"):
		assert.Contains(t, string(a.Body), "</html>", "%s: a whole page", c.name)
	default:
		// http.CrossOriginProtection and net/http's own refusals are plain text.
		assert.True(t, strings.HasPrefix(ct, "text/plain"), "%s: answered %q: %s", c.name, ct, a)
	}
}

// TestHostileInput sends the corpus under testdata/hostile to every form and JSON
// endpoint of the site (as forms and as JSON, anonymous, as a member and as
// staff), uploads the image corpus, and writes malformed requests on the wire.
// Every answer is a clear 4xx (a JSON 400 names its field); nothing is stored, no
// mail is sent, no cookie is set, nothing is logged as an error; and the server's
// memory stays bounded: a second pass over the corpus does not grow it.
func TestHostileInput(t *testing.T) {
	endToEnd(t)
	dsn := mysqltest.NewDSN(t)
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	importAccounts(t, dsn, "member@example.org")
	staff(t, dsn, "staff@example.com", "admin", "support", "moderator", "editor")
	site := startSite(t, siteOptions{DSN: dsn, Relay: relay})
	tokens := map[string]string{"member": signIn(t, site.Base, "member@example.org"), "staff": signIn(t, site.Base, "staff@example.com")}
	stamp := formStamp(t, site.Base)
	db := openDB(t, dsn)

	cases := hostileCases(t, site.Base, stamp, tokens)
	uploads := uploadCases(t, site.Base, tokens["member"])
	before := tableCounts(t, db)
	mails := len(relay.Messages())
	rss0, hwm0 := memory(t, site.PID(), "VmRSS"), memory(t, site.PID(), "VmHWM")

	statuses := map[int]int{}
	var mu sync.Mutex
	pass := func() time.Duration {
		start := time.Now()
		work := make(chan hostileCase)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for c := range work {
					cl := newClient(60 * time.Second)
					a := do(cl, request{Method: c.method, URL: c.url, Body: c.body(), ContentType: c.contentType,
						Token: c.token, Accept: map[bool]string{true: "application/json"}[c.json]})
					// An idle keep-alive connection costs the server about 30 KiB until
					// its IdleTimeout: this test measures requests, not connections.
					cl.CloseIdleConnections()
					checkRefused(t, c, a)
					mu.Lock()
					statuses[a.Status]++
					mu.Unlock()
				}
			})
		}
		for _, c := range append(slices.Clone(cases), uploads...) {
			work <- c
		}
		close(work)
		wg.Wait()
		for _, rc := range rawCases {
			code, err := sendRaw(site.Addr, rc.req)
			if assert.NoError(t, err, rc.name) {
				assert.True(t, code >= 400 && code < 500, "%s: answered %d", rc.name, code)
			}
		}
		return time.Since(start)
	}
	first := pass()
	rss1, hwm1 := memory(t, site.PID(), "VmRSS"), memory(t, site.PID(), "VmHWM")
	second := pass()
	rss2, hwm2 := memory(t, site.PID(), "VmRSS"), memory(t, site.PID(), "VmHWM")

	time.Sleep(time.Second) // mail enqueued by mistake would be delivered by now
	assert.Equal(t, before, tableCounts(t, db), "nothing stored")
	assert.Equal(t, mails, len(relay.Messages()), "no mail sent")
	assert.Empty(t, site.Errors(), "nothing logged as an internal error")
	assert.NotContains(t, site.log.String(), "panic")
	a := get(newClient(10*time.Second), site.Base+"/")
	assert.Equal(t, http.StatusOK, a.Status, "the site still serves")
	// The server's budget: the password hashes it runs at once (sign-ins and
	// registrations in the corpus cost one each), 64 MiB for everything else, and
	// the 8 requests a pass holds at once, the largest 5 MiB plus room for the
	// other fields, twice over for the garbage collector.
	bound := (int64(runtime.GOMAXPROCS(0))*19<<20 + 64<<20 + 2*8*(5<<20+64<<10)) >> 10
	assert.LessOrEqual(t, hwm1, bound, "peak memory of the first pass: %d KiB, budget %d KiB", hwm1, bound)
	assert.LessOrEqual(t, hwm2-hwm1, int64(16<<10), "a second pass does not raise the peak: %d KiB", hwm2-hwm1)
	assert.LessOrEqual(t, rss2-rss1, int64(16<<10), "a second pass does not grow resident memory: %d KiB", rss2-rss1)
	site.Stop()

	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var hist []string
	for _, c := range codes {
		hist = append(hist, fmt.Sprintf("%d×%d", statuses[c], c))
	}
	t.Logf("%d hostile requests (%d endpoints, %d uploads, %d raw) twice, in %s and %s: %s; memory: VmRSS %d → %d → %d KiB, VmHWM %d → %d → %d KiB (load %s)",
		len(cases)+len(uploads)+len(rawCases), len(loadEndpoints(t)), len(uploads), len(rawCases), first.Round(time.Millisecond), second.Round(time.Millisecond),
		strings.Join(hist, " "), rss0, rss1, rss2, hwm0, hwm1, hwm2, loadavg())
}
