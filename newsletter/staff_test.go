package newsletter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

const form = "application/x-www-form-urlencoded"

// TestStaffCampaignPages walks an editor through the campaign pages as plain HTML
// forms: a draft saved with every fault beside its field, edited, previewed, tested
// on the operator's own address, sent after a confirmation that names the list and
// its member count, and its progress read back; another scheduled and cancelled.
func TestStaffCampaignPages(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		e.member(t, ann, newsletter.ListNewsletter)
		e.member(t, "bob@example.org", newsletter.ListNewsletter, newsletter.ListPromotions)
		page := func(method, path, body, actor string) response {
			t.Helper()
			ct := ""
			if method == http.MethodPost {
				ct = form
			}
			return e.do(t, method, "/newsletter/staff/campaigns"+path, ct, body, "X-Test-Actor", actor)
		}

		for _, path := range []string{"", "/new"} {
			assert.Equal(t, http.StatusUnauthorized, page("GET", path, "", "").Code)
			assert.Equal(t, http.StatusForbidden, page("GET", path, "", "moderator").Code)
		}
		assert.Equal(t, http.StatusForbidden, page("POST", "", "list=newsletter&subject=S&markdown=M", "moderator").Code)

		res := page("GET", "", "", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, `<tr data-list="newsletter"><td>Newsletter</td><td>2</td></tr>`)
		assert.Contains(t, res.Body, `<tr data-list="promotions"><td>Promotions</td><td>1</td></tr>`)
		assert.Contains(t, res.Body, "No campaign yet.")
		assert.NotContains(t, res.Body, ann, "counts, never who")

		res = page("GET", "/new", "", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, `<option value="newsletter" selected>Newsletter (2 confirmed members)</option>`)

		// Every fault at once, beside its field, what was typed kept.
		res = page("POST", "", "list=weekly&subject=&markdown="+url.QueryEscape("![pixel](https://t.example.net/p.gif)"), "editor")
		assert.Equal(t, http.StatusBadRequest, res.Code)
		for _, id := range []string{"campaign-list-error", "campaign-subject-error", "campaign-markdown-error"} {
			assert.Contains(t, res.Body, `<strong id="`+id+`">`, id)
		}
		assert.Contains(t, res.Body, "Images are not allowed")
		assert.Contains(t, res.Body, `![pixel](https://t.example.net/p.gif)</textarea>`)
		assert.Contains(t, res.Body, `<div role="alert">`)
		cs, err := e.svc.Campaigns(editor())
		require.NoError(t, err)
		assert.Empty(t, cs, "nothing saved")

		res = page("POST", "", "list=newsletter&subject=Issue+1&markdown="+url.QueryEscape("Hello **readers**."), "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		loc := res.Header.Get("Location")
		require.Regexp(t, `^/newsletter/staff/campaigns/\d+\?done=saved$`, loc)
		id := strings.TrimSuffix(strings.TrimPrefix(loc, "/newsletter/staff/campaigns"), "?done=saved")
		res = e.do(t, "GET", loc, "", "", "X-Test-Actor", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, "<title>Issue 1</title>")
		assert.Contains(t, res.Body, "The draft is saved.")
		assert.Contains(t, res.Body, "Newsletter: 2 confirmed members now")
		assert.Contains(t, res.Body, `value="editor@example.com"`, "the test goes to the editor's own operator address by default")
		assert.NotContains(t, res.Body, "data-progress", "a draft has no progress")

		res = page("GET", id+"/edit", "", "editor")
		assert.Contains(t, res.Body, `value="Issue 1"`)
		res = page("POST", id, "list=newsletter&subject=&markdown=x", "editor")
		assert.Equal(t, http.StatusBadRequest, res.Code)
		assert.Contains(t, res.Body, `<strong id="campaign-subject-error">`)
		res = page("POST", id, "list=newsletter&subject=Issue+one&markdown="+url.QueryEscape("Hello **readers**.\n\n[More](https://example.com/more)"), "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		assert.Equal(t, "/newsletter/staff/campaigns"+id+"?done=saved", res.Header.Get("Location"))

		res = page("GET", id+"/preview", "", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, `<article id="preview-html" class="mail-preview"><p>Hello <strong>readers</strong>.</p>`)
		assert.Contains(t, res.Body, "More (https://example.com/more)", "the text alternative")
		assert.Contains(t, res.Body, "Unsubscribe: http://127.0.0.1:8080/newsletter/unsubscribe", "with the footer a member gets")

		// A test goes to an operator address only.
		res = page("POST", id+"/test", "to=ann%40example.org", "editor")
		assert.Equal(t, http.StatusBadRequest, res.Code)
		assert.Contains(t, res.Body, `<strong id="campaign-test-to-error">`)
		assert.Contains(t, res.Body, `value="ann@example.org"`)
		res = page("POST", id+"/test", "to=editor%40example.com", "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		assert.Equal(t, "/newsletter/staff/campaigns"+id+"?done=tested", res.Header.Get("Location"))
		assert.Equal(t, "[Test] Issue one", e.mails(t, "editor@example.com", 1)[0].Subject())

		// Send: a confirmation first, naming the list and how many it reaches.
		res = page("GET", id+"/send?at=soon", "", "editor")
		assert.Equal(t, http.StatusBadRequest, res.Code)
		assert.Contains(t, res.Body, `<strong id="campaign-at-error">`)
		res = page("GET", id+"/send?at=", "", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, "goes to the 2 confirmed members of Newsletter,\nnow.")
		c, err := e.svc.Campaign(editor(), mustID(t, id))
		require.NoError(t, err)
		assert.Equal(t, newsletter.CampaignDraft, c.Status, "asking is not sending")
		res = page("POST", id+"/send", "at=", "editor")
		assert.Equal(t, http.StatusBadRequest, res.Code, "not confirmed")
		res = page("POST", id+"/send", "at=&confirm=yes", "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		assert.Equal(t, "/newsletter/staff/campaigns"+id+"?done=scheduled", res.Header.Get("Location"))
		res = page("POST", id+"/send", "at=&confirm=yes", "editor")
		assert.Equal(t, http.StatusConflict, res.Code, "sent once")

		_, err = e.svc.SendDue(ctx)
		require.NoError(t, err)
		e.mails(t, ann, 2)
		e.mails(t, "bob@example.org", 2)
		e.sent(t, "campaign:"+strings.TrimPrefix(id, "/"), 2, "both members")
		res = page("GET", id, "", "editor")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, `<section id="campaign-progress" data-progress="/newsletter/api/campaigns`+id+`/progress">`)
		assert.Contains(t, res.Body, `<progress max="100" value="100">`)
		assert.Contains(t, res.Body, `<dd data-field="sent">2</dd>`)
		assert.Contains(t, res.Body, `<span data-status="sent">Sent</span>`)
		assert.Contains(t, res.Body, `<dd data-field="left">0:00:00</dd>`)
		assert.NotContains(t, res.Body, `id="campaign-cancel"`, "a sent campaign is not cancelled")

		res = e.do(t, "GET", "/newsletter/api/campaigns"+id+"/progress", "", "", "X-Test-Actor", "editor")
		var p map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.Body), &p))
		for k, want := range map[string]float64{"total": 2, "sent": 2, "queued": 0, "failed": 0, "done": 2, "percent": 100, "eta": 0} {
			assert.Equal(t, want, p[k], k)
		}
		assert.Positive(t, p["rate"])

		// Scheduled for a time in the handler's zone, then cancelled.
		res = page("POST", "", "list=promotions&subject=Offer&markdown=Cheap.", "editor")
		require.Equal(t, http.StatusSeeOther, res.Code)
		id2 := strings.TrimSuffix(strings.TrimPrefix(res.Header.Get("Location"), "/newsletter/staff/campaigns"), "?done=saved")
		at := e.clock.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
		res = page("GET", id2+"/send?at="+at, "", "editor")
		assert.Contains(t, res.Body, "goes to the 1 confirmed members of Promotions,\non "+strings.Replace(at, "T", " ", 1)+" (UTC).")
		assert.Contains(t, res.Body, `<input type="hidden" name="at" value="`+at+`">`)
		res = page("POST", id2+"/send", "confirm=yes&at="+at, "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		res = page("GET", id2, "", "editor")
		assert.Contains(t, res.Body, "Scheduled, for "+strings.Replace(at, "T", " ", 1)+" (UTC)")
		assert.Contains(t, res.Body, " data-live>", "a scheduled campaign's progress is polled")
		assert.Contains(t, res.Body, `id="campaign-cancel"`)
		res = page("POST", id2+"/cancel", "", "editor")
		require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
		res = page("GET", id2+"?done=cancelled", "", "editor")
		assert.Contains(t, res.Body, "The campaign is cancelled")
		assert.Contains(t, res.Body, `<span data-status="cancelled">Cancelled</span>`)
		res = page("POST", id2+"/cancel", "", "editor")
		assert.Equal(t, http.StatusConflict, res.Code)
		e.clock.Add(72 * time.Hour)
		n, err := e.svc.SendDue(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "a cancelled campaign is not sent")

		res = page("GET", "", "", "editor")
		assert.Regexp(t, `<a href="/newsletter/staff/campaigns`+id+`">Issue one</a></td><td>Newsletter</td>\s*<td>Sent</td>`, res.Body)
		assert.Regexp(t, `<a href="/newsletter/staff/campaigns`+id2+`">Offer</a></td><td>Promotions</td>\s*<td>Cancelled</td>`, res.Body)
		res = page("GET", "/999", "", "editor")
		assert.Equal(t, http.StatusNotFound, res.Code)
		assert.Contains(t, res.Body, `<a href="/newsletter/staff/campaigns">All campaigns</a>`, "a staff page's error leads back to the campaigns")
		assert.Equal(t, http.StatusBadRequest, page("GET", "/x", "", "editor").Code)
	})
}

func mustID(t *testing.T, path string) int64 {
	var id int64
	_, err := fmt.Sscanf(path, "/%d", &id)
	require.NoError(t, err)
	return id
}

// TestStaffTimeZone: a send time typed on the page is read in the handler's zone.
func TestStaffTimeZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	e := newEnv(t, "mem", func(_ *newsletter.Config, h *newsletter.HandlerConfig) { h.TimeZone = paris })
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "S", Markdown: "M"})
	require.NoError(t, err)
	res := e.do(t, "POST", fmt.Sprintf("/newsletter/staff/campaigns/%d/send", c.ID), form, "confirm=yes&at=2030-07-01T09:00", "X-Test-Actor", "editor")
	require.Equal(t, http.StatusSeeOther, res.Code, res.Body)
	c, err = e.svc.Campaign(editor(), c.ID)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2030, 7, 1, 7, 0, 0, 0, time.UTC), c.SendAt, "09:00 in Paris in summer is 07:00 UTC")
	res = e.do(t, "GET", fmt.Sprintf("/newsletter/staff/campaigns/%d", c.ID), "", "", "X-Test-Actor", "editor")
	assert.Contains(t, res.Body, "Scheduled, for 2030-07-01 09:00 (Europe/Paris)")
}

// TestScheduledCampaignSentOnceByManyProcesses: processes sharing one store that all
// find a scheduled campaign due send it once: every member gets one message.
func TestScheduledCampaignSentOnceByManyProcesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.BatchSize = 3 })
		ctx := context.Background()
		const members = 12
		for i := range members {
			e.member(t, fmt.Sprintf("m%02d@example.org", i), newsletter.ListNewsletter)
		}
		c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Once", Markdown: "Only once."})
		require.NoError(t, err)
		_, err = e.svc.Schedule(editor(), c.ID, e.clock.Now().Add(time.Minute))
		require.NoError(t, err)
		e.clock.Add(2 * time.Minute)

		procs := []*newsletter.Service{e.svc}
		for range 3 {
			cfg := e.config
			cfg.Auditor = &privacy.Auditor{Log: e.priv, Now: e.clock.Now}
			svc, err := newsletter.New(cfg)
			require.NoError(t, err)
			procs = append(procs, svc)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for _, svc := range procs {
			wg.Go(func() {
				n, err := svc.SendDue(ctx)
				assert.NoError(t, err)
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Equal(t, members, total, "every member enqueued once across the processes")
		e.sent(t, c.Ref(), members, "one message per member")
		for i := range members {
			assert.Len(t, e.subjects(fmt.Sprintf("m%02d@example.org", i)), 2, "a confirmation and one campaign message")
		}
	})
}

// TestCancelWhileSending: a campaign cancelled while it sends enqueues nothing more;
// what is already in the outbox goes out.
func TestCancelWhileSending(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.BatchSize, c.MaxQueued = 4, 4 })
		ctx := context.Background()
		const members = 10
		for i := range members {
			e.member(t, fmt.Sprintf("m%02d@example.org", i), newsletter.ListNewsletter)
		}
		e.settle(t)
		e.mail.Server.SetMode(mailtest.TempFail) // the first batch stays queued: the campaign waits on its backlog
		c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Halted", Markdown: "Part."})
		require.NoError(t, err)
		_, err = e.svc.Schedule(editor(), c.ID, time.Time{})
		require.NoError(t, err)
		sctx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		done := make(chan int)
		go func() {
			n, err := e.svc.SendDue(sctx)
			assert.NoError(t, err)
			done <- n
		}()
		require.Eventually(t, func() bool {
			p, err := e.svc.Progress(editor(), c.ID)
			return err == nil && p.Enqueued == 4 && p.Status == newsletter.CampaignSending
		}, 10*time.Second, 10*time.Millisecond)
		_, err = e.svc.Cancel(editor(), c.ID)
		require.NoError(t, err)
		e.mail.Server.SetMode(mailtest.Accept)
		assert.Equal(t, 4, <-done, "nothing enqueued after the cancel")
		e.sent(t, c.Ref(), 4, "the messages queued before the cancel")
		p, err := e.svc.Progress(editor(), c.ID)
		require.NoError(t, err)
		assert.Equal(t, newsletter.CampaignCancelled, p.Status)
		assert.Equal(t, 4, p.Sent)
		assert.Zero(t, p.ETA, "nothing more to wait for")
		got := 0
		for i := range members {
			got += len(e.subjects(fmt.Sprintf("m%02d@example.org", i))) - 1
		}
		assert.Equal(t, 4, got)
	})
}

// TestProgressRateAndETA: the rate is what settled over the time since sending
// started, and the time left is what remains at that rate.
func TestProgressRateAndETA(t *testing.T) {
	start := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    newsletter.Campaign
		st   privacy.OutboxStats
		at   time.Duration
		want newsletter.Progress
	}{
		{"not started", newsletter.Campaign{Status: newsletter.CampaignScheduled}, privacy.OutboxStats{}, time.Minute,
			newsletter.Progress{Status: newsletter.CampaignScheduled, ETA: -1}},
		{"nothing settled", newsletter.Campaign{Status: newsletter.CampaignSending, Total: 100, Enqueued: 20, StartedAt: start}, privacy.OutboxStats{Queued: 20}, time.Minute,
			newsletter.Progress{Status: newsletter.CampaignSending, Total: 100, Enqueued: 20, Queued: 20, ETA: -1}},
		{"sending", newsletter.Campaign{Status: newsletter.CampaignSending, Total: 100, Enqueued: 50, Skipped: 10, StartedAt: start}, privacy.OutboxStats{Queued: 10, Sent: 38, Failed: 2}, 20 * time.Second,
			newsletter.Progress{Status: newsletter.CampaignSending, Total: 100, Enqueued: 50, Skipped: 10, Queued: 10, Sent: 38, Failed: 2, Done: 50, Percent: 50, Rate: 2, ETA: 25}},
		{"enqueued, delivering", newsletter.Campaign{Status: newsletter.CampaignSent, Total: 90, Enqueued: 80, Skipped: 0, StartedAt: start}, privacy.OutboxStats{Queued: 20, Sent: 60}, 30 * time.Second,
			newsletter.Progress{Status: newsletter.CampaignSent, Total: 80, Enqueued: 80, Queued: 20, Sent: 60, Done: 60, Percent: 75, Rate: 2, ETA: 10}},
		{"done", newsletter.Campaign{Status: newsletter.CampaignSent, Total: 4, Enqueued: 4, StartedAt: start}, privacy.OutboxStats{Sent: 4}, 4 * time.Second,
			newsletter.Progress{Status: newsletter.CampaignSent, Total: 4, Enqueued: 4, Sent: 4, Done: 4, Percent: 100, Rate: 1, ETA: 0}},
		{"an empty list", newsletter.Campaign{Status: newsletter.CampaignSent, StartedAt: start}, privacy.OutboxStats{}, time.Second,
			newsletter.Progress{Status: newsletter.CampaignSent, Percent: 100, ETA: 0}},
		{"cancelled, draining", newsletter.Campaign{Status: newsletter.CampaignCancelled, Total: 100, Enqueued: 30, StartedAt: start}, privacy.OutboxStats{Queued: 10, Sent: 20}, 10 * time.Second,
			newsletter.Progress{Status: newsletter.CampaignCancelled, Total: 100, Enqueued: 30, Queued: 10, Sent: 20, Done: 20, Percent: 20, Rate: 2, ETA: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, newsletter.ProgressOf(tc.c, tc.st, start.Add(tc.at)))
		})
	}
}
