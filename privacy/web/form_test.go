package web_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func post(ct, body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestDecode(t *testing.T) {
	v, err := web.Decode(post("application/x-www-form-urlencoded", "email=a%40example.org&name=Ann"), 0)
	require.NoError(t, err)
	assert.Equal(t, "a@example.org", v.Get("email"))

	v, err = web.Decode(post("application/json; charset=utf-8", `{"email":"a@example.org","newsletter":true,"age":13,"promo":false,"x":null}`), 0)
	require.NoError(t, err)
	assert.Equal(t, "a@example.org", v.Get("email"))
	assert.Equal(t, "on", v.Get("newsletter"))
	assert.Equal(t, "13", v.Get("age"))
	assert.False(t, v.Has("promo"))

	bad := []struct {
		req   *http.Request
		field string
	}{
		{post("application/x-www-form-urlencoded", "email=a&email=b"), "email"},
		{post("application/json", `{"email":["a","b"]}`), "email"},
		{post("application/json", `{"email":{"x":1}}`), "email"},
		{post("application/json", `[1,2]`), "body"},
		{post("application/json", `{"a":"b"} {"c":"d"}`), "body"},
		{post("application/json", `{"a":`), "body"},
		{post("text/xml", `<a/>`), "content-type"},
		{post("multipart/form-data; boundary=x", `--x--`), "content-type"},
		{post("application/x-www-form-urlencoded", "a=%zz"), "body"},
		{post("application/json", "{\"name\":\"\xff\"}"), "body"},
		{post("application/json", `{"":"x"}`), "body"},
		{post("application/x-www-form-urlencoded", "message="+strings.Repeat("x", web.MaxBody)), "body"},
		{post("application/json", `{"message":"`+strings.Repeat("x", web.MaxBody)+`"}`), "body"},
	}
	for _, tc := range bad {
		_, err := web.Decode(tc.req, 0)
		require.ErrorIs(t, err, privacy.ErrInvalid)
		assert.Equal(t, tc.field, privacy.FieldOf(err))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("application/json", `{"email":"a@example.org"}`)
	f.Add("application/x-www-form-urlencoded", "email=a%40example.org&ts=x")
	f.Add("", "a=1&a=2")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		_, err := web.Decode(r, 4096)
		if err != nil && !errors.Is(err, privacy.ErrInvalid) {
			t.Fatalf("error of the wrong kind: %v", err)
		}
	})
}

func TestWantsJSON(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	assert.False(t, web.WantsJSON(r))
	r.Header.Set("Accept", "application/json")
	assert.True(t, web.WantsJSON(r))
	r.Header.Set("Accept", "text/html,application/json;q=0.9")
	assert.False(t, web.WantsJSON(r))
	assert.True(t, web.WantsJSON(post("application/json", "{}")))
}

func TestSigner(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := &web.Signer{Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}
	stamp := s.Stamp()

	err := s.Check(stamp)
	require.ErrorIs(t, err, privacy.ErrInvalid, "a submit at once is a bot")
	assert.Equal(t, web.TimestampField, privacy.FieldOf(err))

	now = now.Add(time.Second)
	assert.ErrorIs(t, s.Check(stamp), privacy.ErrInvalid, "1 s is still too quick")
	now = now.Add(5 * time.Second)
	assert.NoError(t, s.Check(stamp))
	now = now.Add(25 * time.Hour)
	assert.ErrorIs(t, s.Check(stamp), privacy.ErrInvalid, "expired")

	other := &web.Signer{Key: []byte("another key, another site........"), Now: s.Now}
	assert.ErrorIs(t, other.Check(stamp), privacy.ErrInvalid, "forged")
	assert.ErrorIs(t, s.Check(""), privacy.ErrInvalid)
	assert.ErrorIs(t, s.Check("!!"), privacy.ErrInvalid)
}

func TestLimiter(t *testing.T) {
	l := web.NewLimiter(2, time.Hour, 2)
	a := netip.MustParseAddr("192.0.2.1")
	assert.True(t, l.Allow(a))
	assert.True(t, l.Allow(a))
	assert.False(t, l.Allow(a))
	assert.True(t, l.Allow(netip.MustParseAddr("192.0.2.2")), "other clients are not affected")

	six := web.NewLimiter(1, time.Hour, 1)
	assert.True(t, six.Allow(netip.MustParseAddr("2001:db8::1")))
	assert.False(t, six.Allow(netip.MustParseAddr("2001:db8::2")), "IPv6 is limited per /64")

	small := &web.Limiter{Rate: 1, Burst: 1, Max: 10}
	for i := range 100 {
		small.Allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	lim := web.NewLimiter(1, time.Hour, 1)
	require.NoError(t, lim.Check(r, ""))
	err := lim.Check(r, "")
	require.ErrorIs(t, err, privacy.ErrRateLimited)
	assert.Equal(t, 429, web.HTTPStatus(err))
}

func TestClientAddr(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 192.0.2.44")
	assert.Equal(t, "198.51.100.7", web.ClientAddr(r, "").String(), "the header is ignored unless trusted")
	assert.Equal(t, "192.0.2.44", web.ClientAddr(r, "X-Forwarded-For").String())
	r.Header.Set("X-Forwarded-For", "garbage")
	assert.Equal(t, "198.51.100.7", web.ClientAddr(r, "X-Forwarded-For").String())
}

// FuzzClientAddr: the fast path for "a.b.c.d:port" agrees with the general parse,
// and ClientAddr never panics on any connection address or proxy header.
func FuzzClientAddr(f *testing.F) {
	f.Add("192.0.2.1:80", "198.51.100.1, 203.0.113.2")
	f.Fuzz(func(t *testing.T, remote, header string) {
		if a, ok := web.ParseIPv4Port(remote); ok {
			host, _, err := net.SplitHostPort(remote)
			want, perr := netip.ParseAddr(host)
			if err != nil || perr != nil || want != a {
				t.Fatalf("fast path read %q as %v; the general parse gives %v (%v, %v)", remote, a, want, err, perr)
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", header)
		web.ClientAddr(r, "X-Forwarded-For")
		web.ClientAddr(r, "")
	})
}
