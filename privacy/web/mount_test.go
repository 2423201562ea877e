package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy/web"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"", ""},
		{"/", ""},
		{"/comments", "/comments"},
		{"/comments/", "/comments"},
		{"https://example.com/help/contact/", "/help/contact"},
		{"https://example.com", ""},
	} {
		got, err := web.Prefix(tc.base)
		require.NoError(t, err, tc.base)
		assert.Equal(t, tc.want, got, "Prefix(%q)", tc.base)
	}
	for _, bad := range []string{"comments", "https://example.com/c?x=1", "/c#top", "https://example.com/%zz", "mailto:a@example.com"} {
		_, err := web.Prefix(bad)
		assert.Error(t, err, "Prefix(%q)", bad)
	}
}

func TestMount(t *testing.T) {
	var seen string
	h := web.Mount("/t", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.Path }))
	for _, tc := range []struct {
		name   string
		mount  func(http.Handler) http.Handler
		target string
		want   string
	}{
		{"WholePath", func(h http.Handler) http.Handler { return h }, "/t/t/hello", "/t/hello"},
		{"PrefixAlone", func(h http.Handler) http.Handler { return h }, "/t", "/"},
		{"OtherPath", func(h http.Handler) http.Handler { return h }, "/tx/hello", "/tx/hello"},
		// The stripped path starts with the prefix again: it is not stripped twice.
		{"StripPrefix", func(h http.Handler) http.Handler { return http.StripPrefix("/t", h) }, "/t/t/hello", "/t/hello"},
		{"StripPrefixOnce", func(h http.Handler) http.Handler { return http.StripPrefix("/t", h) }, "/t/hello", "/hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = ""
			tc.mount(h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tc.target, nil))
			assert.Equal(t, tc.want, seen, "path=%v, want %v", seen, tc.want)
		})
	}

	t.Run("Escaped", func(t *testing.T) {
		var path, raw string
		h := web.Mount("/c", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { path, raw = r.URL.Path, r.URL.RawPath }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/c/t/a%2Fb", nil))
		assert.Equal(t, "/t/a/b", path)
		assert.Equal(t, "/t/a%2Fb", raw)
	})
}
