package mysqlstore_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/mysqlstore"
)

// commitEater passes a proxied connection's bytes on. Armed, it passes the next
// COMMIT on, waits for the server's answer and, instead of passing that on, closes
// the connection: the commit is applied and the client cannot know it, as when a
// Galera node is killed after replicating a commit and before answering it.
type commitEater struct {
	armed atomic.Bool
	ate   chan struct{}
}

// COM_QUERY (3) and the statement, after the packet's 4-byte header.
var commitPacket = []byte("\x03COMMIT")

func (e *commitEater) serve(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	var eat atomic.Bool // the next answer is the COMMIT's: drop it
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil {
				return
			}
			if eat.Load() {
				// The server answered, so applied the commit; the client never hears it.
				client.Close()
				e.ate <- struct{}{}
				return
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if err != nil {
			return
		}
		if n > 4 && bytes.HasPrefix(buf[4:n], commitPacket) && e.armed.CompareAndSwap(true, false) {
			eat.Store(true)
		}
		if _, err := server.Write(buf[:n]); err != nil {
			return
		}
	}
}

func TestAddAfterALostCommitAnswer(t *testing.T) {
	ctx := context.Background()
	eater := &commitEater{ate: make(chan struct{}, 1)}
	proxied, direct := mysqltest.Proxied(t, eater.serve)
	require.NoError(t, mysqlstore.New(direct).Migrate(ctx))
	s := mysqlstore.New(proxied)
	views := func() int64 {
		var n int64
		require.NoError(t, direct.Get(&n, `SELECT COALESCE(SUM(views), 0) FROM tracking_paths`))
		return n
	}

	batch := []tracking.Count{{Dim: tracking.Paths, Period: tracking.Hour, Start: time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC), Value: "/a", N: 7}}
	key := tracking.NewKey()
	eater.armed.Store(true)
	err := s.Add(ctx, key, batch)
	require.Error(t, err, "the answer to the commit was lost")
	assert.ErrorIs(t, err, privacy.ErrUnavailable)
	<-eater.ate
	require.Equal(t, int64(7), views(), "the commit was applied all the same")

	require.NoError(t, s.Add(ctx, key, batch), "the same batch again, under its key")
	assert.Equal(t, int64(7), views(), "counted once")
	require.NoError(t, s.Add(ctx, tracking.NewKey(), batch))
	assert.Equal(t, int64(14), views(), "through the same connections, another batch adds")
}
