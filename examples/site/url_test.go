package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMailedLinksNeedHTTPS: a site others can reach mails links that act for the
// person (confirm, unsubscribe, data requests), so it refuses to start unless they
// are https; only a loopback development run keeps http.
func TestMailedLinksNeedHTTPS(t *testing.T) {
	const relay = "smtp://127.0.0.1:1?tls=none" // never dialled: no mail is sent
	for _, tc := range []struct {
		name, addr, url string
		ok              bool
	}{
		{"LoopbackDefault", "127.0.0.1:8080", "", true},
		{"LoopbackLocalhost", "127.0.0.1:8080", "http://localhost:8080", true},
		{"IPv6Loopback", "[::1]:8080", "http://[::1]:8080", true},
		{"HTTPSBehindProxy", "127.0.0.1:8080", "https://www.example.com", true},
		{"HTTPSOnAllInterfaces", ":8080", "https://www.example.com", true},
		{"PublicHTTPURL", "127.0.0.1:8080", "http://www.example.com", false},
		{"AllInterfacesDefault", ":8080", "", false},
		{"AllInterfacesLoopbackURL", "0.0.0.0:8080", "http://127.0.0.1:8080", false},
		{"PublicAddress", "192.0.2.7:8080", "http://192.0.2.7:8080", false},
		{"NotHTTP", "127.0.0.1:8080", "ftp://www.example.com", false},
		{"Relative", "127.0.0.1:8080", "/site", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-addr", tc.addr, "-smtp", relay}
			if tc.url != "" {
				args = append(args, "-url", tc.url)
			}
			c, _, err := parseConfig(args, io.Discard)
			require.NoError(t, err)
			err = c.checkServe()
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err, "served links from %s listening on %s", c.SiteURL, tc.addr)
			assert.ErrorContains(t, err, "-url")
			if tc.name != "NotHTTP" && tc.name != "Relative" {
				assert.ErrorContains(t, err, "https://")
				assert.ErrorContains(t, err, "RFC 8058")
			}
		})
	}
	t.Run("Serve", func(t *testing.T) {
		err := serveFor(t, time.Second, "-addr", "127.0.0.1:0", "-smtp", relay, "-url", "http://www.example.com")
		require.Error(t, err, "the site served http links on a public host name")
		assert.ErrorContains(t, err, "-url http://www.example.com")
	})
}
