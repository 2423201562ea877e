package bounce_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/testport"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// postfix is a private Postfix instance: its own configuration, queue and log in a
// temporary directory, listening on one loopback port, delivering nowhere but to
// the test. The machine's own mail system, if any, is left alone.
type postfix struct {
	dir, conf, port string
}

// needPostfix skips the test when Postfix cannot run here (not installed, or not
// root, which its master needs), unless CONSENTKIT_REQUIRE_POSTFIX=1 (.ci/run).
func needPostfix(t *testing.T) string {
	bin, err := exec.LookPath("postfix")
	if err != nil {
		bin, err = "/usr/sbin/postfix", nil
		if _, serr := os.Stat(bin); serr != nil {
			err = serr
		}
	}
	why := ""
	switch {
	case err != nil:
		why = "postfix is not installed (apt-get install postfix; .ci/run does)"
	case os.Geteuid() != 0:
		why = "postfix's master must start as root"
	default:
		if _, uerr := user.Lookup("postfix"); uerr != nil {
			why = "no postfix user: the package is not set up"
		}
	}
	if why != "" {
		if os.Getenv("CONSENTKIT_REQUIRE_POSTFIX") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return bin
}

// startPostfix runs Postfix until the test ends. Mail for rejectDomain is accepted
// (not refused in the SMTP dialogue, which would be no bounce) and then bounced by
// Postfix's error transport (5.1.1); mail for bounceDomain goes
// to receiver; anything else bounces 5.7.1.
func startPostfix(t *testing.T, rejectDomain, bounceDomain, receiver string) *postfix {
	bin := needPostfix(t)
	// Postfix's daemons run as the postfix user and must reach the queue, which
	// t.TempDir's mode 0700 would forbid.
	dir, err := os.MkdirTemp("", "consentkit-postfix-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	p := &postfix{dir: dir, conf: filepath.Join(dir, "conf"), port: strconv.Itoa(testport.Free(t))}
	for _, d := range []string{"conf", "queue", "data"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	pw, err := user.Lookup("postfix")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(pw.Uid)
	require.NoError(t, os.Chown(filepath.Join(dir, "data"), uid, -1))

	services := "127.0.0.1:" + p.port + " inet n - n - - smtpd\n"
	for _, s := range []string{"pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
		"rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
		"trace unix - - n - 0 bounce", "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
		"proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "showq unix n - n - - showq",
		"error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard",
		"anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd"} {
		services += s + "\n"
	}
	transport := fmt.Sprintf("%s error:5.1.1 Mailbox unavailable\n%s smtp:%s\n", rejectDomain, bounceDomain, "["+strings.Replace(receiver, ":", "]:", 1))
	main := strings.NewReplacer("DIR", dir).Replace(`compatibility_level = 3.6
queue_directory = DIR/queue
data_directory = DIR/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
relay_domains = ` + rejectDomain + `
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
transport_maps = texthash:DIR/conf/transport
default_transport = error:5.7.1 this test instance relays nowhere
maillog_file = DIR/maillog
maillog_file_prefixes = DIR
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`)
	for name, text := range map[string]string{"main.cf": main, "master.cf": services, "transport": transport} {
		require.NoError(t, os.WriteFile(filepath.Join(p.conf, name), []byte(text), 0o644))
	}
	out, err := exec.Command(bin, "-c", p.conf, "start").CombinedOutput()
	if err != nil {
		t.Fatalf("postfix start: %v: %s\n%s", err, out, p.log())
	}
	t.Cleanup(func() {
		pid := p.masterPID()
		exec.Command(bin, "-c", p.conf, "stop").Run()
		for deadline := time.Now().Add(10 * time.Second); pid > 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if syscall.Kill(pid, 0) != nil {
				break
			}
		}
		if t.Failed() {
			t.Logf("postfix log:\n%s", p.log())
		}
		os.RemoveAll(dir)
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+p.port)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "postfix does not listen: %s", p.log())
	return p
}

func (p *postfix) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

func (p *postfix) masterPID() int {
	b, _ := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// TestPostfixBounceSuppresses: a message the Dispatcher sends through a real
// Postfix to an address it does not deliver to comes back as Postfix's own DSN to
// the message's VERP return path; the Receiver suppresses the address, and the
// next message to it is refused by the Mailer and counted.
func TestPostfixBounceSuppresses(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	r, raddr := startReceiver(t, store)
	pf := startPostfix(t, "postfix.test", testVERP.Domain, raddr)

	port, _ := strconv.Atoi(pf.port)
	tr, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: port, TLS: "none", ReturnPath: testVERP.ReturnPath})
	require.NoError(t, err)
	mailer := privacy.NewMailer(mailtest.Policy(), store, nil)
	mailer.Allow(privacy.Purpose("newsletter"), privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return true, nil }))
	d := &privacy.Dispatcher{Store: store, Transport: tr, Mailer: mailer, Poll: 20 * time.Millisecond}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	const gone = "nobody@postfix.test"
	issue := func(n int) privacy.Message {
		return privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: gone, To: privacy.Address{Email: gone},
			Subject: fmt.Sprintf("Issue %d", n), Text: "News.", Unsubscribe: "https://example.com/newsletter/unsubscribe?t=x", Ref: "campaign:1"}
	}
	id, err := mailer.Send(ctx, issue(1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.Counts()["permanent"] > 0 }, 60*time.Second, 50*time.Millisecond,
		"Postfix's bounce did not reach the receiver: counts %v", r.Counts())
	ok, err := store.Suppressed(ctx, gone)
	require.NoError(t, err)
	assert.True(t, ok, "the bounce suppressed the address")
	assert.Equal(t, int64(1), r.Counts()["permanent"])
	st, err := store.OutboxStats(ctx, "campaign:1")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent, "Postfix took message %d before bouncing it", id)
	assert.Contains(t, pf.log(), "status=bounced")

	_, err = mailer.Send(ctx, issue(2))
	var re *privacy.RefusalError
	require.ErrorAs(t, err, &re, "a later message to the bounced address is refused")
	assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
	assert.Equal(t, int64(1), mailer.Refusals()[privacy.RefusedSuppressed])
}
