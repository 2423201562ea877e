package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAxeReport reports axe-core's violations (the browser tests' rules, and
// its best-practice rules apart) and the tests' own border and focus contrast
// check on every visitor page and every staff section of a running site, which
// may be any version of this one: it reads only the site's base URL
// (CONSENTKIT_AXE_REPORT) and an admin's address and password
// (CONSENTKIT_AXE_ADMIN, CONSENTKIT_AXE_PASSWORD), and finds the staff sections
// in the staff area's navigation, links or buttons. It posts two comments and a
// contact message as a visitor, signs in, approves the first comment through the
// moderation API, and logs a Markdown table, a row a page. It fails only when it
// cannot do that or a section does not open; docs/accessibility.md has the
// figures and how to start a site for it.
func TestAxeReport(t *testing.T) {
	base := strings.TrimSuffix(os.Getenv("CONSENTKIT_AXE_REPORT"), "/")
	if base == "" {
		t.Skip("set CONSENTKIT_AXE_REPORT=URL, CONSENTKIT_AXE_ADMIN and CONSENTKIT_AXE_PASSWORD to report axe-core's violations on a running site")
	}
	admin, password := os.Getenv("CONSENTKIT_AXE_ADMIN"), os.Getenv("CONSENTKIT_AXE_PASSWORD")
	if _, err := axeScript(); err != nil {
		t.Fatalf("axe-core (CONSENTKIT_AXE): %v", err)
	}
	const post = "/blog/2026-03-01-hello"
	// Forms refuse an answer sent sooner than the site's minimum (3 s by default).
	const formAge = 3500 * time.Millisecond
	b := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	send := func(step, page, form string, fields map[string]string) {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + page), chromedp.WaitVisible(css(form))}
		for sel, v := range fields {
			steps = append(steps, chromedp.SendKeys(css(sel), v))
		}
		b.do(t, step, append(steps, chromedp.Sleep(formAge), chromedp.Click(css(form+` button[type=submit]:not([name=preview])`)))...)
		settle(t, b)
	}
	for _, c := range []struct{ name, email, body string }{
		{"Rita Reader", "rita@example.org", "A first comment, approved."},
		{"Sam Sender", "sam@example.org", "A second comment, held for moderation."},
	} {
		send("comment", post, `#comment-form`, map[string]string{`#cf-name`: c.name, `#cf-email`: c.email, `#cf-body`: c.body})
	}
	send("contact", "/contact/", `form:has(#contact-message)`, map[string]string{`#contact-name`: "Vera Visitor",
		`#contact-email`: "vera@example.org", `#contact-subject`: "Where is my order?", `#contact-message`: "It has not arrived."})

	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"), chromedp.WaitVisible(css(`#password`)),
		chromedp.SendKeys(css(`#email`), admin), chromedp.SendKeys(css(`#password`), password),
		chromedp.Sleep(formAge), chromedp.Click(css(`main form button[type=submit]`)), chromedp.WaitVisible(css(`#me`)))
	approved, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => {
		const headers = {Accept: "application/json", Authorization: "Bearer " + sessionStorage.getItem("consentkit.session")};
		const queue = await (await fetch("/comments/moderate?status=pending", {headers})).json();
		const first = queue.comments.reduce((a, c) => (c.id < a.id ? c : a));
		const res = await fetch("/comments/moderate/" + first.id + "/approve", {method: "POST", headers: {...headers, "Content-Type": "application/json"}, body: "{}"});
		return res.status + " " + first.id;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(approved, "200 ") {
		t.Fatalf("approve the first comment: %q %v", approved, err)
	}

	var rows []string
	check := func(page string) {
		t.Helper()
		settle(t, b)
		n, nodes, rules := axeCount(t, b, page, axeOptions)
		_, _, practice := axeCount(t, b, page, `{runOnly: ["best-practice"]}`)
		faults := b.contrastFaults(t)
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %s | %s | %d | %s |", page, n, nodes, rules, practice, len(strings.FieldsFunc(faults, func(r rune) bool { return r == ';' })), faults))
	}
	b.do(t, "member area", chromedp.Navigate(base+"/member"), chromedp.WaitVisible(css(`#me`)))
	check("member area (signed in)")
	b.do(t, "staff area", chromedp.Navigate(base+"/staff"), chromedp.WaitVisible(css(`nav[aria-label="Staff sections"]`)))
	check("staff area (signed in)")
	const controls = `[...document.querySelectorAll('nav[aria-label="Staff sections"] :is(a, button)')].filter((c) => c.offsetParent)`
	sections, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](controls+`.map((c) => c.textContent.trim())`))
	if err != nil || len(sections) == 0 {
		t.Fatalf("no staff section in the navigation: %v", err)
	}
	const main = `document.querySelector("main").innerText`
	for i, s := range sections {
		b.do(t, "staff: "+s, chromedp.Navigate(base+"/staff"), chromedp.WaitVisible(css(`nav[aria-label="Staff sections"]`)))
		settle(t, b)
		landing := b.eval(t, main)
		b.do(t, "staff: "+s, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`%s[%d].click()`, controls, i)))
		check("staff: " + s)
		if shown := b.eval(t, main); shown == landing || b.eval(t, `String(!!document.querySelector("main [role=alert]"))`) == "true" {
			t.Errorf("staff section %s did not open: %.300q", s, shown)
		}
	}

	b.do(t, "sign out", chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`))
	for _, p := range []string{"/", "/blog", post, "/contact/", "/newsletter/", "/privacy/", "/privacy/request",
		"/accounts/register", "/accounts/signin", "/member", "/staff"} {
		b.do(t, p, chromedp.Navigate(base+p), chromedp.WaitReady(css(`footer`)))
		check(p)
		if body := b.text(t, "main"); p == post && !strings.Contains(body, "A first comment, approved.") {
			t.Errorf("the post does not show the approved comment: %.300q", body)
		}
	}
	t.Logf("axe-core on %s\n| page | violations | nodes | rules (nodes) | best practice (nodes) | contrast faults | which |\n|---|---|---|---|---|---|---|\n%s", base, strings.Join(rows, "\n"))
}

// settle waits until the page's main content has stopped changing for a second
// with nothing left loading, as the staff area's script leaves it once a section
// is fetched and shown.
func settle(t *testing.T, b *browser) {
	t.Helper()
	var last string
	stable := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		now, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState + " " + (document.querySelector("main")?.innerText ?? "")`))
		if err != nil || !strings.HasPrefix(now, "complete ") || strings.Contains(now, "Loading") || now != last {
			last, stable = now, 0
			continue
		}
		if stable++; stable == 4 {
			return
		}
	}
	t.Fatalf("the page never settled: %.200q", last)
}

// axeCount runs axe-core with options, such as the browser tests' axeOptions, and
// returns the number of violations, of affected nodes, and each rule with its
// node count.
func axeCount(t *testing.T, b *browser, page, options string) (violations, nodes int, rules string) {
	t.Helper()
	script, _ := axeScript()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](script+";true")); err != nil {
		t.Fatalf("inject axe-core into %s: %v", page, err)
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, `+options+`)
		.then(r => JSON.stringify(r.violations.map(v => ({id: v.id, nodes: v.nodes.length}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core on %s: %v", page, err)
	}
	var vs []struct {
		ID    string
		Nodes int
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID })
	var names []string
	for _, v := range vs {
		nodes += v.Nodes
		names = append(names, fmt.Sprintf("%s (%d)", v.ID, v.Nodes))
	}
	return len(vs), nodes, strings.Join(names, ", ")
}
