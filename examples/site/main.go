// Command site is consentkit's reference host: every capability wired into one
// net/http server. With no flags it runs on in-memory stores and a built-in dev
// mailbox, so `go run ./examples/site` needs no set-up at all. The dev mailbox
// shows every message sent, so it exists only with in-memory stores on a loopback
// address; any other site refuses to serve without -smtp.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "site:", err)
		}
		os.Exit(1)
	}
}

// run runs the command in args; export writes to stdout, everything else (logs,
// progress, the start-up line) to stderr.
// No password nor -secret is ever printed: the start-up line and errors mask them,
// and whatever else reaches stderr or the returned error is masked on the way.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, rest, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	redact := cfg.redactor()
	stderr = redactingWriter{stderr, redact}
	defer func() {
		if err != nil {
			err = &redactedError{redact.Replace(err.Error())}
		}
	}()
	level := slog.LevelInfo
	if cfg.Quiet {
		level = slog.LevelWarn
	}
	log := newLogger(stderr, level)
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	need := map[string]int{"serve": 0, "migrate": 0, "purge": 0, "import-accounts": 1, "export": 1, "grant": 2, "relay": 1}
	n, ok := need[cmd]
	if !ok || len(rest) != n {
		return fmt.Errorf("unknown command or wrong arguments: %s %v (see -h)", cmd, rest)
	}
	if (cmd == "migrate" || cmd == "import-accounts" || cmd == "grant") && cfg.MySQL == "" {
		return fmt.Errorf("%s needs -mysql: in-memory stores vanish when the command ends", cmd)
	}
	if cmd == "serve" {
		if err := cfg.checkServe(); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "relay" {
		return relay(ctx, rest[0], stdout)
	}
	s, err := newSite(ctx, cfg, log)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, s, cfg, log, stderr)
	case "migrate":
		s.Close()
		log.Info("migrations applied")
		return nil
	case "purge":
		defer s.Close()
		removed, err := s.registry.Purge(ctx, time.Now())
		log.Info("purged", "removed", removed)
		return err
	case "export":
		defer s.Close()
		data, err := s.registry.Export(ctx, rest[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(data)
	case "grant":
		defer s.Close()
		if err := s.accounts.GrantRole(ctx, rest[0], privacy.Role(rest[1])); err != nil {
			return err
		}
		log.Info("role granted", "role", rest[1])
		return nil
	default: // import-accounts
		defer s.Close()
		return importAccounts(ctx, s, rest[0], stderr)
	}
}

func serve(ctx context.Context, s *Site, cfg config, log *slog.Logger, stderr io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.Close()
		return err
	}
	srv := &http.Server{Handler: limitDatabase(s.handler), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	maxConns := connLimit(cfg.MaxConns)
	if maxConns < cfg.MaxConns {
		files, _ := openFileLimit()
		log.Info("-max-conns lowered to 80% of the open-file limit", "max_conns", maxConns, "open_files", files)
	}
	ln = guardConns(ctx, srv, ln, maxConns, log)
	store, mail := "memory", "dev mailbox at http://"+ln.Addr().String()+"/dev/mailbox"
	if cfg.MySQL != "" {
		store = "MySQL " + redactDSN(cfg.MySQL)
	}
	if cfg.SMTP != "" {
		mail = "relay " + redactURL(cfg.SMTP)
	}
	fmt.Fprintf(stderr, "consentkit reference site: open http://%s/ (stores: %s; mail: %s)\n", ln.Addr(), store, mail)
	return s.Run(ctx, srv, func() error { return srv.Serve(ln) })
}

// limitDatabase gives the database calls of each request mysqlstore.RequestLimit
// in all (mysqlstore.Within): a call still running then, such as a commit that a
// Galera node holds while its cluster changes membership, is cut off and the
// request answered 503 with Retry-After instead of kept waiting.
func limitDatabase(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(mysqlstore.Within(r.Context(), mysqlstore.RequestLimit)))
	})
}

func importAccounts(ctx context.Context, s *Site, path string, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	accts, err := accounts.ReadLegacyCSV(f)
	if err != nil {
		return err
	}
	start := time.Now()
	report, err := s.accounts.ImportLegacy(ctx, accts, func(done, total int) {
		const width = 40
		filled := width * done / max(total, 1)
		fmt.Fprintf(stderr, "\r[%-*s] %d/%d", width, strings.Repeat("#", filled), done, total)
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "imported %+v in %s\n", report, time.Since(start).Round(time.Millisecond))
	return nil
}

// relay serves an SMTP server on addr, a loopback address, that prints every
// message it is given: the mail relay of a MySQL site on a developer's machine,
// where the dev mailbox (memory sites only) is not. It stops with ctx.
func relay(ctx context.Context, addr string, stdout io.Writer) error {
	if !isLoopback(addr) {
		return fmt.Errorf("relay %s: a relay that prints people's mail listens on a loopback address only, such as 127.0.0.1:2525", addr)
	}
	srv, err := mailtest.StartAt(addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "relay: every message sent to smtp://%s?tls=none is printed here; Ctrl-C stops it\n", srv.Addr)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for printed := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		msgs := srv.Messages()
		for _, m := range msgs[printed:] {
			fmt.Fprintf(stdout, "\n--- %s\nFrom: %s\nTo: %s\nSubject: %s\n\n%s\n", m.At.Format(time.RFC3339), m.Header.Get("From"),
				strings.Join(m.To, ", "), m.Subject(), m.Text)
		}
		printed = len(msgs)
	}
}
