package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
)

const (
	relayPassword = "hunter2pass"
	mysqlPassword = "s3cretpw"
	leakSecret    = "never-print-this-secret-0123456789abcdef"
)

// syncBuffer is a bytes.Buffer that the site's goroutines and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// assertNoSecret fails if out holds the relay password, the database password or
// the site's secret.
func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, secret := range []string{relayPassword, mysqlPassword, leakSecret} {
		assert.NotContains(t, out, secret, "%s repeats a secret", what)
	}
}

// passwordDSN creates a MySQL user with mysqlPassword that may use a new database,
// and returns a DSN that signs in as it.
func passwordDSN(t *testing.T) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(mysqltest.NewDSN(t))
	require.NoError(t, err)
	admin, err := mysqldb.Open(context.Background(), mysqltest.ServerDSN())
	require.NoError(t, err)
	defer admin.Close()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	user := "ck_redact_" + hex.EncodeToString(suffix)
	for _, host := range []string{"localhost", "127.0.0.1", "%"} {
		_, err = admin.Exec("CREATE USER '" + user + "'@'" + host + "' IDENTIFIED BY '" + mysqlPassword + "'")
		require.NoError(t, err)
		_, err = admin.Exec("GRANT ALL ON `" + cfg.DBName + "`.* TO '" + user + "'@'" + host + "'")
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		admin, err := mysqldb.Open(context.Background(), mysqltest.ServerDSN())
		if err != nil {
			t.Logf("drop user %s: %v", user, err)
			return
		}
		defer admin.Close()
		for _, host := range []string{"localhost", "127.0.0.1", "%"} {
			admin.Exec("DROP USER IF EXISTS '" + user + "'@'" + host + "'")
		}
	})
	cfg.User, cfg.Passwd = user, mysqlPassword
	return cfg.FormatDSN()
}

// serveAndVisit serves with args on a loopback port, fetches a few pages (the dev
// mailbox and the not-found page among them), stops the site, and returns all it
// printed. It fails if a page or the output holds a secret.
func serveAndVisit(t *testing.T, args ...string) string {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append(args, "-addr", "127.0.0.1:0", "serve"), &out, &out) }()
	urlRE := regexp.MustCompile(`open (http://[^ ]+/)`)
	require.Eventually(t, func() bool { return urlRE.MatchString(out.String()) }, 30*time.Second, 20*time.Millisecond,
		"the site printed no URL: %s", &out)
	base := urlRE.FindStringSubmatch(out.String())[1]
	for _, path := range []string{"", "blog", "no-such-page", "dev/mailbox", "privacy/", "newsletter/"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assertNoSecret(t, "/"+path, string(body))
	}
	cancel()
	require.NoError(t, <-done)
	t.Log(out.String())
	assertNoSecret(t, "the output", out.String())
	return out.String()
}

// TestNoSecretInOutput: the relay password, the database password and -secret
// appear in no log line, no start-up line, no error and no page; the start-up line
// names the relay and the database with their passwords masked.
func TestNoSecretInOutput(t *testing.T) {
	t.Setenv("CONSENTKIT_SECRET", "")
	relay := "smtp://user:" + relayPassword + "@127.0.0.1:1?tls=none" // never dialled: no mail is sent

	t.Run("Serving", func(t *testing.T) {
		out := serveAndVisit(t, "-mysql", passwordDSN(t), "-smtp", relay, "-secret", leakSecret)
		assert.Contains(t, out, "smtp://user:xxxxx@127.0.0.1:1", "the start-up line names the relay, password masked")
		assert.Contains(t, out, ":xxxxx@tcp(127.0.0.1:3306)/", "the start-up line names the database, password masked")
	})
	t.Run("DevMailbox", func(t *testing.T) {
		serveAndVisit(t, "-secret", leakSecret)
	})
	t.Run("FailingStart", func(t *testing.T) {
		for name, args := range map[string][]string{
			"WrongDatabasePassword": {"-mysql", "root:" + mysqlPassword + "@tcp(127.0.0.1:3306)/db", "-smtp", relay, "-secret", leakSecret},
			"BadDSN":                {"-mysql", "root:" + mysqlPassword + "@tcp(127.0.0.1:3306", "-smtp", relay, "-secret", leakSecret},
			"BadRelayPort":          {"-smtp", "smtp://user:" + relayPassword + "@127.0.0.1:port", "-secret", leakSecret},
			"BadRelayURL":           {"-smtp", "smtp://user:" + relayPassword + "@127.0.0.1:1%zz", "-secret", leakSecret},
			"BadRelayScheme":        {"-smtp", "http://user:" + relayPassword + "@127.0.0.1:1", "-secret", leakSecret},
		} {
			t.Run(name, func(t *testing.T) {
				var out bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := run(ctx, append(args, "-addr", "127.0.0.1:0", "serve"), &out, &out)
				require.Error(t, err, "the site started")
				t.Log(err)
				assertNoSecret(t, "the error", err.Error())
				assertNoSecret(t, "the output", out.String())
				if strings.HasPrefix(name, "BadRelay") {
					assert.Contains(t, err.Error(), "user:xxxxx@", "the error names the URL, password masked")
				}
			})
		}
	})
	t.Run("Help", func(t *testing.T) {
		t.Setenv("CONSENTKIT_SECRET", leakSecret)
		t.Setenv("CONSENTKIT_SMTP", relay)
		t.Setenv("CONSENTKIT_MYSQL", "root:"+mysqlPassword+"@tcp(127.0.0.1:3306)/db")
		var out bytes.Buffer
		require.Error(t, run(context.Background(), []string{"-h"}, &out, &out))
		assert.Contains(t, out.String(), "-smtp")
		assertNoSecret(t, "-h", out.String())
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"smtp://user:pw@mail.example.com:587":       "smtp://user:xxxxx@mail.example.com:587",
		"smtp://mail.example.com:587?tls=none":      "smtp://mail.example.com:587?tls=none",
		"smtp://user:p@ss@mail.example.com:bad":     "smtp://user:xxxxx@mail.example.com:bad",
		"smtp://user:pw@mail.example.com:1%zz":      "smtp://user:xxxxx@mail.example.com:1%zz",
		"smtps://u%40x:p%2Fw@mail.example.com:465":  "smtps://u%40x:xxxxx@mail.example.com:465",
		"user:pw@mail.example.com:1%zz (no scheme)": "user:xxxxx@mail.example.com:1%zz (no scheme)",
	} {
		assert.Equal(t, want, redactURL(in), "redactURL(%q)", in)
	}
	for in, want := range map[string]string{
		"root:pw@tcp(127.0.0.1:3306)/site":    "root:xxxxx@tcp(127.0.0.1:3306)/site",
		"root@tcp(127.0.0.1:3306)/site":       "root@tcp(127.0.0.1:3306)/site",
		"root:p@w@tcp(127.0.0.1:3306)/site":   "root:xxxxx@tcp(127.0.0.1:3306)/site",
		"root:pw@tcp(127.0.0.1:3306 (broken)": "root:xxxxx@tcp(127.0.0.1:3306 (broken)",
	} {
		assert.Equal(t, want, redactDSN(in), "redactDSN(%q)", in)
	}
	c := config{Secret: leakSecret, SMTP: "smtp://u:p%40ss@host:25", MySQL: "root:" + mysqlPassword + "@tcp(db:3306)/site"}
	assert.Equal(t, "xxxxx xxxxx xxxxx xxxxx", c.redactor().Replace(leakSecret+" p%40ss p@ss "+mysqlPassword),
		"the secret and both passwords are masked, raw and decoded")
}

// TestLoggerMasksCredentials: an attribute whose key names a credential is masked,
// whoever logs it.
func TestLoggerMasksCredentials(t *testing.T) {
	var out bytes.Buffer
	newLogger(&out, slog.LevelInfo).Info("connect", "password", "p1", "DSN", "d1", "reset_token", "t1",
		slog.Group("relay", "Secret", "s1"), "user", "alice")
	assertNoSecretIn := func(s string) { assert.NotContains(t, out.String(), s) }
	for _, s := range []string{"p1", "d1", "t1", "s1"} {
		assertNoSecretIn(s)
	}
	assert.Contains(t, out.String(), "password=xxxxx")
	assert.Contains(t, out.String(), "relay.Secret=xxxxx")
	assert.Contains(t, out.String(), "user=alice", "other attributes are kept")
}
