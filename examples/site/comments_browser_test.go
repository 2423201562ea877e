package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

// TestCommentInBrowser walks a visitor through commenting on a post without a
// cookie: a fault is shown on the article, beside its field; the preview shows
// the comment rendered; after posting, the post's page shows the author their
// pending comment (by the manage token in the URL) and no one else; a refresh
// posts nothing again; and a reply's form opens under the comment answered.
// Every page is checked with axe-core.
func TestCommentInBrowser(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	const post, email = "/blog/2026-03-01-hello", "writer@example.org"
	wait := chromedp.Sleep(300 * time.Millisecond) // the form stamp's minimum age
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	mod := privacy.WithActor(context.Background(), privacy.Actor{ID: "m", Email: "mod@example.com", Roles: []privacy.Role{privacy.RoleModerator}})
	held := func() int {
		t.Helper()
		q, err := s.comments.Queue(mod, comments.QueueFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(q)
	}

	b.do(t, "the post", chromedp.Navigate(base+post), chromedp.WaitVisible(css(`#comment-form`)))
	postTitle := b.text(t, "#page-title")
	b.axe(t, "post")
	b.expect(400, "/comments/t/")
	b.do(t, "a comment with too many links",
		chromedp.SendKeys(css(`#cf-name`), "Writer"),
		chromedp.SendKeys(css(`#cf-email`), email),
		chromedp.SendKeys(css(`#cf-body`), "See https://a.example https://b.example https://c.example https://d.example"),
		wait, chromedp.Click(css(`#comment-form button[type=submit]:not([name])`)))
	b.waitText(t, "#cf-body-error", "links")
	if title := b.text(t, "#page-title"); title != postTitle {
		t.Errorf("the form's faults are shown under the title %q, not the post's", title)
	}
	if n := b.eval(t, `String(document.querySelectorAll("article.post").length)`); n != "1" {
		t.Errorf("the form's faults are shown without the article (%s)", n)
	}
	b.axe(t, "post, comment with a fault")
	b.contrast(t, "post, comment with a fault")

	b.eval(t, `document.getElementById("cf-body").value = ""`)
	b.do(t, "preview",
		chromedp.SendKeys(css(`#cf-body`), "Counting **visits** is fine by me."),
		chromedp.Click(css(`#comment-form button[name=preview]`)))
	b.waitText(t, ".comment-preview strong", "visits")
	b.axe(t, "post, comment preview")
	if held() != 0 {
		t.Fatal("a preview stored the comment")
	}

	b.do(t, "post", chromedp.SendKeys(css(`#cf-email`), email), wait, chromedp.Click(css(`#comment-form button[type=submit]:not([name])`)))
	b.waitText(t, "#comment-posted", "waiting for a moderator")
	b.waitText(t, "#comment-posted .comment-body", "Counting visits is fine by me.")
	if u := b.eval(t, `location.pathname + location.search`); !strings.HasPrefix(u, post+"?posted=") {
		t.Errorf("after posting the tab is at %s, want the post with the author's token", u)
	}
	if strings.Contains(b.eval(t, `document.documentElement.outerHTML`), email) {
		t.Error("the commenter's address is on the page")
	}
	b.axe(t, "post, own pending comment")
	b.do(t, "refresh", chromedp.Reload())
	b.waitText(t, "#comment-posted", "waiting for a moderator")
	if n := held(); n != 1 {
		t.Errorf("%d comments held after a refresh, want 1", n)
	}
	b.do(t, "the post as anyone sees it", chromedp.Navigate(base+post), chromedp.WaitVisible(css(`#comment-form`)))
	if body := b.text(t, "main"); strings.Contains(body, "fine by me") {
		t.Error("a pending comment is shown without its token")
	}

	q, err := s.comments.Queue(mod, comments.QueueFilter{})
	if err != nil || len(q) != 1 {
		t.Fatal(q, err)
	}
	if err := s.comments.Approve(mod, q[0].ID); err != nil {
		t.Fatal(err)
	}
	b.do(t, "reply", chromedp.Navigate(base+post), chromedp.WaitVisible(css(`.comment .avatar`)),
		chromedp.Click(css(`.comment-actions a`)), chromedp.WaitVisible(css(`.comment .comment-reply-form #comment-form`)))
	if list := b.eval(t, `getComputedStyle(document.querySelector(".comment-list > li")).listStyleType`); list != "none" {
		t.Errorf("the comment list shows markers (%s)", list)
	}
	b.axe(t, "post, reply form")
	b.contrast(t, "post, reply form")
	b.check(t)
}

// TestModerateInBrowser: a moderator opens the queue through the staff shell,
// sees each comment rendered with a link to its post, approves two of three in
// one go, finds the third still waiting and the two on the post, and pages
// through the approved ones. No cookie, no console error, axe-core clean.
func TestModerateInBrowser(t *testing.T) {
	s, base := startSite(t, config{Tracking: true})
	b := newBrowser(t)
	const moderator = "mod@example.org"
	password := member(t, s, moderator, "Moderator", privacy.RoleModerator)
	var ids []int64
	for i, who := range []string{"ann@example.org", "bob@example.org", "cy@example.org"} {
		p, err := s.comments.Post(context.Background(), comments.Input{Thread: "2026-03-01-hello", Name: strings.ToUpper(who[:1]) + who[1:3],
			Email: who, Body: "Comment *number* " + string(rune('1'+i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Comment.ID)
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	b.do(t, "sign in", chromedp.Navigate(base+"/accounts/signin"))
	b.signIn(t, moderator, password)
	b.do(t, "member area", chromedp.WaitVisible(css(`#me`)))
	b.do(t, "the queue", chromedp.Navigate(base+"/comments/moderate"))
	b.waitLoaded(t, "/comments/moderate")
	b.waitText(t, "#staff-view .held .comment-body em", "number")
	if href := b.eval(t, `document.querySelector("#staff-view .held a[href$='/blog/2026-03-01-hello']")?.href ?? ""`); href == "" {
		t.Error("no link to the post a comment belongs to")
	}
	b.axe(t, "moderation queue")
	b.contrast(t, "moderation queue")

	b.do(t, "approve two",
		chromedp.Click(css(`#mq-pick-`+strconv.FormatInt(ids[0], 10))),
		chromedp.Click(css(`#mq-pick-`+strconv.FormatInt(ids[2], 10))),
		chromedp.Click(css(`#mq-bulk button[value=approve]`)))
	b.waitLoaded(t, "/comments/moderate?done=approve&n=2&skipped=0&status=pending")
	b.waitText(t, "#staff-view [role=status]", "Approved: 2 comments.")
	if n := b.eval(t, `String(document.querySelectorAll("#staff-view .held").length)`); n != "1" {
		t.Errorf("%s comments left in the queue, want 1", n)
	}
	b.waitText(t, "#staff-view .held", "number 2")
	b.axe(t, "moderation queue after approving")

	b.do(t, "approved, a page of one", chromedp.Navigate(base+"/comments/moderate?status=approved&limit=1"))
	b.waitLoaded(t, "/comments/moderate?status=approved&limit=1")
	b.do(t, "next page", chromedp.Click(css(`#staff-view a[rel=next]`)))
	b.waitLoaded(t, "/comments/moderate?limit=1&page=2&status=approved")
	b.waitText(t, "#staff-view .held", "number 3")
	b.do(t, "refresh", chromedp.Reload())
	b.waitLoaded(t, "/comments/moderate?limit=1&page=2&status=approved")

	b.do(t, "the post", chromedp.Navigate(base+"/blog/2026-03-01-hello"), chromedp.WaitVisible(css(`#comment-form`)))
	b.waitText(t, ".comment-list", "number 3")
	if body := b.text(t, ".comment-list"); strings.Contains(body, "number 2") || !strings.Contains(body, "number 1") {
		t.Errorf("the post shows %q, want comments 1 and 3", body)
	}
	b.check(t)
}
