package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mysqlstore"
)

// config is what the site is started with: flags, each with an environment variable.
type config struct {
	Addr     string
	MySQL    string // DSN; empty: in-memory stores
	SMTP     string // relay URL; empty: the built-in dev mailbox
	Policy   string // JSON file with the operator's details; empty: the example operator
	Secret   string // keys for form stamps and pseudonyms; shared by every process of a site
	SiteURL  string // absolute URL of the site, for links in mail; default http://Addr
	Tracking bool
	Quiet    bool
	MaxConns int // connections held at once; lowered to what the open-file limit allows
	// MySQLMaxConns bounds the database connections the process opens; a request
	// that waits longer than mysqlstore.MaxWait for one is answered 503.
	MySQLMaxConns int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client; empty: the connection's address is the client's.
	TrustedProxies []netip.Prefix

	DKIMKey      string // PEM private key file; with DKIMSelector, every message is signed
	DKIMSelector string

	BounceAddr   string // where the bounce receiver listens; with BounceDomain, mail carries VERP return paths
	BounceDomain string

	// FormMinAge is how soon after a form is served it may be sent (default 3s);
	// tests shorten it.
	FormMinAge time.Duration
	// wrapTransport, when set, wraps the mail transport (tests record mail with it).
	wrapTransport func(privacy.Transport) privacy.Transport
	// now, when set, is the accounts' clock (tests move it past the step-up window).
	now func() time.Time
	// visitNow, when set, is the tracker's clock (tests count visits on past days).
	visitNow func() time.Time
}

// envVars names the environment variable of each flag that has one.
var envVars = map[string]string{
	"addr": "CONSENTKIT_ADDR", "mysql": "CONSENTKIT_MYSQL", "smtp": "CONSENTKIT_SMTP", "policy": "CONSENTKIT_POLICY",
	"secret": "CONSENTKIT_SECRET", "url": "CONSENTKIT_URL", "tracking": "CONSENTKIT_TRACKING", "max-conns": "CONSENTKIT_MAX_CONNS",
	"mysql-max-conns": "CONSENTKIT_MYSQL_MAX_CONNS", "trusted-proxy": "CONSENTKIT_TRUSTED_PROXY",
	"dkim-key": "CONSENTKIT_DKIM_KEY", "dkim-selector": "CONSENTKIT_DKIM_SELECTOR",
	"bounce-addr": "CONSENTKIT_BOUNCE_ADDR", "bounce-domain": "CONSENTKIT_BOUNCE_DOMAIN",
}

// minSecret is the shortest -secret accepted; `openssl rand -hex 32` makes one of 64.
const minSecret = 32

func parseConfig(args []string, output io.Writer) (config, []string, error) {
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	fs.SetOutput(output)
	var c config
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address (CONSENTKIT_ADDR)")
	fs.StringVar(&c.MySQL, "mysql", "", "MySQL DSN, e.g. root@tcp(127.0.0.1:3306)/site; empty keeps everything in memory (CONSENTKIT_MYSQL)")
	fs.StringVar(&c.SMTP, "smtp", "", "mail relay URL, e.g. smtp://user:pass@mail.example.com:587; required with -mysql or a non-loopback -addr; empty uses the built-in dev mailbox (CONSENTKIT_SMTP)")
	fs.StringVar(&c.Policy, "policy", "", "JSON file with the operator's details (CONSENTKIT_POLICY)")
	fs.StringVar(&c.Secret, "secret", "", "at least 32 characters (make one with: openssl rand -hex 32), the same for every process of the site; required to serve with -mysql; random when empty (CONSENTKIT_SECRET)")
	fs.StringVar(&c.SiteURL, "url", "", "the site's absolute URL for links in mail; default http://ADDR (CONSENTKIT_URL)")
	fs.BoolVar(&c.Tracking, "tracking", true, "tally aggregate page views (CONSENTKIT_TRACKING)")
	fs.IntVar(&c.MaxConns, "max-conns", 4096, "most client connections held at once, at most 80% of the open-file limit; near it, idle ones are closed (CONSENTKIT_MAX_CONNS)")
	fs.IntVar(&c.MySQLMaxConns, "mysql-max-conns", mysqlstore.DefaultMaxConns, "most MySQL connections the process opens; a request that waits over "+mysqlstore.MaxWait.String()+" for one is answered 503; keep the sum over every process below the server's max_connections (CONSENTKIT_MYSQL_MAX_CONNS)")
	fs.Func("trusted-proxy", "addresses or CIDR prefixes of the reverse proxies in front of the site, comma-separated, e.g. 127.0.0.1,10.0.0.0/8: "+
		"the client of a request they forward is the right-most untrusted address of X-Forwarded-For, for every per-client limit (CONSENTKIT_TRUSTED_PROXY)",
		func(v string) (err error) {
			c.TrustedProxies, err = parseProxies(v)
			return err
		})
	fs.StringVar(&c.DKIMKey, "dkim-key", "", "PEM private key (RSA of 2048 bits, or Ed25519) to DKIM-sign every message for the sender's domain; needs -dkim-selector (CONSENTKIT_DKIM_KEY)")
	fs.StringVar(&c.DKIMSelector, "dkim-selector", "", "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN (CONSENTKIT_DKIM_SELECTOR)")
	fs.StringVar(&c.BounceAddr, "bounce-addr", "", "listen address of the bounce receiver, an SMTP server for bounces and complaints, e.g. :25; needs -bounce-domain (CONSENTKIT_BOUNCE_ADDR)")
	fs.StringVar(&c.BounceDomain, "bounce-domain", "", "domain whose MX is the bounce receiver: mail is sent from bounce+TOKEN@DOMAIN, and a permanent failure or complaint sent there suppresses the address (CONSENTKIT_BOUNCE_DOMAIN)")
	fs.BoolVar(&c.Quiet, "quiet", false, "log only warnings and errors")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: site [flags] [command]

commands:
  serve                   run the site (default)
  migrate                 create or update the MySQL tables, then exit
  import-accounts FILE    import legacy accounts from a CSV file (email,scheme,hash,salt[,display_name])
  purge                   delete everything past its retention period, then exit
  export EMAIL            print everything held about EMAIL as JSON
  grant EMAIL ROLE        give an account a staff role (admin, support, moderator, editor)
  relay ADDR              a loopback SMTP server that prints the mail it is given (try a MySQL site locally)

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	// The environment is read after the flags rather than as their defaults, so
	// that -h never prints a password or the secret taken from it.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range envVars {
		if v, ok := os.LookupEnv(env); ok && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return c, nil, fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	if c.SiteURL == "" {
		c.SiteURL = "http://" + c.Addr
	}
	c.SiteURL = strings.TrimSuffix(c.SiteURL, "/")
	if c.Secret != "" && len(c.Secret) < minSecret {
		return c, nil, fmt.Errorf("-secret is %d characters, it needs at least %d: make one with `openssl rand -hex 32`", len(c.Secret), minSecret)
	}
	if c.MySQLMaxConns < 1 {
		return c, nil, fmt.Errorf("-mysql-max-conns %d: the site needs at least one database connection", c.MySQLMaxConns)
	}
	if (c.DKIMKey == "") != (c.DKIMSelector == "") {
		return c, nil, errors.New("-dkim-key and -dkim-selector go together: pass both to sign mail, or neither")
	}
	if (c.BounceAddr == "") != (c.BounceDomain == "") {
		return c, nil, errors.New("-bounce-addr and -bounce-domain go together: pass both to receive bounces, or neither")
	}
	if c.MaxConns < 1 {
		return c, nil, fmt.Errorf("-max-conns %d: the site needs at least one connection", c.MaxConns)
	}
	return c, fs.Args(), nil
}

// devMailbox reports whether mail goes to the built-in dev mailbox. Its page shows
// every message, reset links included, so only a throw-away site that only this
// machine can reach gets one.
func (c config) devMailbox() bool {
	return c.SMTP == "" && c.MySQL == "" && isLoopback(c.Addr)
}

// isLoopback reports whether addr (host:port) listens on this machine only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

// isLoopbackHost reports whether host names this machine only.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkServe reports why c cannot serve, or nil.
func (c config) checkServe() error {
	if c.MySQL != "" && c.Secret == "" {
		return errors.New("serving on -mysql needs -secret (or CONSENTKIT_SECRET): unsubscribe links, form stamps and pseudonyms are signed with it, " +
			"and a random one made at start-up would break every link mailed before a restart. Make one with `openssl rand -hex 32`, " +
			"keep it, and give every process of the site the same")
	}
	if c.SMTP == "" && !c.devMailbox() {
		if c.MySQL != "" {
			return errors.New("serving on -mysql needs a mail relay: pass -smtp smtp://user:pass@host:587 (the dev mailbox is for in-memory sites on 127.0.0.1 only)")
		}
		return fmt.Errorf("-addr %s is not a loopback address: pass -smtp smtp://user:pass@host:587, or listen on 127.0.0.1 to use the dev mailbox", c.Addr)
	}
	return c.checkURL()
}

// checkURL reports why the links the site mails (confirmation, unsubscribe, data
// requests) would not be safe at c.SiteURL. They carry the tokens that act for the
// person, so only a development run that no other machine can reach gets plain
// http; RFC 8058 section 3.1 also requires https for one-click unsubscribe.
func (c config) checkURL() error {
	u, err := url.Parse(c.SiteURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url %q: want the site's absolute URL, such as https://www.example.com", c.SiteURL)
	}
	if u.Scheme == "https" || (isLoopbackHost(u.Hostname()) && isLoopback(c.Addr)) {
		return nil
	}
	return fmt.Errorf("-url %s: links in mail (confirmation, unsubscribe, data requests) must be https on a site other machines can reach "+
		"(RFC 8058 section 3.1 requires it for one-click unsubscribe). Serve TLS from a proxy in front of the site and pass -url https://your.domain, "+
		"or, for development, listen on 127.0.0.1 with the default -url", c.SiteURL)
}

// policyFile is the operator's part of the policy, as JSON.
type policyFile struct {
	Operator        string   `json:"operator"`
	Contact         string   `json:"contact"`
	Sender          string   `json:"sender"`
	SupportInbox    string   `json:"support_inbox"`
	OperatorDomains []string `json:"operator_domains"`
	Version         string   `json:"version"`
	Effective       string   `json:"effective"`
	History         []struct {
		Version   string `json:"version"`
		Effective string `json:"effective"`
		Summary   string `json:"summary"`
	} `json:"history"`
}

const examplePolicy = `{
  "operator": "Example Studio",
  "contact": "privacy@example.com",
  "sender": "hello@example.com",
  "support_inbox": "support@example.com",
  "operator_domains": ["example.com"],
  "version": "2026-11-01",
  "effective": "2026-11-01",
  "history": [
    {"version": "2026-03-01", "effective": "2026-03-01", "summary": "First version of this policy."},
    {"version": "2026-11-01", "effective": "2026-11-01", "summary": "Added the promotions list, separate from the newsletter, and data requests by email."}
  ]
}`

// loadPolicy reads the operator's details and builds the policy; supportInbox is
// where contact requests are sent.
func loadPolicy(path, siteURL string) (p *privacy.Policy, supportInbox string, err error) {
	data := []byte(examplePolicy)
	if path != "" {
		if data, err = os.ReadFile(path); err != nil {
			return nil, "", err
		}
	}
	var f policyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, "", fmt.Errorf("policy %s: %w", path, err)
	}
	date := func(s string) (time.Time, error) { return time.Parse("2006-01-02", s) }
	eff, err := date(f.Effective)
	if err != nil {
		return nil, "", fmt.Errorf("policy: effective: %w", err)
	}
	p = &privacy.Policy{Operator: f.Operator, Contact: f.Contact, Sender: f.Sender, OperatorDomains: f.OperatorDomains,
		SiteURL: siteURL, Version: f.Version, Effective: eff}
	for _, h := range f.History {
		t, err := date(h.Effective)
		if err != nil {
			return nil, "", fmt.Errorf("policy: history %s: %w", h.Version, err)
		}
		p.History = append(p.History, privacy.Change{Version: h.Version, Effective: t, Summary: h.Summary})
	}
	if f.SupportInbox == "" {
		f.SupportInbox = f.Contact
	}
	return p, f.SupportInbox, nil
}
