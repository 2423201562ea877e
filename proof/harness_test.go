package proof_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/testport"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// secret is the -secret every site process of a test shares.
const secret = "proof: the secret every process of the site shares"

var (
	buildOnce sync.Once
	buildDir  string
	siteBin   string
	buildErr  error
)

// TestMain removes the site binary that the first test to need it built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// siteBinary builds examples/site once per test binary, as an operator would run
// it: without the race detector, so that its memory and speed are the real ones.
func siteBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "consentkit-proof-"); buildErr != nil {
			return
		}
		siteBin = filepath.Join(buildDir, "site")
		out, err := exec.Command("go", "build", "-o", siteBin, "github.com/consentkit/consentkit/examples/site").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./examples/site: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return siteBin
}

// endToEnd skips a test under -short: every test here runs the whole site.
func endToEnd(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end: runs the site as a subprocess")
	}
}

// full reports whether the heavy mode that measures BENCHMARKS.md's figures is on.
func full() bool { return !testing.Short() && os.Getenv("CONSENTKIT_PROOF_FULL") == "1" }

// knownLimit skips a test that shows a limit of the site not yet fixed, unless
// CONSENTKIT_PROOF_STRICT=1, which runs it (and sees it fail) until it is.
func knownLimit(tb testing.TB, why string) {
	tb.Helper()
	if !strict() {
		tb.Skip("known limit: " + why)
	}
}

// logBuffer keeps a subprocess's stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// siteOptions says how to start a site process.
type siteOptions struct {
	DSN   string           // -mysql
	Relay *mailtest.Server // -smtp; nil uses the dev mailbox, or a relay of its own with DSN
	Addr  string           // -addr; empty picks a free port
	Env   []string         // more environment, e.g. GOMAXPROCS=2
	Args  []string         // more flags, e.g. -mysql-max-conns 8
}

// siteProc is the reference site running as a subprocess.
type siteProc struct {
	tb     testing.TB
	opts   siteOptions
	cmd    *exec.Cmd
	Addr   string // host:port it serves on
	Base   string // http://Addr
	log    *logBuffer
	done   chan struct{}
	dumped sync.Once
}

// siteEnv is the environment of a site process: the test's, without any
// CONSENTKIT_ variable the site would read.
func siteEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTKIT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startSite starts the site and waits until it serves. It is killed when the test
// ends if it still runs then.
func startSite(tb testing.TB, opts siteOptions) *siteProc {
	tb.Helper()
	if opts.Addr == "" {
		opts.Addr = testport.Addr(tb)
	}
	args := []string{"-addr", opts.Addr, "-url", "http://" + opts.Addr, "-secret", secret, "-quiet"}
	if opts.DSN != "" {
		args = append(args, "-mysql", opts.DSN)
		if opts.Relay == nil { // a MySQL site refuses to serve without a relay
			relay, err := mailtest.Start()
			require.NoError(tb, err)
			tb.Cleanup(func() { _ = relay.Close() })
			opts.Relay = relay
		}
	}
	if opts.Relay != nil {
		args = append(args, "-smtp", "smtp://"+opts.Relay.Addr+"?tls=none")
	}
	p := &siteProc{tb: tb, opts: opts, Addr: opts.Addr, Base: "http://" + opts.Addr, log: &logBuffer{}, done: make(chan struct{})}
	args = append(args, opts.Args...)
	p.cmd = exec.Command(siteBinary(tb), append(args, "serve")...)
	p.cmd.Env = siteEnv(opts.Env)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	dieWithTest(p.cmd)
	require.NoError(tb, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		if p.running() {
			p.Kill()
		}
		if tb.Failed() {
			tb.Logf("site %s log:\n%s", p.Addr, p.log.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(p.log.String(), "open http://") {
		select {
		case <-p.done:
			tb.Fatalf("the site exited before serving: %s", p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the site did not serve within 90 s: %s", p.log.String())
		}
	}
	return p
}

func (p *siteProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID is the process id.
func (p *siteProc) PID() int { return p.cmd.Process.Pid }

// Stop asks the site to shut down (SIGTERM) and waits: it finishes requests,
// flushes tracking and stops its mail workers. It fails the test if the site takes
// longer than 30 s or exits with an error.
func (p *siteProc) Stop() {
	p.tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Kill()
		p.tb.Fatalf("the site did not stop within 30 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.tb.Errorf("the site exited with status %d after SIGTERM: %s", code, p.log.String())
	}
}

// dumpOnce makes the site print every goroutine's stack to its log and exit
// (SIGQUIT), the first time it is called: a request with no answer shows where
// it waits. The test then fails, which prints the log.
func (p *siteProc) dumpOnce() {
	p.dumped.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGQUIT) })
}

// Kill stops the site as a crash would (SIGKILL) and waits for it to be gone.
func (p *siteProc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Errors returns the lines the site logged at level ERROR.
func (p *siteProc) Errors() []string {
	var out []string
	for _, l := range strings.Split(p.log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// memory reads a size in KiB from /proc/PID/status: "VmRSS" (now) or "VmHWM" (peak).
func memory(tb testing.TB, pid int, key string) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(tb, err)
			return n
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// runSite runs a site subcommand (grant, import-accounts, export, ...) on dsn and
// returns its standard output.
func runSite(tb testing.TB, dsn string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(siteBinary(tb), append([]string{"-mysql", dsn, "-secret", secret, "-quiet"}, args...)...)
	cmd.Env = siteEnv(nil)
	dieWithTest(cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(tb, err, "site %v: %s", args, stderr.String())
	return string(out)
}

// openDB connects to the site's database from the test.
func openDB(tb testing.TB, dsn string) *sqlx.DB {
	tb.Helper()
	db, err := mysqldb.Open(context.Background(), dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}

// count runs a COUNT or SUM query.
func count(tb testing.TB, db *sqlx.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, db.Get(&n, query, args...), query)
	return n
}

// password is the password of every account the tests create.
const password = "correct horse battery staple"

var phcOnce = sync.OnceValue(func() string {
	p := accounts.DefaultArgon2
	salt := []byte("proof-salt-16byt")
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return accounts.PasswordHash{Scheme: accounts.SchemeArgon2id, Params: p, Salt: salt, Key: key}.String()
})

// importAccounts creates verified accounts with the given addresses and password
// through the site's import-accounts command, as an operator migrating a legacy
// site would: no mail, no hash per account.
func importAccounts(tb testing.TB, dsn string, emails ...string) {
	tb.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"email", "scheme", "hash", "salt"})
	for _, e := range emails {
		_ = w.Write([]string{e, accounts.SchemeArgon2id, phcOnce(), ""})
	}
	w.Flush()
	path := filepath.Join(tb.TempDir(), "accounts.csv")
	require.NoError(tb, os.WriteFile(path, b.Bytes(), 0o600))
	runSite(tb, dsn, "import-accounts", path)
}

// staff imports an account and grants it roles with the site's grant command.
func staff(tb testing.TB, dsn, email string, roles ...string) {
	tb.Helper()
	importAccounts(tb, dsn, email)
	for _, r := range roles {
		runSite(tb, dsn, "grant", email, r)
	}
}

// sourceIP numbers the loopback addresses clients connect from.
var sourceIP atomic.Uint32

// newClient returns an HTTP client whose connections come from a loopback address
// of its own (127.16.0.1 onwards), so that the site's per-address limits see it as
// one visitor among many, as they would see visitors on the Internet.
func newClient(timeout time.Duration) *http.Client {
	n := sourceIP.Add(1)
	ip := net.IPv4(127, byte(16+n/62500), byte(n/250%250), byte(1+n%250))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, DisableCompression: true},
		// The site answers forms with pages, never with redirects the tests follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// A browser's user agent: the tracking middleware counts Go's own as a bot.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"

// answer is an HTTP response read in full, or the error that stood for one.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
	Took   time.Duration // from sending the request to the end of the answer
}

func (a answer) String() string {
	if a.Err != nil {
		return "error: " + a.Err.Error()
	}
	body := string(a.Body)
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Sprintf("%d %s", a.Status, body)
}

// request is one HTTP request a test sends.
type request struct {
	Method, URL string
	Body        io.Reader
	ContentType string
	Token       string // bearer token
	Accept      string
	Header      map[string]string
}

func do(c *http.Client, r request) answer {
	req, err := http.NewRequest(r.Method, r.URL, r.Body)
	if err != nil {
		return answer{Err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return answer{Err: err, Took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: body, Err: err, Took: time.Since(start)}
}

func get(c *http.Client, url string) answer { return do(c, request{Method: "GET", URL: url}) }

// postJSON posts v as JSON and asks for JSON back.
func postJSON(c *http.Client, url string, v any, token string) answer {
	b, err := json.Marshal(v)
	if err != nil {
		return answer{Err: err}
	}
	return do(c, request{Method: "POST", URL: url, Body: bytes.NewReader(b), ContentType: "application/json", Accept: "application/json", Token: token})
}

// formStamp fetches a form's signed timestamp and waits until the site accepts it
// (a form is refused for 3 s after it is served). The site signs every form with
// one key, and a stamp stays valid for a day, so one stamp serves every form post
// of a test.
func formStamp(tb testing.TB, base string) string {
	tb.Helper()
	a := do(newClient(10*time.Second), request{Method: "GET", URL: base + "/contact/", Accept: "application/json"})
	require.NoError(tb, a.Err)
	require.Equal(tb, http.StatusOK, a.Status, a.String())
	var f struct {
		TS string `json:"ts"`
	}
	require.NoError(tb, json.Unmarshal(a.Body, &f))
	require.NotEmpty(tb, f.TS)
	time.Sleep(3100 * time.Millisecond)
	return f.TS
}

// commentThread is the post whose comment thread the proofs write to.
const commentThread = "2026-03-01-hello"

// commentStamps is a supply of comment form stamps: each is good for one
// comment, so a proof that writes many comments fetches them beforehand.
type commentStamps struct {
	mu   sync.Mutex
	list []string
	// after503 are the stamps put back after a 503, each with the addresses of
	// the comments sent with it and answered 503: a commit cut off at the
	// request's deadline, or whose connection was lost, may be applied all the
	// same, and the stamp's next use then says so.
	after503 map[string][]string
	// stored holds, for each stamp refused as used after 503s, the addresses of
	// the comments sent with it, one of which was stored all the same.
	stored [][]string
}

// fetchCommentStamps fetches n comment form stamps from the thread's JSON,
// eight at a time, and waits until they are old enough to post.
func fetchCommentStamps(tb testing.TB, base string, n int) *commentStamps {
	tb.Helper()
	s := &commentStamps{list: make([]string, n), after503: map[string][]string{}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a := do(newClient(10*time.Second), request{Method: "GET", URL: base + "/comments/t/" + commentThread, Accept: "application/json"})
			var f struct {
				Form struct {
					TS string `json:"ts"`
				} `json:"form"`
			}
			if a.Err == nil && a.Status == http.StatusOK && json.Unmarshal(a.Body, &f) == nil {
				s.list[i] = f.Form.TS
			}
		})
	}
	wg.Wait()
	for i, ts := range s.list {
		require.NotEmpty(tb, ts, "comment stamp %d", i)
	}
	time.Sleep(3100 * time.Millisecond)
	return s
}

// next returns an unused stamp, or "" once all are used (the comment is then
// refused naming ts, which the proof reports).
func (s *commentStamps) next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) == 0 {
		return ""
	}
	ts := s.list[len(s.list)-1]
	s.list = s.list[:len(s.list)-1]
	return ts
}

// putBack returns a stamp whose comment was not acknowledged. After a 503,
// email is the comment's address: it may have been stored all the same.
func (s *commentStamps) putBack(ts, email string) {
	if ts == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, ts)
	if email != "" {
		s.after503[ts] = append(s.after503[ts], email)
	}
}

// used tells that the site refused ts as already used. It reports whether ts
// came back after a 503: one of the comments answered 503 was then stored all
// the same. Any other refusal is a fault the caller reports.
func (s *commentStamps) used(ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	emails, ok := s.after503[ts]
	if ok {
		delete(s.after503, ts)
		s.stored = append(s.stored, emails)
	}
	return ok
}

// storedAfter503 returns, for each stamp refused as used after 503s, the
// addresses of the comments sent with it, one of which was stored.
func (s *commentStamps) storedAfter503() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.stored...)
}

// signIn signs in over the JSON API and returns the bearer token.
func signIn(tb testing.TB, base, email string) string {
	tb.Helper()
	a := postJSON(newClient(30*time.Second), base+"/accounts/signin", map[string]string{"email": email, "password": password}, "")
	require.NoError(tb, a.Err)
	require.Equal(tb, http.StatusOK, a.Status, a.String())
	var s struct {
		Token string `json:"token"`
	}
	require.NoError(tb, json.Unmarshal(a.Body, &s))
	require.NotEmpty(tb, s.Token)
	return s.Token
}

// seedSubscribers inserts n confirmed newsletter members straight into the table:
// the tests are about sending, and n double opt-ins over SMTP would take most of
// their time (the newsletter package proves the opt-in itself).
func seedSubscribers(tb testing.TB, db *sqlx.DB, prefix string, n int) []string {
	tb.Helper()
	now := time.Now().UTC()
	var emails []string
	for start := 0; start < n; start += 1000 {
		var vals []string
		var args []any
		for i := start; i < min(n, start+1000); i++ {
			e := fmt.Sprintf("%s%05d@example.org", prefix, i)
			emails = append(emails, e)
			vals = append(vals, "(?, 'newsletter', 'confirmed', 'newsletter-form', '2026-11-01', ?, ?)")
			args = append(args, e, now, now)
		}
		_, err := db.Exec(`INSERT INTO newsletter_subscriptions (email, list, status, source, policy_version, created_at, confirmed_at) VALUES `+
			strings.Join(vals, ","), args...)
		require.NoError(tb, err)
	}
	return emails
}

// campaign creates a newsletter campaign through the staff API and schedules it now.
func campaign(tb testing.TB, base, token, subject string) int64 {
	tb.Helper()
	c := newClient(30 * time.Second)
	a := postJSON(c, base+"/newsletter/api/campaigns", map[string]string{"list": "newsletter", "subject": subject,
		"markdown": "Hello **members**. This is " + subject + "."}, token)
	require.NoError(tb, a.Err)
	require.Equal(tb, http.StatusCreated, a.Status, a.String())
	var camp struct {
		ID int64 `json:"id"`
	}
	require.NoError(tb, json.Unmarshal(a.Body, &camp))
	a = postJSON(c, fmt.Sprintf("%s/newsletter/api/campaigns/%d/schedule", base, camp.ID), map[string]string{}, token)
	require.NoError(tb, a.Err)
	require.Equal(tb, http.StatusOK, a.Status, a.String())
	return camp.ID
}

// progress is a campaign's progress as the staff API reports it.
type progress struct {
	Status   string `json:"status"`
	Total    int    `json:"total"`
	Enqueued int    `json:"enqueued"`
	Queued   int    `json:"queued"`
	Sent     int    `json:"sent"`
	Failed   int    `json:"failed"`
}

func campaignProgress(tb testing.TB, base, token string, id int64) progress {
	tb.Helper()
	a := do(newClient(30*time.Second), request{Method: "GET", URL: fmt.Sprintf("%s/newsletter/api/campaigns/%d/progress", base, id), Token: token, Accept: "application/json"})
	require.NoError(tb, a.Err)
	require.Equal(tb, http.StatusOK, a.Status, a.String())
	var p progress
	require.NoError(tb, json.Unmarshal(a.Body, &p))
	return p
}

// copies counts the messages each recipient received whose subject contains subject.
func copies(relay *mailtest.Server, subject string) map[string]int {
	n := map[string]int{}
	for _, m := range relay.Messages() {
		if strings.Contains(m.Subject(), subject) {
			for _, to := range m.To {
				n[strings.ToLower(to)]++
			}
		}
	}
	return n
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// links returns the links in the text parts of the messages sent to rcpt.
func links(relay *mailtest.Server, rcpt string) []string {
	var out []string
	for _, m := range relay.To(rcpt) {
		out = append(out, linkRE.FindAllString(m.Text, -1)...)
	}
	return out
}

// expireLeases ends the leases of outbox messages claimed by a process that is
// gone, as their expiry would 2 minutes (the Dispatcher's Lease) after the claim:
// a claim moves a message's due_at to the end of its lease. Only call it when no
// process that could hold a live claim runs. Returns how many messages it freed.
func expireLeases(tb testing.TB, db *sqlx.DB) int {
	tb.Helper()
	res, err := db.Exec(`UPDATE privacy_outbox SET due_at = UTC_TIMESTAMP(6) WHERE state = 0 AND owner IS NOT NULL`)
	require.NoError(tb, err)
	n, _ := res.RowsAffected()
	return int(n)
}

// eventually polls cond every interval until it holds or timeout passes.
func eventually(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// loadavg returns the 1-minute load average, for the logs next to a figure.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
