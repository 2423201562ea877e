package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
)

const startupSecret = "startup test secret, startup test secret"

// serveFor runs the serve command with args for at most d; a site that starts
// serves until then and returns nil.
func serveFor(t *testing.T, d time.Duration, args ...string) error {
	t.Helper()
	// d is how long the site serves once it has said so: a start-up slowed by a
	// busy machine (migrations, say) does not count against it.
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append(append([]string{"-quiet"}, args...), "serve"), &out, &out) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "open http://") {
		select {
		case err := <-done:
			return err
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("the site neither served nor failed within 60 s: %s", &out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(d)
	cancel()
	return <-done
}

// TestDevMailboxOnlyOnLoopback: the dev mailbox shows every reset link, so a site
// that strangers can reach refuses to start without a real relay.
func TestDevMailboxOnlyOnLoopback(t *testing.T) {
	t.Run("MySQLWithoutSMTP", func(t *testing.T) {
		err := serveFor(t, 2*time.Second, "-mysql", mysqltest.NewDSN(t), "-secret", startupSecret, "-addr", "127.0.0.1:0")
		require.Error(t, err, "the site served its dev mailbox with a MySQL store")
		assert.ErrorContains(t, err, "-smtp")
	})
	t.Run("MemoryOnAllInterfaces", func(t *testing.T) {
		err := serveFor(t, 2*time.Second, "-addr", ":0")
		require.Error(t, err, "the site served its dev mailbox on every interface")
		assert.ErrorContains(t, err, "-smtp")
	})
	t.Run("MemoryOnLoopback", func(t *testing.T) {
		assert.NoError(t, serveFor(t, time.Second, "-addr", "127.0.0.1:0"))
	})
}

// TestPersistentSiteNeedsSecret: unsubscribe links and form stamps are signed with
// -secret, so a MySQL site that made one up at start-up would answer 410 to every
// link mailed before its last restart. It refuses to serve without one; the
// one-off commands sign nothing and run without it.
func TestPersistentSiteNeedsSecret(t *testing.T) {
	t.Setenv("CONSENTKIT_SECRET", "")
	dsn := mysqltest.NewDSN(t)
	relay := "smtp://127.0.0.1:1?tls=none" // never dialled: no mail is sent
	t.Run("ServeWithoutSecret", func(t *testing.T) {
		err := serveFor(t, 2*time.Second, "-mysql", dsn, "-smtp", relay, "-addr", "127.0.0.1:0")
		require.Error(t, err, "a MySQL site served with a random secret")
		assert.ErrorContains(t, err, "-secret")
		assert.ErrorContains(t, err, "openssl rand -hex 32")
		assert.ErrorContains(t, err, "restart")
	})
	t.Run("SecretFromEnvironment", func(t *testing.T) {
		t.Setenv("CONSENTKIT_SECRET", startupSecret)
		assert.NoError(t, serveFor(t, time.Second, "-mysql", dsn, "-smtp", relay, "-addr", "127.0.0.1:0"))
	})
	t.Run("CommandsWithoutSecret", func(t *testing.T) {
		ctx := context.Background()
		require.NoError(t, run(ctx, []string{"-quiet", "-mysql", dsn, "migrate"}, io.Discard, io.Discard))
		err := run(ctx, []string{"-quiet", "-mysql", dsn, "grant", "nobody@example.org", "admin"}, io.Discard, io.Discard)
		require.Error(t, err, "a role for no account is refused")
		assert.NotContains(t, err.Error(), "-secret", "grant runs without -secret")
	})
	t.Run("ShortSecret", func(t *testing.T) {
		for _, secret := range []string{"tooshort", "0123456789abcdef0123456789abcde"} {
			_, _, err := parseConfig([]string{"-secret", secret}, io.Discard)
			require.Error(t, err, "-secret %q", secret)
			assert.ErrorContains(t, err, "32")
			assert.ErrorContains(t, err, "openssl rand -hex 32")
			assert.NotContains(t, err.Error(), secret, "the error repeats the secret")
		}
	})
}
