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
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
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
// purpose no holder registered in r declares (so the policy page does not state it).
func CheckMail(p *privacy.Policy, r *privacy.Registry, msgs []privacy.Message) error {
	declared := map[privacy.Purpose]bool{}
	for _, pu := range r.Purposes() {
		declared[pu.Purpose] = true
	}
	var errs []error
	for i, m := range msgs {
		where := fmt.Sprintf("message %d (%q, purpose %s)", i, m.Subject, m.Purpose)
		if !declared[m.Purpose] {
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
// fails to describe the holders registered in r: a section, purpose, category or
// retention period of theirs missing, a section no registered holder writes, or no
// statement that no cookies are set.
func CheckPolicyPage(page string, p *privacy.Policy, r *privacy.Registry) error {
	var errs []error
	text := plain(page)
	has := func(s string) bool { return strings.Contains(text, plain(s)) }
	need := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	need(has("sets no cookies"), "the page does not say that the site sets no cookies")
	need(has(p.Contact), "the page does not give the contact address %s", p.Contact)
	need(has(p.Version), "the page does not name policy version %s", p.Version)
	headings := map[string]bool{}
	for _, h := range kernelHeadings {
		headings[h] = true
	}
	written := map[string]bool{}
	for _, c := range r.Contracts() {
		for _, s := range c.Sections {
			headings[s.Heading] = true
			written[s.Heading] = true
			need(has(s.Text), "holder %s: its text under %q is not on the page", c.Name, s.Heading)
		}
		for _, pu := range c.Purposes {
			need(has(pu.Description), "holder %s: purpose %s is not described", c.Name, pu.Purpose)
		}
		for _, cat := range c.Categories {
			need(has("| "+cat.Description+" | "+cat.KeptFor()+" |") || has(cat.Description+" "+cat.KeptFor()),
				"holder %s: category %q is not listed as kept %s", c.Name, cat.Name, cat.KeptFor())
		}
	}
	for _, m := range headingRE.FindAllStringSubmatch(page, -1) {
		h := strings.TrimSpace(plain(m[1] + m[2]))
		need(headings[h], "the page has a section %q that no registered holder writes", h)
	}
	for heading, off := range kernelStatements {
		if written[heading] {
			need(!has(off), "a holder writes under %q, yet the page says %q", heading, off)
		} else {
			need(has(off), "no holder writes under %q, and the page does not say %q", heading, off)
		}
	}
	return errors.Join(errs...)
}

// kernelHeadings are the policy page's own sections.
var kernelHeadings = []string{"Privacy policy", "Reading is free of personal data", privacy.SectionCollected,
	"How we use your email address", "We never share your data", "Cookies", privacy.SectionVisits,
	"How long we keep data", "Your rights", privacy.SectionChildren, "When we disclose data", "Security",
	"Changes to this policy", "Contact"}

// kernelStatements are what the page says under a heading no holder writes under.
var kernelStatements = map[string]string{
	privacy.SectionCollected: "This site has no forms that collect personal data.",
	privacy.SectionVisits:    "We do not count or record visits to this site.",
}

var (
	headingRE = regexp.MustCompile(`(?m)^#{1,2} (.+)$|<h[12][^>]*>(.*?)</h[12]>`)
	tagRE     = regexp.MustCompile(`<[^>]*>`)
	markRE    = regexp.MustCompile("[*_`\\\\]")
)

// plain reduces Markdown or HTML to its words, so that a holder's Markdown can be
// found in the page rendered either way.
func plain(s string) string {
	s = html.UnescapeString(tagRE.ReplaceAllString(s, ""))
	s = markRE.ReplaceAllString(s, "")
	return strings.Join(strings.Fields(s), " ")
}
