package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/privacy"
)

// TestStaffScreenshots writes a screenshot of every staff page at 1280 and 390 px
// wide into CONSENTKIT_SCREENSHOTS (docs/ for the README); it runs only when that
// is set.
func TestStaffScreenshots(t *testing.T) {
	dir := os.Getenv("CONSENTKIT_SCREENSHOTS")
	if dir == "" {
		t.Skip("set CONSENTKIT_SCREENSHOTS=DIR to write the staff pages' screenshots")
	}
	s, base := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	const admin = "admin@example.org"
	password := member(t, s, admin, "Admin", privacy.RoleAdmin)
	req, err := s.contact.Submit(context.Background(), contact.Submission{Name: "Vera Visitor", Email: "vera@example.org",
		Subject: "Where is my order?", Message: "It has not arrived.\nOrder 1234."})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, admin, password)
	b.do(t, "member area", chromedp.WaitVisible(chromedp.CSS(`#me`)))
	pages := append([]staffSection{{Title: "Staff area", Path: "/staff"}, {Title: "Contact request", Path: "/contact/requests/" + req.Ref}}, staffSections...)
	for _, width := range []int64{1280, 390} {
		for i, p := range pages {
			b.do(t, p.Title, chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+p.Path))
			b.waitLoaded(t, p.Path)
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
