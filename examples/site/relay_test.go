package main

import (
	"bytes"
	"context"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/testport"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// The README's local relay prints what it is given, and listens on loopback only.
func TestRelayPrintsMail(t *testing.T) {
	addr := testport.Addr(t)
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"relay", addr}, &out, &out) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "smtp://"+addr) }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, smtp.SendMail(addr, nil, "site@example.com", []string{"you@example.org"},
		[]byte("From: site@example.com\r\nTo: you@example.org\r\nSubject: Confirm your address\r\n\r\nOpen http://127.0.0.1:8080/accounts/verify?t=abc\r\n")))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "verify?t=abc") }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, out.String(), "Subject: Confirm your address")
	assert.Contains(t, out.String(), "To: you@example.org")
	cancel()
	require.NoError(t, <-done)

	err := run(context.Background(), []string{"relay", "0.0.0.0:2525"}, &out, &out)
	require.ErrorContains(t, err, "loopback address only")
}
