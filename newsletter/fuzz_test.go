package newsletter_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

var (
	eventAttr = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	badHref   = regexp.MustCompile(`(?i)href="\s*(javascript|data|vbscript):`)
)

// FuzzRender feeds the Markdown renderer anything an editor might paste: it never
// panics, refuses only with ErrInvalid naming "markdown", and what it accepts holds no
// script, image, event handler or dangerous link.
func FuzzRender(f *testing.F) {
	f.Add("# Title\n\nHello **world** and [a link](https://example.com).")
	f.Add("<script>alert(1)</script>")
	f.Fuzz(func(t *testing.T, md string) {
		html, text, err := newsletter.Render(md)
		if err != nil {
			if !strings.HasPrefix(privacy.FieldOf(err), "markdown") || web.HTTPStatus(err) != http.StatusBadRequest {
				t.Fatalf("Render(%q) error = %v, want ErrInvalid naming markdown", md, err)
			}
			return
		}
		lower := strings.ToLower(html)
		for _, bad := range []string{"<script", "<img", "<iframe", "<style", "<object", "<form"} {
			if strings.Contains(lower, bad) {
				t.Fatalf("Render(%q) HTML holds %s: %q", md, bad, html)
			}
		}
		if eventAttr.MatchString(html) || badHref.MatchString(html) {
			t.Fatalf("Render(%q) HTML holds a handler or dangerous link: %q", md, html)
		}
		if !strings.HasSuffix(text, "\n") {
			t.Fatalf("Render(%q) text does not end in a newline: %q", md, text)
		}
	})
}

// FuzzLinkTokens posts anything as the token of the confirm, unsubscribe and
// preference links: the answer is 400 or 410, never a 500 or a panic, and no one's
// subscription changes.
func FuzzLinkTokens(f *testing.F) {
	e := newEnv(f, "mem")
	e.member(f, ann, newsletter.ListNewsletter)
	e.campaign(f, newsletter.ListNewsletter, "Issue", "Hi.")
	good := token(f, link(f, e.mails(f, ann, 2)[1].Text, "unsubscribe"))
	f.Add(good[:len(good)-1] + "A")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("%00")
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == good {
			return
		}
		ctx := context.Background()
		for name, call := range map[string]func() error{
			"confirm":     func() error { _, err := e.svc.Confirm(ctx, tok); return err },
			"pending":     func() error { _, err := e.svc.PendingConfirmation(ctx, tok); return err },
			"preferences": func() error { _, err := e.svc.Preferences(ctx, tok); return err },
			"unsubscribe": func() error { _, err := e.svc.Unsubscribe(ctx, tok); return err },
			"set":         func() error { _, err := e.svc.SetPreferences(ctx, tok, nil); return err },
		} {
			err := call()
			if st := web.HTTPStatus(err); st != http.StatusBadRequest && st != http.StatusGone {
				t.Fatalf("%s(%q) = %v (status %d), want 400 or 410", name, tok, err, st)
			}
		}
		if e.status(t, ann, newsletter.ListNewsletter) != newsletter.StatusConfirmed {
			t.Fatalf("token %q changed a subscription", tok)
		}
	})
}

// FuzzSubscribeForm posts any body with any content type to the subscribe form:
// never a 500 or a panic, never a cookie.
func FuzzSubscribeForm(f *testing.F) {
	e := newEnv(f, "mem")
	f.Add("application/x-www-form-urlencoded", "email=ann%40example.org&newsletter=on&ts=x")
	f.Add("application/json", `{"email":"ann@example.org","newsletter":true,"promotions":1}`)
	f.Add("application/json", `{"email":["a"]}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		res := e.do(t, http.MethodPost, "/newsletter/subscribe", contentType, body)
		if res.Code >= 500 {
			t.Fatalf("POST %q %q = %d: %s", contentType, body, res.Code, res.Body)
		}
		if len(res.Header.Values("Set-Cookie")) > 0 {
			t.Fatal("a cookie was set")
		}
	})
}

// FuzzStaffForms posts any body with any content type to each staff form, and
// asks to send at any time: never a 500 or a panic, never a cookie, and a post
// that is refused changes no campaign.
func FuzzStaffForms(f *testing.F) {
	e := newEnv(f, "mem")
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: "Hi."})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("application/x-www-form-urlencoded", "list=newsletter&subject=S&markdown=M", "2030-01-01T09:00")
	f.Add("application/json", `{"list":"newsletter","subject":["a"],"markdown":1}`, "2030-02-30T25:61")
	f.Add("application/x-www-form-urlencoded", "to=editor%40example.com&confirm=no&at=%00", "2030-01-01T09:00:00+99:00")
	f.Fuzz(func(t *testing.T, contentType, body, at string) {
		before, err := e.svc.Campaign(editor(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := "/newsletter/staff/campaigns/" + strconv.FormatInt(c.ID, 10)
		for _, path := range []string{"/newsletter/staff/campaigns", id, id + "/test", id + "/send", id + "/cancel"} {
			res := e.do(t, http.MethodPost, path, contentType, body, "X-Test-Actor", "editor")
			if res.Code >= 500 || len(res.Header.Values("Set-Cookie")) > 0 {
				t.Fatalf("POST %s %q %q = %d: %s", path, contentType, body, res.Code, res.Body)
			}
			after, err := e.svc.Campaign(editor(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if res.Code >= 400 && (after.Status != before.Status || after.Subject != before.Subject || after.Markdown != before.Markdown) {
				t.Fatalf("refused POST %s %q changed the campaign: %+v", path, body, after)
			}
			before = after
		}
		res := e.do(t, http.MethodGet, id+"/send?at="+url.QueryEscape(at), "", "", "X-Test-Actor", "editor")
		if res.Code >= 500 {
			t.Fatalf("GET send at %q = %d: %s", at, res.Code, res.Body)
		}
	})
}
