package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// eval returns the string expr evaluates to in the page.
func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitLoaded waits until the staff shell shows the page at path (and query).
func (b *browser) waitLoaded(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got, _ = chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("staff-view")?.dataset.loaded ?? ""`))
		if got == path {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the staff shell shows %q, want %q", got, path)
}

// axeScript is axe-core's axe.min.js, installed by .ci/run (CONSENTKIT_AXE).
var axeScript = sync.OnceValues(func() (string, error) {
	p := os.Getenv("CONSENTKIT_AXE")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache/consentkit/axe-core-4.14.1/node_modules/axe-core/axe.min.js")
	}
	b, err := os.ReadFile(p)
	return string(b), err
})

// axeOptions are the rules every axe-core check runs: WCAG 2.2 A and AA.
const axeOptions = `{runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}`

// axe checks the page as it is now against WCAG 2.2 A and AA with axe-core, and
// fails the test for each violation, named with page.
func (b *browser) axe(t *testing.T, page string) {
	t.Helper()
	if _, err := axeScript(); err != nil {
		if os.Getenv("CONSENTKIT_REQUIRE_BROWSER") == "1" {
			t.Fatalf("axe-core is required with the browser (.ci/run installs it): %v", err)
		}
		t.Logf("axe-core not installed, %s not checked: %v", page, err)
		return
	}
	out := b.axeRun(t, page)
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("axe-core on %s: %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// axeRun runs axe-core on the page as it is now and returns its violations as
// JSON.
func (b *browser) axeRun(t *testing.T, page string) string {
	t.Helper()
	script, err := axeScript()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](script+";true")); err != nil {
		t.Fatalf("inject axe-core into %s: %v", page, err)
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, `+axeOptions+`)
		.then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3)}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core on %s: %v", page, err)
	}
	return out
}

// member registers and verifies email through the site's services, grants it
// roles and returns its password.
func member(t *testing.T, s *Site, email, name string, roles ...privacy.Role) string {
	t.Helper()
	ctx := context.Background()
	const password = "correct horse battery staple"
	if _, err := s.accounts.Register(ctx, accounts.RegisterInput{Email: email, Password: password, DisplayName: name, BirthDate: "1980-01-01"}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(mailLink(t, s.mailbox, email, "", "/accounts/verify"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.accounts.Verify(ctx, u.Query().Get("token"), password); err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		if err := s.accounts.GrantRole(ctx, email, r); err != nil {
			t.Fatal(err)
		}
	}
	return password
}

// openStaff signs email in from the sign-in page and opens the staff section at
// path from the staff navigation, as a member of staff does.
func (b *browser) openStaff(t *testing.T, base, email, password, path string) {
	t.Helper()
	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, email, password)
	b.do(t, "member area", chromedp.WaitVisible(chromedp.CSS(`#me`)))
	b.do(t, "staff area", chromedp.Navigate(base+"/staff"), chromedp.WaitVisible(chromedp.CSS(`#staff-nav`)))
	b.do(t, "staff: "+path, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#staff-nav a[href=%q]`, path))))
	b.waitLoaded(t, path)
}

// signIn signs email in through the sign-in form, in this tab.
func (b *browser) signIn(t *testing.T, email, password string) {
	t.Helper()
	b.do(t, "sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Sleep(300*time.Millisecond), // the form stamp's minimum age
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)))
}

// TestStaffAnswersContact: the link in the support notification, opened in a tab
// that is not signed in, shows the shell's sign-in, then the request; the support
// member reads the message, replies (the mail goes to the visitor from the
// operator's address, Reply-To the support inbox), closes and reopens it, and a
// refresh stays on the request. A support member sees only the sections of the
// support role. Every state is checked with axe-core.
func TestStaffAnswersContact(t *testing.T) {
	s, _ := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	const staff, visitor = "help@example.org", "visitor@example.org"
	password := member(t, s, staff, "Helper", privacy.RoleSupport)
	req, err := s.contact.Submit(context.Background(), contact.Submission{Name: "Vera Visitor", Email: visitor,
		Subject: "Where is my order?", Message: "It has not arrived.\nOrder 1234."})
	if err != nil {
		t.Fatal(err)
	}
	link := mailLink(t, s.mailbox, "support@example.com", req.Ref, "/contact/requests/")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.do(t, "open the mail's link", chromedp.Navigate(link), chromedp.WaitVisible(css(`#staff-signin`)))
	b.axe(t, "staff shell, signed out")
	b.do(t, "sign in from the shell", chromedp.Click(css(`#staff-signin-link`)), chromedp.WaitVisible(css(`#password`)))
	b.signIn(t, staff, password)
	b.waitLoaded(t, "/contact/requests/"+req.Ref)
	if got := b.eval(t, `location.href`); got != link {
		t.Errorf("after sign-in the tab is at %s, want the mail's link %s", got, link)
	}
	b.waitText(t, "#staff-view", "Order 1234.")
	b.waitText(t, "#page-title", req.Ref)
	if nav := b.eval(t, `[...document.querySelectorAll("#staff-nav a:not([hidden])")].map(a => a.textContent).join(",")`); nav != "Contact inbox,Data requests" {
		t.Errorf("a support member's staff navigation shows %q", nav)
	}
	b.axe(t, "contact request")

	b.do(t, "reply", chromedp.SendKeys(css(`#contact-text`), "It left our warehouse today."),
		chromedp.Click(css(`form[action$="/reply"] button`)))
	b.waitLoaded(t, "/contact/requests/"+req.Ref+"?done=replied")
	b.waitText(t, "#staff-view", "Your reply was sent.")
	b.waitText(t, "#staff-view .reply", "It left our warehouse today.")
	if focused := b.eval(t, `document.activeElement.id`); focused != "page-title" {
		t.Errorf("after the reply the focus is on %q, want the page's title", focused)
	}
	var replies int
	for deadline := time.Now().Add(20 * time.Second); replies == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range s.mailbox.To(visitor) {
			if !strings.HasPrefix(m.Subject(), "Re: Where is my order?") {
				continue
			}
			replies++
			if from := m.Header.Get("From"); !strings.Contains(from, "hello@example.com") {
				t.Errorf("the reply is from %q, want the operator's sender", from)
			}
			if rt := m.Header.Get("Reply-To"); !strings.Contains(rt, "support@example.com") {
				t.Errorf("the reply's Reply-To is %q, want the support inbox", rt)
			}
		}
	}
	if replies != 1 {
		t.Errorf("the visitor got %d replies, want 1", replies)
	}

	b.do(t, "close", chromedp.Click(css(`form[action$="/close"] button`)))
	b.waitText(t, "#staff-view", "The request is closed.")
	b.axe(t, "closed contact request")
	b.do(t, "reopen", chromedp.Click(css(`form[action$="/reopen"] button`)))
	b.waitText(t, "#staff-view", "The request is open again.")
	b.do(t, "refresh", chromedp.Reload())
	b.waitLoaded(t, "/contact/requests/"+req.Ref+"?done=reopened")
	b.waitText(t, "#staff-view", "Order 1234.")

	b.do(t, "the inbox", chromedp.Click(css(`#staff-nav a[href="/contact/requests"]`)))
	b.waitLoaded(t, "/contact/requests")
	b.waitText(t, "#staff-view table", "Where is my order?")
	b.axe(t, "contact inbox")
	b.do(t, "Back", chromedp.NavigateBack())
	b.waitLoaded(t, "/contact/requests/"+req.Ref+"?done=reopened")
	b.check(t)
}

// TestStaffPrivacy: an admin records a disclosure (every missing field flagged at
// once first), finds it in the register, looks up a subscriber's consents, and
// sees the data requests' empty state and the access log, each at its own URL.
func TestStaffPrivacy(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	const admin = "boss@example.org"
	password := member(t, s, admin, "Boss", privacy.RoleAdmin)
	if err := s.store.AppendConsent(context.Background(), &privacy.Consent{Subject: "reader@example.org", Purpose: newsletter.PurposeNewsletter,
		Granted: true, PolicyVersion: "2026-11-01", Source: "newsletter-form", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, admin, password)
	b.do(t, "member area", chromedp.WaitVisible(css(`#me`)))

	b.do(t, "data requests", chromedp.Navigate(base+"/privacy/staff/requests"))
	b.waitLoaded(t, "/privacy/staff/requests")
	b.waitText(t, "#staff-view", "No data request has been completed yet.")
	b.axe(t, "data requests")

	b.do(t, "disclosures", chromedp.Click(css(`#staff-nav a[href="/privacy/staff/disclosures"]`)))
	b.waitLoaded(t, "/privacy/staff/disclosures")
	b.waitText(t, "#staff-view", "No disclosure is recorded yet.")
	b.axe(t, "disclosures")
	b.expect(400, "/privacy/staff/disclosures")
	b.do(t, "an empty disclosure", chromedp.Click(css(`#staff-view form[method=post] button`)))
	b.waitText(t, "#staff-errors", "Reference")
	if n := b.eval(t, `String(document.querySelectorAll("#staff-view [aria-invalid=true]").length)`); n != "4" {
		t.Errorf("%s fields are marked, want the 4 missing ones", n)
	}
	b.axe(t, "disclosure form with errors")
	b.do(t, "record a disclosure",
		chromedp.SendKeys(css(`#staff-subject`), "reader@example.org"),
		chromedp.SetValue(css(`#staff-basis`), "legal-process"),
		chromedp.SendKeys(css(`#staff-reference`), "Order 2026/77"),
		chromedp.SendKeys(css(`#staff-requester`), "County Court"),
		chromedp.Click(css(`#staff-view form[method=post] button`)))
	b.waitText(t, "#page-title", "Disclosure recorded")
	if href := b.eval(t, `document.querySelector("#staff-view a[download]")?.href ?? ""`); !strings.HasPrefix(href, "data:application/json;base64,") {
		t.Errorf("no export to download: %q", href)
	}
	b.axe(t, "disclosure recorded")
	b.do(t, "the register", chromedp.Click(css(`#staff-view a[href="/privacy/staff/disclosures"]`)))
	b.waitLoaded(t, "/privacy/staff/disclosures")
	b.waitText(t, "#staff-view table", "Order 2026/77")

	b.do(t, "consents", chromedp.Click(css(`#staff-nav a[href="/privacy/staff/consents"]`)))
	b.waitLoaded(t, "/privacy/staff/consents")
	b.axe(t, "consent look-up")
	b.do(t, "look up", chromedp.SendKeys(css(`#staff-subject`), "reader@example.org"), chromedp.Click(css(`#staff-view form button`)))
	b.waitLoaded(t, "/privacy/staff/consents?subject=reader%40example.org")
	b.waitText(t, "#staff-view table", "Given")
	b.axe(t, "consent history")

	b.do(t, "access log", chromedp.Click(css(`#staff-nav a[href="/privacy/staff/access"]`)))
	b.waitLoaded(t, "/privacy/staff/access")
	b.waitText(t, "#staff-view table", "consent history")
	b.axe(t, "access log")
	b.check(t)
}

// TestSignOutThenBack: after signing out, Back to the member area or a staff page
// shows nothing private, whether the page comes from the back-forward cache or
// is loaded again.
func TestSignOutThenBack(t *testing.T) {
	s, base := startSite(t, config{})
	b := newBrowser(t)
	const email = "private@example.org"
	password := member(t, s, email, "Private Person", privacy.RoleAdmin)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, email, password)
	b.do(t, "write a note", chromedp.WaitVisible(css(`#write-note`)),
		chromedp.SendKeys(css(`#note-name`), "Secret diary"),
		chromedp.SendKeys(css(`#note-body`), "Dear diary"),
		chromedp.Click(css(`#write-note button`)),
		chromedp.WaitVisible(css(`#resources li`)))
	b.axe(t, "member area")
	if _, err := s.contact.Submit(context.Background(), contact.Submission{Email: "asker@example.org", Subject: "A private question", Message: "Hello"}); err != nil {
		t.Fatal(err)
	}
	b.do(t, "staff page", chromedp.Navigate(base+"/contact/requests"))
	b.waitLoaded(t, "/contact/requests")
	b.waitText(t, "#staff-view", "A private question")

	b.do(t, "sign out", chromedp.Click(css(`#signout`)))
	b.waitText(t, "main", "Welcome")
	for _, page := range []string{"staff page", "member area"} {
		b.do(t, "Back to the "+page, chromedp.NavigateBack())
		time.Sleep(500 * time.Millisecond) // pageshow, and the script of a page loaded again
		body := b.eval(t, `document.body.innerText`)
		for _, private := range []string{"Secret diary", "A private question", "asker@example.org", "Private Person"} {
			if strings.Contains(body, private) {
				t.Errorf("Back to the %s after signing out shows %q", page, private)
			}
		}
	}
	b.check(t)
}

// TestVisitorPagesAccessible checks the visitor's pages with axe-core.
func TestVisitorPagesAccessible(t *testing.T) {
	_, base := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	for _, p := range []string{"/", "/blog", "/blog/2026-03-01-hello", "/contact/", "/newsletter/", "/privacy/", "/privacy/request",
		"/accounts/signin", "/accounts/register", "/dev/mailbox", "/member", "/staff"} {
		b.do(t, p, chromedp.Navigate(base+p), chromedp.WaitReady(chromedp.CSS(`footer`)))
		b.axe(t, p)
		b.contrast(t, p)
	}
	// The check can fail: a page with an unlabelled input and no title fails it.
	b.do(t, "a faulty page", chromedp.Navigate(`data:text/html,<html><body><input></body></html>`))
	if v := b.axeRun(t, "faulty page"); !strings.Contains(v, `"label"`) {
		t.Errorf("axe-core finds no unlabelled input on a faulty page: %s", v)
	}
	b.check(t)
}

// contrast checks what axe-core does not: input borders and the focus ring keep
// 3:1 against the page (WCAG 2.2 1.4.11), and visually hidden text takes no room.
func (b *browser) contrast(t *testing.T, page string) {
	t.Helper()
	if out := b.contrastFaults(t); out != "" {
		t.Errorf("%s: %s", page, out)
	}
}

// contrastFaults returns contrast's faults on the page as it is now, separated
// by "; ".
func (b *browser) contrastFaults(t *testing.T) string {
	t.Helper()
	return b.eval(t, `(() => {
		const lum = (c) => { const [r, g, b] = c.match(/[\d.]+/g).map(Number).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
			return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
		const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
		const bg = "rgb(255, 255, 255)";
		const faults = [];
		for (const e of document.querySelectorAll("main input:not([type=hidden]):not([type=radio]):not([type=checkbox]):not(.hp input), main textarea, main select")) {
			if (e.closest(".hp, [aria-hidden=true]") || e.tabIndex < 0 || !e.offsetParent) continue;
			const r = ratio(getComputedStyle(e).borderTopColor, bg);
			if (r < 3) faults.push("border of #" + e.id + " " + r.toFixed(2) + ":1");
			e.focus();
			const o = ratio(getComputedStyle(e).outlineColor, bg);
			if (o < 3 || getComputedStyle(e).outlineStyle === "none") faults.push("focus ring of #" + e.id + " " + o.toFixed(2) + ":1");
			e.blur();
		}
		for (const e of document.querySelectorAll(".visually-hidden")) {
			const box = e.getBoundingClientRect();
			if (box.width > 1 || box.height > 1) faults.push("visually hidden text shown: " + e.textContent);
		}
		return faults.join("; ");
	})()`)
}
