// Command embed is the smallest consentkit host: an existing site's mux gains blog
// comments, aggregate page-view counts, a privacy policy page and the data request
// pages, with the retention purge running. It is the code to copy; examples/site
// shows every capability.
//
//	go run ./examples/embed   # on 127.0.0.1 only: mail is printed in the log, not sent
//	go run ./examples/embed -smtp smtp://user:pass@mail.example.com:587 -secret "$(openssl rand -hex 32)"
//
// Comments from a new address wait for a moderator. This host has no accounts, so
// the moderator is whoever presents -moderator-token as a bearer token:
//
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/comments/moderate
//	curl -H "Authorization: Bearer $TOKEN" -H "Origin: http://127.0.0.1:8081" -X POST http://127.0.0.1:8081/comments/moderate/1/approve
package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/privacy"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
	trackingmem "github.com/consentkit/consentkit/tracking/memstore"
)

//go:embed comments-fr.html
var commentsFrench embed.FS

// layout is the host's page around the comment pages, with the card style of its
// comment form.
func layout(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="fr"><meta charset="utf-8"><title>%s · My Blog</title>
<style>.carte{max-width:40rem;padding:1rem 1.5rem;border:1px solid #767676;border-radius:.5rem}
.cote-a-cote{display:flex;gap:1rem;flex-wrap:wrap}.carte label{display:block;font-weight:600}
.carte textarea{width:100%%}.erreurs{color:#8b0000}[hidden]{display:none}</style>
<main>%s</main></html>`, template.HTMLEscapeString(title), body)
}

type options struct {
	addr, relay, secret, moderatorToken string
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address")
	flag.StringVar(&o.relay, "smtp", "", "mail relay URL; empty prints mail in the log (127.0.0.1 only)")
	flag.StringVar(&o.secret, "secret", os.Getenv("EMBED_SECRET"), "at least 32 characters, kept across restarts (env EMBED_SECRET); empty: a new one each start")
	flag.StringVar(&o.moderatorToken, "moderator-token", os.Getenv("EMBED_MODERATOR_TOKEN"), "bearer token of the comment moderator (env EMBED_MODERATOR_TOKEN); empty: no moderator")
	flag.Parse()
	log := slog.Default()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("embed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	site := "http://" + o.addr
	secret := []byte(o.secret)
	if len(secret) == 0 {
		// Links mailed before a restart then stop working.
		secret = []byte(rand.Text() + rand.Text())
		log.Warn("no -secret: links and form stamps stop working at the next start")
	} else if len(secret) < 32 {
		return errors.New("-secret must be at least 32 characters (openssl rand -hex 32 makes one)")
	}
	// One key per use, each derived from the secret, so no key serves two purposes.
	key := func(use string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, "consentkit/examples/embed "+use, 32)
		if err != nil {
			panic(err) // only for a length out of range
		}
		return k
	}

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
	var transport privacy.Transport = logTransport{log}
	if o.relay != "" {
		cfg, err := smtp.ParseURL(o.relay)
		if err != nil {
			return err
		}
		if transport, err = smtp.New(cfg); err != nil {
			return err
		}
	} else if host, _, _ := net.SplitHostPort(o.addr); !net.ParseIP(host).IsLoopback() {
		return errors.New("-smtp is required outside 127.0.0.1: mail printed in the log holds people's addresses and links")
	}
	go (&privacy.Dispatcher{Store: store, Transport: transport, Mailer: mailer, Log: log}).Run(ctx)

	// Comments, and the registry that lets a person export or erase them.
	cs, err := comments.New(comments.Config{Store: commentsmem.New(), Mailer: mailer, Auditor: auditor, Key: key("comments"), BaseURL: site + "/comments"})
	if err != nil {
		return err
	}
	// The comment form is the host's: restyled and in French (comments-fr.html
	// overrides comments.DefaultTemplates' form; every other page keeps them).
	ch, err := comments.NewHandler(cs, comments.HandlerConfig{Signer: &web.Signer{Key: key("form stamps")},
		Templates: commentsFrench, Layout: layout})
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
	registry.Register(&privacy.KernelHolder{Store: store, Key: key("pseudonyms")})
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
	// Data is purged when its retention ends, as the policy page says.
	go (&privacy.Retention{Registry: registry, Locker: &privacy.LocalLocker{}, Log: log}).Run(ctx)

	// Count page views, never people; and make sure no response sets a cookie.
	tracker, err := tracking.NewTracker(tracking.TrackerConfig{Store: counts, MuxPatterns: true})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: web.NoCookies(moderator(o.moderatorToken, tracker.Handler(mux)), web.NoCookiesOptions{Log: log}),
		ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", o.addr)
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

// moderator makes a request bearing token the comment moderator's (P11: the
// moderation queue shows addresses, and every look is recorded).
func moderator(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			r = r.WithContext(privacy.WithActor(r.Context(), privacy.Actor{ID: "moderator", Roles: []privacy.Role{privacy.RoleModerator}}))
		}
		next.ServeHTTP(w, r)
	})
}

// logTransport prints each message in the log instead of sending it: for a
// development run on 127.0.0.1 only.
type logTransport struct{ log *slog.Logger }

func (t logTransport) Dial(context.Context) (privacy.Conn, error) { return t, nil }
func (t logTransport) Close() error                               { return nil }
func (t logTransport) Send(ctx context.Context, m *privacy.Message) error {
	t.log.InfoContext(ctx, "mail (not sent: no -smtp)", "to", m.To.Email, "subject", m.Subject, "text", m.Text)
	return nil
}
