package smtp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// deliver sends msg through a transport with d to a fresh server and returns the
// bytes the server received.
func deliver(t *testing.T, d *smtp.DKIM, msg privacy.Message) []byte {
	t.Helper()
	srv, err := mailtest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none", DKIM: d})
	require.NoError(t, err)
	c, err := tr.Dial(context.Background())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Send(context.Background(), &msg))
	got := srv.Wait(1, 10*time.Second)
	require.Len(t, got, 1)
	return got[0].Raw
}

// resolver serves the public key of pub at sel._domainkey.example.com, as DNS would.
func resolver(t *testing.T, sel string, pub crypto.PublicKey) func(string) ([]string, error) {
	var rec string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		require.NoError(t, err)
		rec = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		rec = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	return func(name string) ([]string, error) {
		if name != sel+"._domainkey.example.com" {
			return nil, fmt.Errorf("no TXT record at %s", name)
		}
		return []string{rec}, nil
	}
}

func verify(raw []byte, lookup func(string) ([]string, error)) error {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		return err
	}
	if len(vs) != 1 {
		return fmt.Errorf("%d signatures, want 1", len(vs))
	}
	return vs[0].Err
}

func campaignMessage() privacy.Message {
	return privacy.Message{Purpose: privacy.Purpose("newsletter"), DataSubject: "ann@example.org",
		From: privacy.Address{Name: "Example Ltd", Email: "noreply@example.com"}, To: privacy.Address{Name: "Ann", Email: "ann@example.org"},
		ReplyTo: privacy.Address{Email: "support@example.com"}, Subject: "Issue 7: ümlauts and all",
		Text: "Hello.\n\n.a line starting with a dot\n", HTML: "<p>Hello.</p>",
		Unsubscribe: "https://example.com/newsletter/unsubscribe?t=abc", Ref: "campaign:7"}
}

// TestDKIMSignatureVerifies: a message signed with each kind of key verifies with
// go-msgauth's verifier, and fails once any signed header field, or the body, is changed.
func TestDKIMSignatureVerifies(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for name, key := range map[string]crypto.Signer{"RSA": rsaKey, "Ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			raw := deliver(t, &smtp.DKIM{Domain: "example.com", Selector: "s1", Key: key}, campaignMessage())
			lookup := resolver(t, "s1", key.Public())
			require.NoError(t, verify(raw, lookup))

			h := regexp.MustCompile(`(?s)[;\s]h=([^;]*);`).FindSubmatch(raw)
			require.NotNil(t, h, "no h= tag in %s", raw)
			signed := strings.Split(strings.Join(strings.Fields(string(h[1])), ""), ":")
			for _, f := range []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"} {
				assert.Contains(t, signed, f, "h= lacks %s", f)
			}

			hdr, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
			require.True(t, ok)
			for _, f := range []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"} {
				re := regexp.MustCompile(`(?m)^(` + f + `: )`)
				require.True(t, re.Match(hdr), "the message has no %s field", f)
				changed := append(re.ReplaceAll(hdr, []byte("${1}x")), append([]byte("\r\n\r\n"), body...)...)
				assert.Error(t, verify(changed, lookup), "changing %s kept the signature valid", f)
			}
			tampered := append(append(bytes.Clone(hdr), "\r\n\r\n"...), bytes.Replace(body, []byte("Hello."), []byte("Hullo."), 1)...)
			assert.Error(t, verify(tampered, lookup), "changing the body kept the signature valid")
			for _, f := range []string{"From: x@example.net", "List-Unsubscribe-Post: List-Unsubscribe=Nothing", "Reply-To: x@example.net"} {
				added := append([]byte(f+"\r\n"), raw...)
				assert.Error(t, verify(added, lookup), "adding %q kept the signature valid", f)
			}
		})
	}
}

func TestDKIMKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	t.Run("OK", func(t *testing.T) {
		for name, data := range map[string][]byte{
			"pkcs1.pem":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}),
			"rsa8.pem":    pkcs8(rsaKey),
			"ed25519.pem": pkcs8(edKey),
		} {
			k, err := smtp.LoadDKIMKey(write(name, data))
			require.NoError(t, err, name)
			_, err = smtp.New(smtp.Config{Host: "h", DKIM: &smtp.DKIM{Domain: "example.com", Selector: "s", Key: k}})
			assert.NoError(t, err, name)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		ecDER := []byte("MHcCAQEEIHn8") // a truncated EC key: not a key this package takes
		for name, data := range map[string][]byte{
			"empty.pem":     nil,
			"text.pem":      []byte("not a key"),
			"cert.pem":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
			"garbage.pem":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}),
			"truncated.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: ecDER}),
		} {
			_, err := smtp.LoadDKIMKey(write(name, data))
			if assert.Error(t, err, name) {
				assert.Contains(t, err.Error(), name, "the error does not name the file")
			}
		}
		_, err := smtp.LoadDKIMKey(filepath.Join(dir, "missing.pem"))
		assert.Error(t, err)
		_, err = smtp.New(smtp.Config{Host: "h", DKIM: &smtp.DKIM{Domain: "example.com", Key: edKey}})
		assert.ErrorContains(t, err, "selector")
	})
}
