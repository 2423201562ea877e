package main

import (
	"cmp"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// mask is printed in place of a password or a secret.
const mask = "xxxxx"

// redactURL returns the relay URL s with its password masked, also when s does not
// parse: the error that says so prints it.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && (u.User != nil || !strings.Contains(s, "@")) {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	} else {
		scheme += "://"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + user + ":" + mask + rest[at:]
}

// redactDSN returns the MySQL DSN s with its password masked, also when s does not
// parse.
func redactDSN(s string) string {
	if cfg, err := mysql.ParseDSN(s); err == nil {
		if cfg.Passwd != "" {
			cfg.Passwd = mask
		}
		return cfg.FormatDSN()
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	user, _, _ := strings.Cut(s[:at], ":")
	return user + ":" + mask + s[at:]
}

// secrets returns every value in c that no output may show: -secret and the
// passwords in -smtp and -mysql, raw and decoded.
func (c config) secrets() []string {
	list := []string{c.Secret}
	userinfo := func(s string) string { // what precedes the last @: user:pass
		if at := strings.LastIndex(s, "@"); at >= 0 {
			return s[:at]
		}
		return ""
	}
	if c.SMTP != "" {
		rest := c.SMTP
		if _, after, ok := strings.Cut(rest, "://"); ok {
			rest = after
		}
		_, pass, _ := strings.Cut(userinfo(rest), ":")
		list = append(list, pass)
		if u, err := url.Parse(c.SMTP); err == nil {
			p, _ := u.User.Password()
			list = append(list, p)
		}
	}
	if c.MySQL != "" {
		_, pass, _ := strings.Cut(userinfo(c.MySQL), ":")
		list = append(list, pass)
		if cfg, err := mysql.ParseDSN(c.MySQL); err == nil {
			list = append(list, cfg.Passwd)
		}
	}
	list = slices.DeleteFunc(list, func(s string) bool { return s == "" })
	// The longest first, so that a password holding another is masked whole.
	slices.SortFunc(list, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return slices.Compact(list)
}

// redactor masks c's secrets in any text.
func (c config) redactor() *strings.Replacer {
	var pairs []string
	for _, s := range c.secrets() {
		pairs = append(pairs, s, mask)
	}
	return strings.NewReplacer(pairs...)
}

// redactingWriter masks secrets in everything written through it: the last line of
// defence for a library error that quotes its input.
type redactingWriter struct {
	w io.Writer
	r *strings.Replacer
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Replace(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactedError is an error with secrets masked in its text. It does not unwrap:
// the error it replaces holds the text it hides.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// sensitiveKeys are the words that make a log attribute's value a credential,
// masked whatever it holds.
var sensitiveKeys = []string{"password", "passwd", "secret", "token", "dsn", "authorization", "apikey"}

// newLogger returns the site's logger on w. Attributes whose key names a
// credential are masked.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			key := strings.ToLower(a.Key)
			for _, word := range sensitiveKeys {
				if strings.Contains(key, word) {
					return slog.String(a.Key, mask)
				}
			}
			return a
		}}))
}
