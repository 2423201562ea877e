package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Prefix returns the path of base, a URL ("https://example.com/comments") or a
// path ("/comments"), without its trailing slash: the prefix a handler's links
// start with and Mount routes under; "" at the site's root. Returns an error for
// a base that is not a URL or has a query or fragment.
func Prefix(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a URL or a path without query or fragment", base)
	}
	p := strings.TrimRight(u.Path, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q: the path must start with /", base)
	}
	return p, nil
}

// Mount returns h serving on the request's path relative to prefix, however the
// host mounts it: behind http.StripPrefix, which has already taken the prefix off;
// or with a router that keeps the whole path, as a ServeMux pattern "/prefix/",
// chi's Mount and gorilla/mux's PathPrefix do. The prefix alone is served as "/".
// A path that does not start with prefix is taken as already relative.
func Mount(prefix string, h http.Handler) http.Handler {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := relative(r.URL.Path, prefix)
		if !ok || stripped(r, prefix) {
			h.ServeHTTP(w, r)
			return
		}
		r2 := r.WithContext(r.Context())
		u := *r.URL
		u.Path = path
		if u.RawPath != "" {
			// RawPath holds the escaping of Path, so the prefix, which has none,
			// starts it too.
			u.RawPath, _ = relative(u.RawPath, prefix)
		}
		r2.URL = &u
		h.ServeHTTP(w, r2)
	})
}

// relative returns path without prefix, and whether path is under prefix.
func relative(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return path, false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

// stripped reports whether http.StripPrefix already took prefix off r's path,
// which may start with prefix again by chance (comments mounted at "/t" serve
// "/t/{thread}"): StripPrefix leaves the RequestURI whole.
func stripped(r *http.Request, prefix string) bool {
	if r.RequestURI == "" {
		return false
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	return err == nil && u.EscapedPath() == prefix+r.URL.EscapedPath()
}
