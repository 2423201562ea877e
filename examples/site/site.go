package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/accounts"
	accountsmem "github.com/consentkit/consentkit/accounts/memstore"
	accountssql "github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	commentssql "github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	contactsql "github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/newsletter"
	newslettermem "github.com/consentkit/consentkit/newsletter/memstore"
	newslettersql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/bounce"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/smtp"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
	trackingmem "github.com/consentkit/consentkit/tracking/memstore"
	trackingsql "github.com/consentkit/consentkit/tracking/mysqlstore"
)

// Site is the reference host: every capability wired into one server.
type Site struct {
	cfg    config
	log    *slog.Logger
	policy *privacy.Policy
	db     *sqlx.DB           // nil with in-memory stores
	locker *privacysql.Locker // nil with in-memory stores

	store      privacy.Store
	mailer     *privacy.Mailer
	dispatcher *privacy.Dispatcher
	registry   *privacy.Registry
	retention  *privacy.Retention
	mailbox    *mailtest.Server // the dev mailbox; nil with a real relay
	bounces    *bounce.Receiver // nil without -bounce-domain

	accounts   *accounts.Service
	contact    *contact.Service
	comments   *comments.Service
	commentsH  *comments.Handler
	posts      []post // rendered at start-up, newest first
	newsletter *newsletter.Service
	stats      *tracking.Service
	tracker    *tracking.Tracker // nil when tracking is off

	handler http.Handler
}

// mysqlMigrator is what every MySQL store offers.
type mysqlMigrator interface{ Migrate(context.Context) error }

// newSite builds the site: stores, mailer, capabilities and the handler. It starts
// nothing; Run does.
func newSite(ctx context.Context, cfg config, log *slog.Logger) (*Site, error) {
	policy, supportInbox, err := loadPolicy(cfg.Policy, cfg.SiteURL)
	if err != nil {
		return nil, err
	}
	s := &Site{cfg: cfg, log: log, policy: policy}
	secret := []byte(cfg.Secret)
	if len(secret) == 0 {
		// Only an in-memory site serves this way (checkServe): its links die with it
		// anyway. The commands sign nothing that outlives them.
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	key := func(use string) []byte {
		h := sha256.Sum256(append([]byte(use+"\x00"), secret...))
		return h[:]
	}

	var (
		as  accounts.Store
		cs  contact.Store
		cms comments.Store
		ns  newsletter.Store
		ts  tracking.Store
	)
	if cfg.MySQL != "" {
		if s.db, err = privacysql.Open(ctx, cfg.MySQL); err != nil {
			return nil, fmt.Errorf("-mysql %s: %w", redactDSN(cfg.MySQL), err)
		}
		if cfg.MySQLMaxConns > 0 { // zero in a config made in code: Open's default
			privacysql.SetMaxConns(s.db, cfg.MySQLMaxConns)
		}
		ps := privacysql.New(s.db)
		a, c, cm, n, t := accountssql.New(s.db), contactsql.New(s.db), commentssql.New(s.db), newslettersql.New(s.db), trackingsql.New(s.db)
		for _, m := range []mysqlMigrator{ps, a, c, cm, n, t} {
			if err := m.Migrate(ctx); err != nil {
				s.db.Close()
				return nil, err
			}
		}
		s.store, as, cs, cms, ns, ts = ps, a, c, cm, n, t
	} else {
		s.store, as, cs, cms, ns, ts = privacymem.New(), accountsmem.New(), contactmem.New(), commentsmem.New(), newslettermem.New(), trackingmem.New()
	}

	s.mailer = privacy.NewMailer(s.policy, s.store, log)
	s.mailer.SetLimits(privacy.MailLimits{Key: key("mail-limit")})
	s.registry = &privacy.Registry{Mailer: s.mailer}
	auditor := &privacy.Auditor{Log: s.store}
	consents := &privacy.Consents{Store: s.store, Policy: s.policy}

	if s.accounts, err = accounts.New(accounts.Config{Store: as, Mailer: s.mailer, Consents: consents, Registry: s.registry,
		Auditor: auditor, Log: log, BaseURL: cfg.SiteURL + "/accounts", FactorKey: key("second-factors"), Now: cfg.now}); err != nil {
		return nil, err
	}
	if s.contact, err = contact.New(contact.Config{Store: cs, Mailer: s.mailer, Auditor: auditor, Log: log,
		SupportInbox: supportInbox, StaffURL: cfg.SiteURL + "/contact"}); err != nil {
		return nil, err
	}
	if s.comments, err = comments.New(comments.Config{Store: cms, Mailer: s.mailer, Auditor: auditor, Log: log, Key: key("comments"),
		BaseURL: cfg.SiteURL + "/comments", ThreadURL: func(thread string) string { return cfg.SiteURL + "/blog/" + thread },
		Threads: func(_ context.Context, thread string) bool { _, ok := s.post(thread); return ok }}); err != nil {
		return nil, err
	}
	if s.newsletter, err = newsletter.New(newsletter.Config{Store: ns, Mailer: s.mailer, Outbox: s.store, Consents: consents, Auditor: auditor, Log: log,
		Secret: key("newsletter"), BaseURL: cfg.SiteURL + "/newsletter"}); err != nil {
		return nil, err
	}
	if s.stats, err = tracking.New(tracking.Config{Store: ts, Logger: log}); err != nil {
		return nil, err
	}
	rights := &privacy.Rights{Store: s.store, Registry: s.registry, Mailer: s.mailer, BaseURL: cfg.SiteURL + "/privacy/confirm"}

	// The policy page describes the holders in this order.
	s.registry.Register(s.accounts.Holder())
	s.registry.Register(s.contact)
	s.registry.Register(s.comments)
	s.registry.Register(s.newsletter)
	if cfg.Tracking {
		s.registry.Register(s.stats)
	}
	s.registry.Register(&privacy.KernelHolder{Store: s.store, Key: key("pseudonym")})
	s.registry.Register(rights)
	if err := s.registry.Check(); err != nil {
		return nil, err
	}
	if err := s.policy.Validate(); err != nil {
		return nil, err
	}

	var locker privacy.Locker = &privacy.LocalLocker{}
	if s.db != nil {
		s.locker = privacysql.NewLocker(s.db)
		locker = s.locker
	}
	s.retention = &privacy.Retention{Registry: s.registry, Locker: locker, Log: log}

	if err := s.setupMail(ctx, key("verp")); err != nil {
		return nil, err
	}
	if cfg.Tracking {
		if s.tracker, err = tracking.NewTracker(tracking.TrackerConfig{Store: ts, Logger: log, MuxPatterns: true, Now: cfg.visitNow,
			// Posts are public and few: each counts under its own path.
			ByPath: []string{"/blog/{slug}"}}); err != nil {
			return nil, err
		}
	}
	privacyWeb, err := web.New(web.Config{Policy: s.policy, Registry: s.registry, Rights: rights,
		Disclosures: &privacy.Disclosures{Store: s.store, Registry: s.registry, Auditor: auditor}, Store: s.store, Auditor: auditor,
		Layout: s.layout, Log: log})
	if err != nil {
		return nil, err
	}
	s.handler, err = s.routes(key("forms"), privacyWeb)
	return s, err
}

// setupMail picks the relay (a real one, or the dev mailbox), the dispatcher and
// the bounce receiver, whose return paths are signed with verpKey.
func (s *Site) setupMail(ctx context.Context, verpKey []byte) error {
	var scfg smtp.Config
	if s.cfg.SMTP != "" {
		c, err := smtp.ParseURL(s.cfg.SMTP)
		if err != nil { // its text quotes the URL, password and all
			return fmt.Errorf("-smtp %s: want smtp://[user:pass@]host[:port][?tls=mandatory|opportunistic|none]", redactURL(s.cfg.SMTP))
		}
		scfg = c
	} else if s.cfg.devMailbox() {
		mb, err := mailtest.Start()
		if err != nil {
			return fmt.Errorf("dev mailbox: %w", err)
		}
		s.mailbox = mb
		port, _ := strconv.Atoi(mb.Port())
		scfg = smtp.Config{Host: mb.Host(), Port: port, TLS: "none"}
	}
	if s.cfg.DKIMKey != "" {
		key, err := smtp.LoadDKIMKey(s.cfg.DKIMKey)
		if err != nil {
			return fmt.Errorf("-dkim-key: %w", err)
		}
		_, domain, _ := strings.Cut(s.policy.SenderAddress(), "@")
		scfg.DKIM = &smtp.DKIM{Domain: domain, Selector: s.cfg.DKIMSelector, Key: key}
	}
	if s.cfg.BounceDomain != "" {
		v := bounce.VERP{Domain: s.cfg.BounceDomain, Key: verpKey}
		scfg.ReturnPath = v.ReturnPath
		s.bounces = &bounce.Receiver{VERP: v, Store: s.store, Log: s.log}
	}
	var tr privacy.Transport = noRelay{}
	if scfg.Host != "" {
		smtpTr, err := smtp.New(scfg)
		if err != nil {
			return err
		}
		tr = smtpTr
	}
	if s.cfg.wrapTransport != nil {
		tr = s.cfg.wrapTransport(tr)
	}
	poll := 250 * time.Millisecond
	if s.mailbox != nil {
		poll = 50 * time.Millisecond
	}
	s.dispatcher = &privacy.Dispatcher{Store: s.store, Transport: tr, Mailer: s.mailer, Log: s.log, Poll: poll, Workers: mailWorkers}
	return nil
}

// mailWorkers is how many connections the site holds to its relay.
const mailWorkers = 4

// noRelay is the transport of commands run without -smtp on a site with no dev
// mailbox: they only enqueue mail, and serve refuses to start that way.
type noRelay struct{}

func (noRelay) Dial(context.Context) (privacy.Conn, error) {
	return nil, errors.New("no mail relay: pass -smtp")
}

// Run serves on ln's address until ctx is done, then shuts down cleanly: requests
// finish, tracking is flushed, outbox workers stop without losing mail.
func (s *Site) Run(ctx context.Context, srv *http.Server, serve func() error) error {
	if err := s.cfg.checkServe(); err != nil {
		s.Close()
		return err
	}
	runs := []func(context.Context) error{
		s.dispatcher.Run,
		s.accounts.Run,
		s.newsletter.Run,
		func(ctx context.Context) error { s.retention.Run(ctx); return nil },
	}
	if s.bounces != nil {
		ln, err := net.Listen("tcp", s.cfg.BounceAddr)
		if err != nil {
			s.Close()
			return fmt.Errorf("-bounce-addr: %w", err)
		}
		runs = append(runs, func(ctx context.Context) error { return s.bounces.Serve(ctx, ln) })
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Go(func() {
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background task", "err", err)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
	}
	if s.tracker != nil {
		if ferr := s.tracker.Close(shutdown); ferr != nil {
			s.log.Error("tracking flush", "err", ferr)
		}
	}
	stop()
	wg.Wait()
	s.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the database and the dev mailbox.
func (s *Site) Close() {
	if s.mailbox != nil {
		s.mailbox.Close()
	}
	if s.locker != nil {
		s.locker.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// signer returns the form stamp signer shared by the forms.
func (s *Site) signer(key []byte) *web.Signer {
	return &web.Signer{Key: key, MinAge: s.cfg.FormMinAge}
}
