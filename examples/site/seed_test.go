package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

// offsetClock is the real time moved by an offset: the tracker's clock, set back
// to count visits on past days.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) set(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

// seeded is what seedStaffData made that the staff pages link to.
type seeded struct {
	answered string // the ref of a contact request with a reply
	reader   string // an address with a consent history
}

// seedStaffData fills every staff page with what a small site gathers in a few
// weeks, each through the services or the HTTP API a person or the site would
// use: staff members, a reader's consents, comments waiting for moderation (one a
// reply), contact requests, a draft and a sent campaign, an export and an
// erasure, a disclosure and eight weeks of visits. The site must have been started
// with clk as its visitNow and with tracking on; admin is a signed-in admin's
// session token.
func seedStaffData(t *testing.T, s *Site, base, admin string, clk *offsetClock) seeded {
	t.Helper()
	ctx := context.Background()
	as := func(email, name string, roles ...privacy.Role) context.Context {
		t.Helper()
		in, err := s.accounts.SignIn(ctx, email, member(t, s, email, name, roles...))
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.accounts.Actor(ctx, in.Token)
		if err != nil {
			t.Fatal(err)
		}
		return privacy.WithActor(ctx, a)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	support := as("sam@example.org", "Sam Okafor", privacy.RoleSupport)
	moderator := as("mo@example.org", "Mo Lindqvist", privacy.RoleModerator)
	editor := as("eddie@example.org", "Eddie Brandt", privacy.RoleEditor, privacy.RoleSupport)

	// A reader registers with both opt-ins, then joins the newsletter's list by
	// its double opt-in, as two others do.
	const reader = "reader@example.org"
	_, err := s.accounts.Register(ctx, accounts.RegisterInput{Email: reader, Password: "correct horse battery staple",
		DisplayName: "Rosa Reader", BirthDate: "1991-06-12", Newsletter: true, Promotions: true})
	must(err)
	must(s.accounts.Verify(ctx, linkParam(t, s, reader, "/accounts/verify", "token"), "correct horse battery staple"))
	for _, who := range []string{reader, "ann@example.net", "ben@example.net"} {
		must(s.newsletter.Subscribe(ctx, who, []newsletter.List{"newsletter"}))
		_, err := s.newsletter.Confirm(ctx, linkParam(t, s, who, "/newsletter/confirm", "t"))
		must(err)
	}

	// Comments: one approved, then four waiting, on both posts, one a reply.
	const hello, counting = "2026-03-01-hello", "2026-11-01-counting"
	post := func(thread string, parent int64, name, email, body string) comments.Posted {
		t.Helper()
		p, err := s.comments.Post(ctx, comments.Input{Thread: thread, ParentID: parent, Name: name, Email: email, Body: body})
		must(err)
		return p
	}
	first := post(hello, 0, "Priya Natarajan", "priya@example.net", "Finally a site that **means it** about cookies. Is the source of the counter public?")
	must(s.comments.Approve(moderator, first.Comment.ID))
	post(hello, first.Comment.ID, "Tom Berger", "tom@example.net", "It is: see the `tracking` package. It counts per hour and *never* stores an address.")
	post(hello, 0, "Lena Vogel", "lena@example.net", "> This site sets no cookies.\n\nHow does signing in work, then? A [session in the tab](https://example.org/docs)?")
	post(counting, 0, "Marco Rossi", "marco@example.net", "Three things I liked:\n\n1. no banner\n2. the numbers are *rounded*\n3. the CSV export")
	post(counting, 0, "Chen Wei", "chen@example.net", "Could the report show the week **by day**?")

	// Contact: one request answered and still open, one new, one answered and closed.
	submit := func(name, email, subject, message string) contact.Request {
		t.Helper()
		r, err := s.contact.Submit(ctx, contact.Submission{Name: name, Email: email, Subject: subject, Message: message})
		must(err)
		return r
	}
	order := submit("Vera Visitor", "vera@example.org", "Where is my order?", "It has not arrived.\nOrder 1234, placed on Monday.")
	_, err = s.contact.Reply(support, order.Ref, "It left our warehouse this morning: you should have it by Friday.")
	must(err)
	submit("Jonas Weber", "jonas@example.net", "Please delete my account", "I no longer use the site. Can you remove everything you hold about me?")
	invoice := submit("", "accounts@example.com", "Invoice for March", "Could you send the invoice for March again?")
	_, err = s.contact.Reply(editor, invoice.Ref, "Here it is again, attached to this mail.")
	must(err)
	must(s.contact.Close(editor, invoice.Ref))

	// Campaigns: one sent to the list, one draft.
	sent, err := s.newsletter.CreateCampaign(editor, newsletter.Draft{List: "newsletter", Subject: "Issue 1: a site without cookies",
		Markdown: "Hello **readers**.\n\nThis month: how we count visits without counting you."})
	must(err)
	_, err = s.newsletter.Schedule(editor, sent.ID, time.Time{})
	must(err)
	_, err = s.newsletter.CreateCampaign(editor, newsletter.Draft{List: "newsletter", Subject: "Issue 2: what the numbers say",
		Markdown: "A draft: the *first* eight weeks of the usage report."})
	must(err)
	waitFor(t, "the first campaign is sent", func() bool {
		c, err := s.newsletter.Campaign(editor, sent.ID)
		must(err)
		return c.Status == newsletter.CampaignSent
	})

	// The reader asks for a copy of their data, confirms and downloads it; a
	// subscriber has theirs erased. An admin records a disclosure to a court.
	call(t, base, "", http.MethodPost, "/privacy/request", map[string]string{"email": reader, "kind": "export"}, http.StatusAccepted)
	var export struct{ Download string }
	must(json.Unmarshal(call(t, base, "", http.MethodPost, "/privacy/confirm", map[string]string{"t": linkParam(t, s, reader, "/privacy/confirm", "t")}, http.StatusOK), &export))
	call(t, base, "", http.MethodGet, export.Download, nil, http.StatusOK)
	call(t, base, "", http.MethodPost, "/privacy/request", map[string]string{"email": "ben@example.net", "kind": "erase"}, http.StatusAccepted)
	call(t, base, "", http.MethodPost, "/privacy/confirm", map[string]string{"t": linkParam(t, s, "ben@example.net", "/privacy/confirm", "t")}, http.StatusOK)
	call(t, base, admin, http.MethodPost, "/privacy/staff/disclosures", map[string]string{"subject": reader, "basis": "legal-process",
		"reference": "Order 2026/77", "requester": "County Court", "note": "Account details only"}, http.StatusCreated)

	visit(t, s, base, clk)
	return seeded{answered: order.Ref, reader: reader}
}

// Browsers' user agents, so that the usage report shows several.
var browsers = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
}

// visit has browsers read the site's pages on each of the last 56 days, more
// often in the last four weeks than in the four before, through the site's own
// tracker with its clock set back; it waits until every view is counted.
func visit(t *testing.T, s *Site, base string, clk *offsetClock) {
	t.Helper()
	pages := []struct {
		path string
		n    func(day int) int // views on the day that many days ago
	}{
		{"/", func(d int) int { return 4 + (56-d)/10 + d%3 }},
		{"/blog/2026-11-01-counting", func(d int) int { return 2 + (56-d)/8 + d%4 }},
		{"/blog/2026-03-01-hello", func(d int) int { return 2 + d%3 }},
		{"/blog", func(d int) int { return 1 + d%2 }},
		{"/newsletter/", func(d int) int { return d % 3 }},
		{"/contact/", func(d int) int { return (d + 1) % 2 }},
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	total := 0
	for day := 55; day >= 0; day-- {
		for i, p := range pages {
			for j := range p.n(day) {
				// Spread over the day's hours, never later than now.
				clk.set(-time.Duration(day)*24*time.Hour - time.Duration((i*5+j*3)%12)*time.Hour)
				req, _ := http.NewRequest(http.MethodGet, base+p.path, nil)
				req.Header.Set("User-Agent", browsers[(day+i+j)%len(browsers)])
				res, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %s", p.path, res.Status)
				}
				total++
			}
		}
	}
	clk.set(0)
	now := time.Now()
	q := tracking.Query{From: now.Add(-57 * 24 * time.Hour), To: now.Add(time.Hour)}
	waitFor(t, "the visits are counted", func() bool {
		if err := s.tracker.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := s.stats.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Views >= int64(total)
	})
}

// linkParam returns the query parameter param of the link to path in the mail
// sent to addr.
func linkParam(t *testing.T, s *Site, addr, path, param string) string {
	t.Helper()
	u, err := url.Parse(mailLink(t, s.mailbox, addr, "", path))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(param)
}

// call sends body, when not nil, as JSON to the site's API, with the session
// token when one is given, and returns the answer's body; it fails the test
// unless the answer has status want.
func call(t *testing.T, base, token, method, path string, body any, want int) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %s %s", method, path, res.Status, got)
	}
	return got
}

// waitFor waits up to 20 seconds for done.
func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
	}
}
