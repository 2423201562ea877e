package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// gate holds every campaign message until open is closed; other mail passes.
type gate struct {
	next privacy.Transport
	open chan struct{}
}

func (g *gate) Dial(ctx context.Context) (privacy.Conn, error) {
	c, err := g.next.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return gateConn{c, g.open}, nil
}

type gateConn struct {
	privacy.Conn
	open chan struct{}
}

func (c gateConn) Send(ctx context.Context, msg *privacy.Message) error {
	if strings.HasPrefix(msg.Ref, "campaign:") {
		select {
		case <-c.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Conn.Send(ctx, msg)
}

// TestCampaignInBrowser: an editor, signed in with a bearer token in the tab and no
// cookie, saves a draft and finds it in the list, previews it, sends a test to
// their own address, confirms a send to the list's members, and watches the
// progress bar reach 100 % while the campaign goes out. No page logs an error.
func TestCampaignInBrowser(t *testing.T) {
	held := &gate{open: make(chan struct{})}
	s, base := startSite(t, config{wrapTransport: func(next privacy.Transport) privacy.Transport { held.next = next; return held }})
	ctx := context.Background()
	const editor, password = "editor@example.com", "correct horse battery"
	if _, err := s.accounts.Register(ctx, accounts.RegisterInput{Email: editor, Password: password, BirthDate: "1980-01-01"}); err != nil {
		t.Fatal(err)
	}
	verify, err := url.Parse(mailLink(t, s.mailbox, editor, "", "/accounts/verify"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.accounts.Verify(ctx, verify.Query().Get("token"), password); err != nil {
		t.Fatal(err)
	}
	if err := s.accounts.GrantRole(ctx, editor, privacy.RoleEditor); err != nil {
		t.Fatal(err)
	}
	signedIn, err := s.accounts.SignIn(ctx, editor, password)
	if err != nil {
		t.Fatal(err)
	}
	const members = 5
	for i := range members {
		addr := fmt.Sprintf("reader%d@example.org", i)
		if err := s.newsletter.Subscribe(ctx, addr, []newsletter.List{newsletter.ListNewsletter}); err != nil {
			t.Fatal(err)
		}
		confirm, err := url.Parse(mailLink(t, s.mailbox, addr, "", "/newsletter/confirm"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.newsletter.Confirm(ctx, confirm.Query().Get("t")); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	load := func(path string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(base + path) }
	b.do(t, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`main`)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem("consentkit.session", %q)`, signedIn.Token)))

	b.do(t, "campaigns", load("/newsletter/staff/campaigns"), chromedp.WaitVisible(css(`#list-counts`)))
	if counts := b.text(t, `#list-counts tr[data-list=newsletter]`); !strings.Contains(counts, fmt.Sprint(members)) {
		t.Fatalf("the newsletter's members: %q, want %d", counts, members)
	}

	b.do(t, "save a draft",
		chromedp.Click(css(`#new-campaign`)),
		chromedp.WaitVisible(css(`#campaign-draft`)),
		chromedp.SendKeys(css(`#campaign-subject`), "Winter issue"),
		chromedp.SendKeys(css(`#campaign-markdown`), "Snow is **here**.\n\n[Read more](https://example.com/winter)"),
		chromedp.Click(css(`#campaign-draft button[type=submit]`)))
	b.waitText(t, "#campaign-done", "The draft is saved.")
	b.do(t, "the list shows the draft", load("/newsletter/staff/campaigns"), chromedp.WaitVisible(css(`#campaigns`)))
	b.waitText(t, "#campaigns", "Winter issue")
	b.do(t, "open the draft", chromedp.Click(css(`#campaigns a`)), chromedp.WaitVisible(css(`#campaign-test`)))

	b.do(t, "preview", chromedp.Click(css(`#campaign-preview`)), chromedp.WaitVisible(css(`#preview-html strong`)))
	if text := b.text(t, "#preview-text"); !strings.Contains(text, "Read more (https://example.com/winter)") || !strings.Contains(text, "Unsubscribe:") {
		t.Fatalf("the text preview: %q", text)
	}
	b.do(t, "back", chromedp.Click(css(`#preview-back`)), chromedp.WaitVisible(css(`#campaign-test`)))

	b.do(t, "test send", chromedp.Click(css(`#campaign-test button[type=submit]`)))
	b.waitText(t, "#campaign-done", "The test is on its way.")
	mailLink(t, s.mailbox, editor, "[Test] Winter issue", "/newsletter/unsubscribe")
	for i := range members {
		if got := len(s.mailbox.To(fmt.Sprintf("reader%d@example.org", i))); got != 1 {
			t.Fatalf("reader%d has %d messages before the send; the test reaches no member", i, got)
		}
	}

	b.do(t, "send", chromedp.Click(css(`#campaign-send button[type=submit]`)), chromedp.WaitVisible(css(`#campaign-confirm`)))
	if summary := b.text(t, "#send-summary"); !strings.Contains(summary, fmt.Sprintf("goes to the %d confirmed members of Newsletter", members)) {
		t.Fatalf("the confirmation says %q", summary)
	}
	b.do(t, "confirm", chromedp.Click(css(`#campaign-confirm button[type=submit]`)), chromedp.WaitVisible(css(`#campaign-progress progress`)))
	b.waitText(t, "#campaign-done", "The campaign is on its way.")

	// The campaign's messages wait at the gate, all enqueued: the page, loaded
	// once, shows them queued only if the site's poller updates it.
	progress := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			state, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => {
				const el = document.querySelector("#campaign-progress");
				const shown = [...el.querySelectorAll("[data-status]")].filter((s) => !s.hidden).map((s) => s.dataset.status);
				return [el.querySelector("progress").value, el.querySelector("[data-field=queued]").textContent, el.querySelector("[data-field=sent]").textContent,
					el.querySelector("[data-field=percent]").textContent, shown.join(","), el.hasAttribute("data-live")].join(" ");
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if state == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("progress is %q (value, queued, sent, percent, status shown, polling), want %q", state, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	progress(fmt.Sprintf("0 %d 0 0 sent true", members))
	close(held.open)
	progress(fmt.Sprintf("100 0 %d 100 sent false", members))
	for i := range members {
		mailLink(t, s.mailbox, fmt.Sprintf("reader%d@example.org", i), "Winter issue", "/newsletter/unsubscribe")
	}
	b.check(t)
}
