package main

import (
	"context"
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
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return run(ctx, append(append([]string{"-quiet"}, args...), "serve"))
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
