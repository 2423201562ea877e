// Command embed is the smallest consentkit host: an existing site's mux gains blog
// comments, aggregate page-view counts and a privacy policy page. It is the code to
// copy; examples/site shows every capability.
//
//	go run ./examples/embed            # mail to a local dev mailbox, printed in the log
//	go run ./examples/embed -smtp smtp://user:pass@mail.example.com:587
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
	trackingmem "github.com/consentkit/consentkit/tracking/memstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	relay := flag.String("smtp", "", "mail relay URL; empty starts a local dev mailbox")
	flag.Parse()
	log := slog.Default()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *relay, log); err != nil {
		log.Error("embed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, relay string, log *slog.Logger) error {
	site := "http://" + addr
	key := make([]byte, 32) // in production: a secret kept across restarts
	rand.Read(key)

	// The policy: who runs the site. What is held, for how long and why, each
	// capability states itself when it is registered below.
	policy := &privacy.Policy{Operator: "My Blog", Contact: "me@myblog.example", OperatorDomains: []string{"myblog.example"},
		SiteURL: site, Version: "1", Effective: time.Now()}

	// Mail: a purpose-bound mailer over a durable outbox, delivered over SMTP.
	store := privacymem.New()
	mailer := privacy.NewMailer(policy, store, log)
	// Every staff read of personal data (a moderator reading a commenter's address,
	// an admin reading the access log) is recorded in the store's access log (P11).
	auditor := &privacy.Auditor{Log: store}
	cfg := smtp.Config{TLS: "none"}
	if relay != "" {
		var err error
		if cfg, err = smtp.ParseURL(relay); err != nil {
			return err
		}
	} else {
		mb, err := mailtest.Start()
		if err != nil {
			return err
		}
		defer mb.Close()
		cfg.Host = mb.Host()
		cfg.Port, _ = strconv.Atoi(mb.Port())
	}
	transport, err := smtp.New(cfg)
	if err != nil {
		return err
	}
	go (&privacy.Dispatcher{Store: store, Transport: transport, Mailer: mailer, Log: log}).Run(ctx)

	// Comments, and the registry that lets a person export or erase them.
	cs, err := comments.New(comments.Config{Store: commentsmem.New(), Mailer: mailer, Auditor: auditor, Key: key, BaseURL: site + "/comments"})
	if err != nil {
		return err
	}
	ch, err := comments.NewHandler(cs, comments.HandlerConfig{Signer: &web.Signer{Key: key}})
	if err != nil {
		return err
	}
	counts := trackingmem.New()
	stats, err := tracking.New(tracking.Config{Store: counts})
	if err != nil {
		return err
	}
	registry := &privacy.Registry{Mailer: mailer}
	registry.Register(cs)
	registry.Register(stats)

	// The existing site...
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>My Blog</title><h1>My Blog</h1><p><a href="/comments/t/hello">Comments on "Hello"</a> · <a href="/privacy/">Privacy</a></p>`)
	})
	// ...gains comments and the policy page.
	mux.Handle("/comments/", ch) // it routes on the path after its BaseURL
	rights := &privacy.Rights{Store: store, Registry: registry, Mailer: mailer, BaseURL: site + "/privacy/confirm"}
	registry.Register(&privacy.KernelHolder{Store: store, Key: key})
	registry.Register(rights)
	if err := registry.Check(); err != nil {
		return err
	}
	pages, err := web.New(web.Config{Policy: policy, Registry: registry,
		Rights: rights, Disclosures: &privacy.Disclosures{Store: store, Registry: registry, Auditor: auditor}, Store: store, Auditor: auditor, BaseURL: "/privacy"})
	if err != nil {
		return err
	}
	mux.Handle("/privacy/", pages)

	// Count page views, never people; and make sure no response sets a cookie.
	tracker, err := tracking.NewTracker(tracking.TrackerConfig{Store: counts, MuxPatterns: true})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: web.NoCookies(tracker.Handler(mux), web.NoCookiesOptions{Log: log}),
		ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	log.Info("serving", "url", site)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return tracker.Close(context.Background()) // the last counts
}
