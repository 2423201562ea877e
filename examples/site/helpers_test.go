package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// startSite runs a site on a loopback port until the test ends. cfg.Addr and
// cfg.SiteURL are filled in from the port.
func startSite(t *testing.T, cfg config) (*Site, string) {
	t.Helper()
	return startSiteAt(t, cfg, "127.0.0.1")
}

// startSiteAt starts the site on a loopback port with the URL http://host:port:
// passkeys need a domain name, such as localhost, where 127.0.0.1 has none.
func startSiteAt(t *testing.T, cfg config, host string) (*Site, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	cfg.SiteURL = "http://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if cfg.Secret == "" {
		cfg.Secret = "test secret, test secret, test secret"
	}
	if cfg.FormMinAge == 0 {
		cfg.FormMinAge = 200 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newSite(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, srv, func() error { return srv.Serve(ln) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("site shutdown: %v", err)
		}
	})
	return s, cfg.SiteURL
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
