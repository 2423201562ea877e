package web

import (
	"log/slog"
	"net/http"
)

// NoCookiesOptions configures NoCookies.
type NoCookiesOptions struct {
	// Strict answers 500 instead of the response that tried to set a cookie, so a
	// test that exercises such a handler fails loudly. Use it in tests and staging.
	Strict bool
	// OnCookie, if set, is called with the request and the Set-Cookie values removed.
	OnCookie func(r *http.Request, cookies []string)
	// Log receives a warning for every removed cookie (the cookie's value is not logged).
	Log *slog.Logger
}

// NoCookies wraps next so that no response sets a cookie (P7): any Set-Cookie header
// is removed before the response is written, and reported.
func NoCookies(next http.Handler, opts NoCookiesOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &cookieGuard{ResponseWriter: w, r: r, opts: &opts}
		next.ServeHTTP(cw, r)
		if !cw.wroteHeader {
			cw.WriteHeader(http.StatusOK)
		}
	})
}

type cookieGuard struct {
	http.ResponseWriter
	r           *http.Request
	opts        *NoCookiesOptions
	wroteHeader bool
	blocked     bool // strict mode replaced the response
}

func (g *cookieGuard) WriteHeader(status int) {
	if g.wroteHeader {
		return
	}
	g.wroteHeader = true
	h := g.ResponseWriter.Header()
	cookies := h.Values("Set-Cookie")
	if len(cookies) == 0 {
		g.ResponseWriter.WriteHeader(status)
		return
	}
	h.Del("Set-Cookie")
	if g.opts.Log != nil {
		g.opts.Log.Warn("removed Set-Cookie from a response", "path", g.r.URL.Path, "count", len(cookies))
	}
	if g.opts.OnCookie != nil {
		g.opts.OnCookie(g.r, cookies)
	}
	if g.opts.Strict {
		g.blocked = true
		h.Del("Content-Length")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		g.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		_, _ = g.ResponseWriter.Write([]byte("web.NoCookies: the handler tried to set a cookie\n"))
		return
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *cookieGuard) Write(p []byte) (int, error) {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	if g.blocked {
		return len(p), nil
	}
	return g.ResponseWriter.Write(p)
}

func (g *cookieGuard) Flush() {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok && !g.blocked {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *cookieGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
