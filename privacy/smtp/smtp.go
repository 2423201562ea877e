// Package smtp delivers the privacy outbox over SMTP with github.com/wneessen/go-mail.
// Each dispatcher worker holds one persistent connection. Replies 4xx are temporary
// (retried), 5xx permanent (the address is suppressed).
//
// Every header value reaching go-mail has passed privacy.Mailer's checks (no CR, LF or
// NUL, bounded length); this package never uses go-mail's Preformatted setters.
package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/consentkit/consentkit/privacy"
)

// Config says how to reach the relay.
type Config struct {
	Host     string
	Port     int    // default 587, or 25 when TLS is "none"
	Username string // SMTP AUTH when set
	Password string
	// TLS is "mandatory" (STARTTLS required, the default), "opportunistic", "none",
	// or "implicit" (TLS from the first byte, usually port 465).
	TLS     string
	Timeout time.Duration // per command; default 15s
	HELO    string        // default "localhost"
	DKIM    *DKIM         // signs every message when set
	// ReturnPath, when set, gives the envelope sender of the outbox message with
	// the given id (a VERP address, see privacy/bounce), so that its bounce names
	// the message. Mail without an id is sent from its From address.
	ReturnPath func(id int64) string
}

// ParseURL reads a relay URL such as smtp://user:pass@mail.example.com:587?tls=mandatory.
// Its errors never hold the password: they show the URL redacted, or not at all
// when it does not parse.
func ParseURL(s string) (Config, error) {
	const want = "want smtp://[user:pass@]host[:port][?tls=mandatory|opportunistic|none]"
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, errors.New("smtp url: not a URL; " + want)
	}
	if u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return Config{}, fmt.Errorf("smtp url %q: %s", u.Redacted(), want)
	}
	cfg := Config{Host: u.Hostname(), TLS: u.Query().Get("tls")}
	if u.Scheme == "smtps" {
		cfg.TLS = "implicit"
	}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil {
			return Config{}, fmt.Errorf("smtp url: port %q", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	return cfg, nil
}

// Transport implements privacy.Transport.
type Transport struct {
	client     *mail.Client
	timeout    time.Duration
	dkim       *DKIM
	returnPath func(int64) string
}

var _ privacy.Transport = (*Transport)(nil)

// New returns a transport for cfg. It does not connect. It returns an error for a
// DKIM configuration that cannot sign.
func New(cfg Config) (*Transport, error) {
	if cfg.DKIM != nil {
		if err := cfg.DKIM.check(); err != nil {
			return nil, err
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
	}
	// A finished transaction needs no RSET before the next MAIL (RFC 5321 §4.1.1.5):
	// skipping it saves a round trip per message on a persistent connection.
	opts := []mail.Option{mail.WithTimeout(cfg.Timeout), mail.WithHELO(cfg.HELO), mail.WithoutRset()}
	switch cfg.TLS {
	case "", "mandatory":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "implicit":
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", cfg.TLS)
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case "none":
			cfg.Port = 25
		case "implicit":
			cfg.Port = 465
		default:
			cfg.Port = 587
		}
	}
	opts = append(opts, mail.WithPort(cfg.Port))
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &Transport{client: c, timeout: cfg.Timeout, dkim: cfg.DKIM, returnPath: cfg.ReturnPath}, nil
}

// Dial opens one connection to the relay. A failure is temporary.
func (t *Transport) Dial(ctx context.Context) (privacy.Conn, error) {
	c, err := t.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, &privacy.DeliveryError{Err: fmt.Errorf("smtp dial: %w", err)}
	}
	return &conn{t: t, c: c}, nil
}

type conn struct {
	t *Transport
	c *gosmtp.Client
}

// Send delivers msg, which must have passed privacy.Mailer's checks. It returns a
// *privacy.BuildError when msg cannot be built or signed, and a
// *privacy.DeliveryError, Permanent for a 5xx reply, when the relay does not take
// it; neither names the address.
func (c *conn) Send(ctx context.Context, msg *privacy.Message) error {
	raw, err := c.t.Render(msg)
	if err != nil {
		return &privacy.BuildError{Err: err}
	}
	from := msg.From.Email
	if c.t.returnPath != nil && msg.ID != 0 {
		from = c.t.returnPath(msg.ID)
	}
	if strings.ContainsAny(from+msg.To.Email, "\r\n<>") {
		return &privacy.BuildError{Err: errors.New("smtp: an envelope address holds a line break or an angle bracket")}
	}
	// The deadline set at dial would otherwise end a connection kept for longer.
	if err := c.c.UpdateDeadline(c.t.timeout); err != nil {
		return &privacy.DeliveryError{Err: fmt.Errorf("smtp: %w", err)}
	}
	if err := c.transact(from, msg.To.Email, raw); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			// The relay answered, so the connection still works: end the failed
			// transaction for the next message on it.
			if rerr := c.c.Reset(); rerr != nil {
				return &privacy.DeliveryError{Err: fmt.Errorf("smtp: %d %s, then RSET: %w", te.Code, te.Msg, rerr)}
			}
			// The reply text may quote the address; the outbox logs and stores this
			// error, so it keeps only the code.
			return &privacy.DeliveryError{Permanent: te.Code >= 500, Err: fmt.Errorf("smtp: reply %d", te.Code)}
		}
		return &privacy.DeliveryError{Err: fmt.Errorf("smtp: %w", err)}
	}
	return nil
}

// transact sends one message. When the relay offers PIPELINING (RFC 2920), MAIL,
// RCPT and DATA go in one write and their replies are read together: two round
// trips per message instead of four.
func (c *conn) transact(from, to string, raw []byte) error {
	if ok, _ := c.c.Extension("PIPELINING"); !ok {
		if err := c.c.Mail("<" + from + ">"); err != nil {
			return err
		}
		if err := c.c.Rcpt("<" + to + ">"); err != nil {
			return err
		}
		w, err := c.c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
		return w.Close()
	}
	t := c.c.Text
	body := ""
	if ok, _ := c.c.Extension("8BITMIME"); ok {
		body = " BODY=8BITMIME"
	}
	fmt.Fprintf(t.W, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n", from, body, to)
	if err := t.W.Flush(); err != nil {
		return err
	}
	var refused error
	for _, want := range []int{250, 25, 354} {
		_, _, err := t.ReadResponse(want)
		var te *textproto.Error
		switch {
		case err != nil && !errors.As(err, &te):
			return err // the connection failed
		case err != nil && refused == nil:
			refused = err
		case err == nil && want == 354 && refused != nil:
			// A relay that takes DATA after refusing MAIL or RCPT gets an empty
			// message, which has no one to go to.
			if _, err := t.W.WriteString(".\r\n"); err != nil {
				return err
			}
			if err := t.W.Flush(); err != nil {
				return err
			}
			if _, _, err := t.ReadResponse(0); err != nil && !errors.As(err, &te) {
				return err
			}
		}
	}
	if refused != nil {
		return refused
	}
	w := t.DotWriter()
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, _, err := t.ReadResponse(250)
	return err
}

// Render returns msg as it goes on the wire: built, and signed when the transport
// has a DKIM key.
func (t *Transport) Render(msg *privacy.Message) ([]byte, error) {
	m, err := Build(msg)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	if t.dkim == nil {
		return b.Bytes(), nil
	}
	return t.dkim.sign(b.Bytes())
}

func (c *conn) Close() error { return c.t.client.CloseWithSMTPClient(c.c) }

// Build turns a checked message into a go-mail message: one recipient, no CC or BCC,
// plain text with an optional HTML alternative, and RFC 8058 unsubscribe headers.
// Display names are quoted or RFC 2047-encoded by net/mail, so a name holding a
// double quote, backslash, comma or non-ASCII letter builds and arrives intact.
func Build(msg *privacy.Message) (*mail.Msg, error) {
	m := mail.NewMsg()
	from, err := mailbox("from", msg.From)
	if err != nil {
		return nil, err
	}
	m.FromMailAddress(from)
	to, err := mailbox("to", msg.To)
	if err != nil {
		return nil, err
	}
	m.AddToMailAddress(to)
	if msg.ReplyTo.Email != "" {
		rt, err := mailbox("reply-to", msg.ReplyTo)
		if err != nil {
			return nil, err
		}
		m.ReplyToMailAddress(rt)
	}
	m.Subject(msg.Subject)
	m.SetMessageID()
	m.SetDate()
	if msg.Unsubscribe != "" {
		// The URL passed privacy.CheckURL: no CR, LF, space, comma or angle bracket.
		m.SetGenHeader(mail.HeaderListUnsubscribe, "<"+msg.Unsubscribe+">")
		m.SetGenHeader(mail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	if msg.Ref != "" {
		m.SetBulk()
	}
	m.SetBodyString(mail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	}
	return m, nil
}

// mailbox checks a.Email alone, so the display name, whatever it holds, can only be
// quoted, never parsed as part of the address.
func mailbox(field string, a privacy.Address) (*netmail.Address, error) {
	p, err := netmail.ParseAddress(a.Email)
	if err != nil || p.Name != "" || p.Address != a.Email {
		return nil, fmt.Errorf("%s: not a bare address", field)
	}
	return &netmail.Address{Name: a.Name, Address: p.Address}, nil
}
