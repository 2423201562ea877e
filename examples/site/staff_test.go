package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrustedProxy: behind a trusted proxy the client is the right-most address
// of X-Forwarded-For that is no proxy of ours; from anyone else the header is
// ignored, whatever it says.
func TestTrustedProxy(t *testing.T) {
	trusted, err := parseProxies("127.0.0.1, 10.0.0.0/8,::1")
	require.NoError(t, err)
	_, err = parseProxies("10.0.0.0/33")
	assert.Error(t, err)
	_, err = parseProxies("proxy.example")
	assert.Error(t, err)

	seen := ""
	s := &Site{cfg: config{TrustedProxies: trusted}}
	h := s.clientAddr(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	for _, tc := range []struct{ peer, xff, want string }{
		{"127.0.0.1:5000", "203.0.113.9", "203.0.113.9:0"},
		{"127.0.0.1:5000", "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9:0"}, // a second proxy of ours
		{"127.0.0.1:5000", "1.1.1.1, bogus, 203.0.113.9", "203.0.113.9:0"},
		{"[::1]:5000", "2001:db8::7", "[2001:db8::7]:0"},
		{"198.51.100.7:5000", "203.0.113.9", "198.51.100.7:5000"}, // not a proxy: the header is the client's word
		{"127.0.0.1:5000", "", "127.0.0.1:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		assert.Equal(t, tc.want, seen, "peer %s, X-Forwarded-For %q", tc.peer, tc.xff)
	}
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}, trusted)

	// With the setting, each visitor behind the proxy has a limit of their own;
	// without it, the proxy's visitors share one (5 at once).
	_, base := startSite(t, config{TrustedProxies: trusted})
	_, shared := startSite(t, config{})
	codes := map[int]int{}
	for i := range 7 {
		req, _ := http.NewRequest("POST", shared+"/privacy/request", strings.NewReader(fmt.Sprintf("email=p%d@example.org&kind=export", i)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	assert.Equal(t, map[int]int{http.StatusAccepted: 5, http.StatusTooManyRequests: 2}, codes)
	for i := range 7 {
		req, _ := http.NewRequest("POST", base+"/privacy/request", strings.NewReader(fmt.Sprintf("email=p%d@example.org&kind=export", i)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, "visitor %d shares a limit with the others", i)
	}
}
