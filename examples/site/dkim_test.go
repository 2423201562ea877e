package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMailIsDKIMSigned: with -dkim-key and -dkim-selector, mail the site sends
// verifies against the public key published for the sender's domain.
func TestMailIsDKIMSigned(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))

	s, base := startSite(t, config{DKIMKey: keyFile, DKIMSelector: "mail2026"})
	c := &client{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	code, _ := c.submit("/newsletter/", "/newsletter/subscribe", url.Values{"email": {"reader@example.org"}, "newsletter": {"on"}})
	require.Less(t, code, 300)
	got := s.mailbox.Wait(1, 20*time.Second)
	require.NotEmpty(t, got)

	lookup := func(name string) ([]string, error) {
		require.Equal(t, "mail2026._domainkey.example.com", name)
		return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(got[0].Raw), &dkim.VerifyOptions{LookupTXT: lookup})
	require.NoError(t, err)
	require.Len(t, vs, 1)
	assert.NoError(t, vs[0].Err)
	assert.Equal(t, "example.com", vs[0].Domain)
}

// TestBadDKIMKeyStopsStart: a key that does not parse is named at start-up, not
// found out when the first message is signed.
func TestBadDKIMKeyStopsStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "dkim.pem")
	require.NoError(t, os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"), 0o600))
	err := serveFor(t, time.Second, "-addr", "127.0.0.1:0", "-dkim-key", bad, "-dkim-selector", "s1")
	require.Error(t, err)
	assert.ErrorContains(t, err, "-dkim-key")
	assert.ErrorContains(t, err, bad)

	err = serveFor(t, time.Second, "-addr", "127.0.0.1:0", "-dkim-key", bad)
	require.Error(t, err)
	assert.ErrorContains(t, err, "-dkim-selector")
}
