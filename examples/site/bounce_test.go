package main

import (
	"context"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/testport"
)

// TestBounceSuppresses: with -bounce-addr and -bounce-domain, mail leaves from a
// return path that names it, and a bounce sent there stops mail to the address.
func TestBounceSuppresses(t *testing.T) {
	bounceAddr := testport.Addr(t)
	s, base := startSite(t, config{BounceAddr: bounceAddr, BounceDomain: "bounces.example.com"})
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	code, _ := c.submit("/newsletter/", "/newsletter/subscribe", url.Values{"email": {"reader@example.org"}, "newsletter": {"on"}})
	require.Less(t, code, 300)
	got := s.mailbox.Wait(1, 20*time.Second)
	require.NotEmpty(t, got)
	rp := got[0].From
	require.True(t, strings.HasPrefix(rp, "bounce+") && strings.HasSuffix(rp, "@bounces.example.com"), "envelope sender %q", rp)

	dsn, err := os.ReadFile("../../privacy/bounce/testdata/reports/postfix-5.1.1.eml")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		sc, err := smtp.Dial(bounceAddr)
		if err != nil {
			return false
		}
		sc.Close()
		return true
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, smtp.SendMail(bounceAddr, nil, "", []string{rp}, dsn))
	ok, err := s.store.Suppressed(context.Background(), "reader@example.org")
	require.NoError(t, err)
	assert.True(t, ok, "a permanent failure for the confirmation suppresses its recipient")
}
