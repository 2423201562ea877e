package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/privacy"
)

// TestStaffScreenshots writes a screenshot of every staff page at 1280 and 390 px
// wide into CONSENTKIT_SCREENSHOTS (docs/ for the README), each showing what a
// small site gathers in a few weeks (seedStaffData); it runs only when that is
// set. Each page, so filled, is checked with axe-core, and fails when a table
// does not fit the screen (a screenshot would show it cut off).
func TestStaffScreenshots(t *testing.T) {
	dir := os.Getenv("CONSENTKIT_SCREENSHOTS")
	if dir == "" {
		t.Skip("set CONSENTKIT_SCREENSHOTS=DIR to write the staff pages' screenshots")
	}
	clk := &offsetClock{}
	s, base := startSite(t, config{Tracking: true, visitNow: clk.Now})
	b := newBrowser(t)
	const admin = "ada@example.org"
	password := member(t, s, admin, "Ada Lovelace", privacy.RoleAdmin)
	in, err := s.accounts.SignIn(context.Background(), admin, password)
	if err != nil {
		t.Fatal(err)
	}
	data := seedStaffData(t, s, base, in.Token, clk)
	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, admin, password)
	b.do(t, "member area", chromedp.WaitVisible(chromedp.CSS(`#me`)))
	pages := append([]staffSection{{Title: "Staff area", Path: "/staff"}, {Title: "Contact request", Path: "/contact/requests/" + data.answered}}, staffSections...)
	for i, p := range pages {
		if p.Path == "/privacy/staff/consents" { // a person's history, not the empty look-up form
			pages[i].Path += "?subject=" + url.QueryEscape(data.reader)
		}
	}
	for _, width := range []int64{1280, 390} {
		for i, p := range pages {
			b.do(t, p.Title, chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+p.Path))
			b.waitLoaded(t, p.Path)
			if cut := b.eval(t, `[...document.querySelectorAll(".scroll, .tracking-scroll")].filter((e) => e.scrollWidth > e.clientWidth)
				.map((e) => "the table of " + e.querySelector("th")?.textContent + " (" + e.scrollWidth + " px)")
				.concat(document.documentElement.scrollWidth > innerWidth ? ["the page"] : []).join(", ")`); cut != "" {
				t.Errorf("%s at %d px: wider than the screen: %s", p.Title, width, cut)
			}
			b.axe(t, fmt.Sprintf("%s at %d px", p.Title, width))
			shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(80))
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("staff-%02d-%s-%d.jpg", i, slug(p.Title), width)
			if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.check(t)
}

func slug(s string) string {
	out := []byte{}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		default:
			out = append(out, '-')
		}
	}
	return string(out)
}
