package newsletter_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func allowAddrs(addrs ...string) privacy.Allower {
	return privacy.AllowFunc(func(_ context.Context, _ privacy.Purpose, s string) (bool, error) {
		for _, a := range addrs {
			if a == s {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestCampaignReachesOnlyConfirmedMembers(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		// Addresses known to the site for other purposes, as the comments and contact
		// capabilities would register them.
		e.mail.Mailer.Allow(privacy.Purpose("comment-follow-up"), allowAddrs("commenter@example.org"))
		e.mail.Mailer.Allow(privacy.Purpose("support"), allowAddrs("asker@example.org"))
		var members []string
		for i := range 9 {
			a := "m" + string(rune('a'+i)) + "@example.org"
			e.member(t, a, newsletter.ListNewsletter)
			members = append(members, a)
		}
		e.member(t, "promo@example.org", newsletter.ListPromotions)
		require.NoError(t, e.svc.Subscribe(ctx, "pending@example.org", []newsletter.List{newsletter.ListNewsletter}))
		e.member(t, "left@example.org", newsletter.ListNewsletter)
		_, err := e.consents.Record(ctx, "left@example.org", newsletter.PurposeNewsletter, false, "account-settings")
		require.NoError(t, err)
		_, err = e.svc.SyncConsents(ctx)
		require.NoError(t, err)
		e.member(t, "bounces@example.org", newsletter.ListNewsletter)
		e.member(t, "complains@example.org", newsletter.ListNewsletter)
		e.settle(t)
		e.mail.Server.Reset()
		e.mail.Server.FailFor("bounces@example.org", mailtest.PermFail)

		_, err = e.mail.Mailer.Send(ctx, privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: "commenter@example.org",
			To: privacy.Address{Email: "commenter@example.org"}, Subject: "News", Text: "x"})
		require.ErrorIs(t, err, privacy.ErrRefused, "a commenter's address was not collected for the newsletter")

		c1 := e.campaign(t, newsletter.ListNewsletter, "Issue 1", "One.")
		assert.Equal(t, 11, c1.Enqueued, "nine members, the bouncing one and the complaining one")
		e.settle(t)
		require.NoError(t, e.svc.ReportComplaint(ctx, "complains@example.org"))
		ok, err := e.priv.Suppressed(ctx, "bounces@example.org")
		require.NoError(t, err)
		assert.True(t, ok, "a permanent failure suppresses the address")

		c2 := e.campaign(t, newsletter.ListNewsletter, "Issue 2", "Two.")
		assert.Equal(t, 9, c2.Enqueued)
		assert.Equal(t, 1, c2.Skipped, "the bounced address is refused by the Mailer; the complainant has left")
		e.settle(t)

		got := map[string][]string{}
		for _, m := range e.mail.Server.Messages() {
			got[m.To[0]] = append(got[m.To[0]], m.Subject())
		}
		for _, a := range members {
			assert.Equal(t, []string{"Issue 1", "Issue 2"}, got[a], a)
		}
		assert.Equal(t, []string{"Issue 1"}, got["complains@example.org"], "nothing after the complaint")
		for _, a := range []string{"commenter@example.org", "asker@example.org", "pending@example.org", "left@example.org", "promo@example.org", "bounces@example.org"} {
			assert.Empty(t, got[a], "%s never receives a newsletter campaign", a)
		}
		assert.Len(t, got, len(members)+1)

		p, err := e.svc.Progress(editor(), c2.ID)
		require.NoError(t, err)
		assert.Positive(t, p.Rate)
		p.Rate = 0
		assert.Equal(t, newsletter.Progress{Status: newsletter.CampaignSent, Total: 10, Enqueued: 9, Skipped: 1, Sent: 9, Done: 10, Percent: 100}, p)
	})
}

func TestUnsubscribeBetweenEnqueueAndSend(t *testing.T) {
	forEachStore(t, testUnsubscribeBetweenEnqueueAndSend)
}

func testUnsubscribeBetweenEnqueueAndSend(t *testing.T, kind string) {
	e := newEnv(t, kind)
	ctx := context.Background()
	e.member(t, ann, newsletter.ListNewsletter)
	e.member(t, "bob@example.org", newsletter.ListNewsletter)
	e.settle(t)
	e.mail.Server.SetMode(mailtest.TempFail) // hold the campaign in the outbox
	c := e.campaign(t, newsletter.ListNewsletter, "Issue 1", "News.")
	p, err := e.svc.Progress(editor(), c.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Queued, "progress is readable while the campaign is undelivered")

	_, err = e.consents.Record(ctx, ann, newsletter.PurposeNewsletter, false, "account-settings")
	require.NoError(t, err)
	_, err = e.svc.SyncConsents(ctx)
	require.NoError(t, err)
	// A batch claimed and checked before the withdrawal may still be on its way
	// to the relay: open it only once the next claim's re-check has failed
	// Ann's message, so what reaches her is decided by the re-check alone.
	require.Eventually(t, func() bool {
		p, err = e.svc.Progress(editor(), c.ID)
		return err == nil && p.Failed == 1
	}, 10*time.Second, 10*time.Millisecond)
	e.mail.Server.SetMode(mailtest.Accept)
	e.mails(t, "bob@example.org", 2)
	require.Eventually(t, func() bool {
		p, err = e.svc.Progress(editor(), c.ID)
		return err == nil && p.Queued == 0
	}, 10*time.Second, 10*time.Millisecond)
	p.Rate = 0
	assert.Equal(t, newsletter.Progress{Status: newsletter.CampaignSent, Total: 2, Enqueued: 2, Sent: 1, Failed: 1, Done: 2, Percent: 100}, p)
	assert.Equal(t, []string{"Please confirm your subscription to Newsletter of Example Ltd"}, e.subjects(ann),
		"the re-check before delivery stops the mail to someone who left meanwhile")
}

func TestCampaignMailGolden(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	md := "# Spring issue\n\nWe shipped **two** things:\n\n1. a [faster editor](https://example.com/editor)\n2. `dark mode`\n\n> Thanks for reading.\n\nReply to <https://example.com/feedback>.\n"
	e.campaign(t, newsletter.ListNewsletter, "Spring issue", md)
	msg := e.mails(t, ann, 2)[1]
	tok := regexp.MustCompile(`\?t=[A-Za-z0-9_-]+`)
	for name, got := range map[string]string{"campaign.html": msg.HTML, "campaign.txt": msg.Text} {
		got = tok.ReplaceAllString(strings.ReplaceAll(got, "\r\n", "\n"), "?t=TOKEN")
		path := filepath.Join("testdata", name+".golden")
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(want), got, name)
	}
	assert.NotContains(t, msg.HTML, "<img", "no tracking pixel")
	assert.Contains(t, msg.HTML, `href="https://example.com/editor"`, "links are not rewritten")
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name, md  string
		html, txt []string
	}{
		{"Emphasis", "Hello **bold** and _em_.", []string{"<p>Hello <strong>bold</strong> and <em>em</em>.</p>"}, []string{"Hello bold and em."}},
		{"Link", "[site](https://example.com/a?b=c)", []string{`<a href="https://example.com/a?b=c">site</a>`}, []string{"site (https://example.com/a?b=c)"}},
		{"MailtoLink", "[write](mailto:news@example.com)", []string{`href="mailto:news@example.com"`}, []string{"write (mailto:news@example.com)"}},
		{"List", "- one\n- two", []string{"<li>one</li>"}, []string{"- one\n- two"}},
		{"Heading", "# Title", []string{"<h1>Title</h1>"}, []string{"Title\n====="}},
		{"EscapedAngle", "a < b & c", []string{"a &lt; b &amp; c"}, []string{"a < b & c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			html, txt, err := newsletter.Render(tc.md)
			require.NoError(t, err)
			for _, w := range tc.html {
				assert.Contains(t, html, w)
			}
			for _, w := range tc.txt {
				assert.Contains(t, txt, w)
			}
		})
	}
}

func TestDraftValidation(t *testing.T) {
	e := newEnv(t, "mem")
	ok := newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: "Hello."}
	for _, tc := range []struct {
		name   string
		mutate func(d *newsletter.Draft)
		field  string
	}{
		{"ErrListUnknown", func(d *newsletter.Draft) { d.List = "everyone" }, "list"},
		{"ErrListEmpty", func(d *newsletter.Draft) { d.List = "" }, "list"},
		{"ErrSubjectEmpty", func(d *newsletter.Draft) { d.Subject = " " }, "subject"},
		{"ErrSubjectHeaderBreak", func(d *newsletter.Draft) { d.Subject = "Hi\r\nBcc: all@example.net" }, "subject"},
		{"ErrSubjectTooLong", func(d *newsletter.Draft) { d.Subject = strings.Repeat("x", privacy.MaxSubjectLen+1) }, "subject"},
		{"ErrMarkdownEmpty", func(d *newsletter.Draft) { d.Markdown = "" }, "markdown"},
		{"ErrMarkdownTooLong", func(d *newsletter.Draft) { d.Markdown = strings.Repeat("x", newsletter.MaxMarkdownLen+1) }, "markdown"},
		{"ErrMarkdownNUL", func(d *newsletter.Draft) { d.Markdown = "a\x00b" }, "markdown"},
		{"ErrMarkdownNotUTF8", func(d *newsletter.Draft) { d.Markdown = "a\xffb" }, "markdown"},
		{"ErrMarkdownImage", func(d *newsletter.Draft) { d.Markdown = "![x](https://tracker.example.net/p.gif?u=1)" }, "markdown"},
		{"ErrMarkdownRawHTML", func(d *newsletter.Draft) { d.Markdown = "<img src=x>" }, "markdown"},
		{"ErrMarkdownInlineHTML", func(d *newsletter.Draft) { d.Markdown = "a <span onclick=x>b</span>" }, "markdown"},
		{"ErrMarkdownJavascriptLink", func(d *newsletter.Draft) { d.Markdown = "[x](javascript:alert(1))" }, "markdown"},
		{"ErrMarkdownDataLink", func(d *newsletter.Draft) { d.Markdown = "[x](data:text/html,hi)" }, "markdown"},
		{"ErrMarkdownRelativeLink", func(d *newsletter.Draft) { d.Markdown = "[x](/local)" }, "markdown"},
		{"ErrMarkdownReservedMark", func(d *newsletter.Draft) { d.Markdown = "[x](https://unsubscribe.MARK.invalid/)" }, "markdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.mutate(&d)
			_, err := e.svc.CreateCampaign(editor(), d)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
	cs, err := e.svc.Campaigns(editor())
	require.NoError(t, err)
	assert.Empty(t, cs, "nothing stored")
}

func TestCampaignLifecycle(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	e.member(t, ann, newsletter.ListNewsletter)
	d := newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: "Hello."}

	_, err := e.svc.CreateCampaign(ctx, d)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	mod := privacy.WithActor(ctx, privacy.Actor{ID: "m1", Roles: []privacy.Role{privacy.RoleModerator}})
	_, err = e.svc.CreateCampaign(mod, d)
	assert.ErrorIs(t, err, privacy.ErrForbidden)

	c, err := e.svc.CreateCampaign(editor(), d)
	require.NoError(t, err)
	assert.Equal(t, "ed1", c.CreatedBy)
	_, err = e.svc.Campaigns(mod)
	assert.ErrorIs(t, err, privacy.ErrForbidden)
	_, err = e.svc.Progress(mod, c.ID)
	assert.ErrorIs(t, err, privacy.ErrForbidden)

	d.Subject = "Issue 1"
	c, err = e.svc.UpdateCampaign(editor(), c.ID, d)
	require.NoError(t, err)
	assert.Equal(t, "Issue 1", c.Subject)
	_, err = e.svc.Cancel(editor(), c.ID)
	assert.ErrorIs(t, err, privacy.ErrConflict, "a draft is not cancelled, it is just not sent")

	at := e.clock.Now().Add(time.Hour)
	c, err = e.svc.Schedule(editor(), c.ID, at)
	require.NoError(t, err)
	assert.Equal(t, newsletter.CampaignScheduled, c.Status)
	_, err = e.svc.UpdateCampaign(editor(), c.ID, d)
	assert.ErrorIs(t, err, privacy.ErrConflict, "a scheduled campaign is not edited")
	_, err = e.svc.Schedule(editor(), c.ID, at)
	assert.ErrorIs(t, err, privacy.ErrConflict)

	n, err := e.svc.SendDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "not before its time")
	e.clock.Add(time.Hour + time.Second)
	n, err = e.svc.SendDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	e.mails(t, ann, 2)
	c, err = e.svc.Campaign(editor(), c.ID)
	require.NoError(t, err)
	assert.Equal(t, newsletter.CampaignSent, c.Status)
	assert.False(t, c.StartedAt.IsZero())
	_, err = e.svc.Cancel(editor(), c.ID)
	assert.ErrorIs(t, err, privacy.ErrConflict)
	n, err = e.svc.SendDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a sent campaign is sent once")

	c2, err := e.svc.CreateCampaign(editor(), d)
	require.NoError(t, err)
	_, err = e.svc.Schedule(editor(), c2.ID, e.clock.Now().Add(time.Hour))
	require.NoError(t, err)
	c2, err = e.svc.Cancel(editor(), c2.ID)
	require.NoError(t, err)
	assert.Equal(t, newsletter.CampaignCancelled, c2.Status)
	e.clock.Add(2 * time.Hour)
	n, err = e.svc.SendDue(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a cancelled campaign is not sent")

	_, err = e.svc.Campaign(editor(), 999)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
}

func TestTestSend(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: "Hello."})
	require.NoError(t, err)
	err = e.svc.TestSend(editor(), c.ID, ann)
	require.ErrorIs(t, err, privacy.ErrInvalid, "a test goes only to the operator")
	assert.Equal(t, "to", privacy.FieldOf(err))
	assert.ErrorIs(t, e.svc.TestSend(context.Background(), c.ID, "editor@example.com"), privacy.ErrUnauthorized)
	require.NoError(t, e.svc.TestSend(editor(), c.ID, "editor@example.com"))
	msg := e.mails(t, "editor@example.com", 1)[0]
	assert.Equal(t, "[Test] Issue", msg.Subject())
	assert.Contains(t, msg.Text, "Hello.")
	e.settle(t)
	assert.Len(t, e.mail.Server.To(ann), 1, "a test reaches no member")
	p, err := e.svc.Progress(editor(), c.ID)
	require.NoError(t, err)
	assert.Zero(t, p.Sent, "a test is not campaign progress")
	c, _ = e.svc.Campaign(editor(), c.ID)
	assert.Equal(t, newsletter.CampaignDraft, c.Status)
}

func TestRunSendsScheduledCampaigns(t *testing.T) {
	e := newEnv(t, "mem", func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.Poll = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.svc.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	_, err := e.consents.Record(ctx, ann, newsletter.PurposeNewsletter, true, "registration")
	require.NoError(t, err)
	msg := e.mails(t, ann, 1)[0] // Run synced the registration opt-in
	_, err = e.svc.Confirm(ctx, token(t, link(t, msg.Text, "confirm")))
	require.NoError(t, err)
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: "Hello."})
	require.NoError(t, err)
	_, err = e.svc.Schedule(editor(), c.ID, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, "Issue", e.mails(t, ann, 2)[1].Subject())
}
