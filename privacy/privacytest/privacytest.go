// Package privacytest checks a host application against the policy's rules from the
// host's own tests, and, like testing/fstest.TestFS, reports every broken promise at
// once rather than stopping at the first:
//
//   - no response sets a cookie (P7);
//   - every message sent went to its data subject or an operator address, for a
//     purpose the policy declares (P8, P9);
//   - known personal values appear in none of the given tables (P6: tracking
//     tables hold no person; erasure leaves nothing behind);
//   - the policy page describes the configuration the site runs (P15).
package privacytest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/consentkit/consentkit/privacy"
)

// CheckNoCookies sends each request to h and reports every response that sets a
// cookie. Requests are served in order; bodies are read to the end.
func CheckNoCookies(h http.Handler, reqs ...*http.Request) error {
	var errs []error
	for _, r := range reqs {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if c := w.Result().Header.Values("Set-Cookie"); len(c) > 0 {
			errs = append(errs, fmt.Errorf("%s %s: response sets %d cookie(s): %s", r.Method, r.URL.Path, len(c), cookieNames(c)))
		}
	}
	return errors.Join(errs...)
}

// CheckNoCookiesHTTP does the same against a running server at base (e.g. an
// httptest.Server's URL), for paths fetched with GET.
func CheckNoCookiesHTTP(client *http.Client, base string, paths ...string) error {
	var errs []error
	for _, p := range paths {
		resp, err := client.Get(base + p)
		if err != nil {
			errs = append(errs, fmt.Errorf("GET %s: %w", p, err))
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
			errs = append(errs, fmt.Errorf("GET %s: response sets %d cookie(s): %s", p, len(c), cookieNames(c)))
		}
	}
	return errors.Join(errs...)
}

func cookieNames(c []string) string {
	names := make([]string, len(c))
	for i, v := range c {
		names[i], _, _ = strings.Cut(v, "=")
	}
	return strings.Join(names, ", ")
}

// Recorder is a privacy.Transport that records every message before handing it to
// the transport it wraps (nil: record only). Put it in a host's Dispatcher under
// test and pass Messages to CheckMail.
type Recorder struct {
	Next privacy.Transport

	mu   sync.Mutex
	msgs []privacy.Message
}

// Dial implements privacy.Transport.
func (r *Recorder) Dial(ctx context.Context) (privacy.Conn, error) {
	var next privacy.Conn
	if r.Next != nil {
		c, err := r.Next.Dial(ctx)
		if err != nil {
			return nil, err
		}
		next = c
	}
	return &recConn{r: r, next: next}, nil
}

// Messages returns every message sent so far.
func (r *Recorder) Messages() []privacy.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]privacy.Message(nil), r.msgs...)
}

type recConn struct {
	r    *Recorder
	next privacy.Conn
}

func (c *recConn) Send(ctx context.Context, m *privacy.Message) error {
	if c.next != nil {
		if err := c.next.Send(ctx, m); err != nil {
			return err
		}
	}
	c.r.mu.Lock()
	c.r.msgs = append(c.r.msgs, *m)
	c.r.mu.Unlock()
	return nil
}

func (c *recConn) Close() error {
	if c.next != nil {
		return c.next.Close()
	}
	return nil
}

// CheckMail reports every message that went to anyone but its data subject or an
// operator address, came from outside the operator's domains, or was sent for a
// purpose the policy does not declare.
func CheckMail(p *privacy.Policy, msgs []privacy.Message) error {
	var errs []error
	for i, m := range msgs {
		where := fmt.Sprintf("message %d (%q, purpose %s)", i, m.Subject, m.Purpose)
		if _, ok := p.Purposes[m.Purpose]; !ok || !m.Purpose.Valid() {
			errs = append(errs, fmt.Errorf("%s: purpose not declared in the policy", where))
		}
		if !p.IsOperatorAddress(m.From.Email) {
			errs = append(errs, fmt.Errorf("%s: sent from %s, outside the operator's domains", where, m.From.Email))
		}
		for _, a := range []privacy.Address{m.To, m.ReplyTo} {
			if a.Email == "" || p.IsOperatorAddress(a.Email) {
				continue
			}
			if m.DataSubject == "" || !strings.EqualFold(a.Email, m.DataSubject) {
				errs = append(errs, fmt.Errorf("%s: addressed to %s, who is neither the data subject nor the operator", where, a.Email))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckTables reports every row of the given tables (all tables of the current
// database when none are given) in which any of values appears, case-insensitively,
// in any column.
func CheckTables(ctx context.Context, db *sql.DB, values []string, tables ...string) error {
	if len(tables) == 0 {
		rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			tables = append(tables, t)
		}
		rows.Close()
	}
	needles := make([][]byte, len(values))
	for i, v := range values {
		needles[i] = bytes.ToLower([]byte(v))
	}
	var errs []error
	for _, t := range tables {
		if err := scanTable(ctx, db, t, needles, &errs); err != nil {
			errs = append(errs, fmt.Errorf("table %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

func scanTable(ctx context.Context, db *sql.DB, table string, needles [][]byte, errs *[]error) error {
	rows, err := db.QueryContext(ctx, "SELECT * FROM `"+strings.ReplaceAll(table, "`", "``")+"`")
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for n := 1; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			lv := bytes.ToLower(v)
			for _, needle := range needles {
				if len(needle) > 0 && bytes.Contains(lv, needle) {
					*errs = append(*errs, fmt.Errorf("table %s, row %d, column %s holds %q", table, n, cols[i], needle))
				}
			}
		}
	}
	return rows.Err()
}

// CheckPolicyPage reports every way the rendered policy page (HTML or Markdown)
// fails to describe the configuration: a feature that is on but not described, one
// that is off but described, a purpose or retention period missing, or no statement
// that no cookies are set.
func CheckPolicyPage(page string, p *privacy.Policy, f privacy.Features) error {
	var errs []error
	has := func(s string) bool { return strings.Contains(page, s) }
	need := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	need(has("sets no cookies"), "the page does not say that the site sets no cookies")
	need(has(p.Contact), "the page does not give the contact address %s", p.Contact)
	need(has(p.Version), "the page does not name policy version %s", p.Version)
	if f.Tracking != nil {
		for _, dim := range []string{"page", "network domain", "browser type", "MIME type"} {
			need(has(dim), "usage is tallied but the page does not name the %q breakdown", dim)
		}
		need(has(fmt.Sprintf("fewer than %d times", f.Tracking.MinCount)), "the page does not state the report threshold of %d", f.Tracking.MinCount)
	} else {
		need(!has("MIME type"), "usage is not tallied but the page describes a tally")
		need(has("do not count"), "usage is not tallied but the page does not say so")
	}
	for _, c := range []struct {
		on    bool
		title string
	}{{f.Accounts, "Your account"}, {f.Contact, "The contact form"}, {f.Comments, "Comments."}, {f.Newsletter, "Newsletter and promotions"}} {
		if c.on {
			need(has(c.title), "%q is on but not described", c.title)
		} else {
			need(!has(c.title), "%q is off but described", c.title)
		}
	}
	for _, c := range p.Categories {
		need(has(c.Description), "category %q is not listed", c.Name)
	}
	return errors.Join(errs...)
}
