package comments_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

const wait = 5 * time.Second

// TestReplyNotifications walks the whole follow-up path over real SMTP: a reply
// notification goes only to a confirmed commenter who asked for it on that comment,
// and never after the stop link was used.
func TestReplyNotifications(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		srv := e.mail.Server
		reply := func(parent int64, who, addr, text string) {
			t.Helper()
			e.post(t, comments.Input{ParentID: parent, Name: who, Email: addr, Body: text})
		}
		replies := func() int { return e.outbox(t, "comments:reply") }

		// Ann asks; the confirmation mail goes out at once, with a stop link.
		q := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Does this work?", FollowUp: true})
		msgs := srv.Wait(1, wait)
		require.Len(t, msgs, 1)
		conf := msgs[0]
		assert.Equal(t, []string{ann}, conf.To)
		assert.Equal(t, "Confirm reply notifications", conf.Subject())
		assert.Contains(t, conf.Header.Get("List-Unsubscribe"), base+"/stop/")
		assert.Equal(t, "List-Unsubscribe=One-Click", conf.Header.Get("List-Unsubscribe-Post"))
		confirmPath := link(t, conf.Text, "confirm")

		// Asking again while the confirmation is pending sends nothing more.
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Another question", FollowUp: true})
		assert.Equal(t, 1, e.outbox(t, "comments:confirm"))

		// Not confirmed: a reply is not mailed.
		reply(q.Comment.ID, "Bob", bob, "Yes it does.")
		assert.Zero(t, replies(), "an unconfirmed commenter gets no reply mail")

		// Opening the link (as a mail scanner would) changes nothing.
		w := e.get(t, confirmPath, "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `<form method="post">`)
		reply(q.Comment.ID, "Bob", bob, "Still works.")
		assert.Zero(t, replies(), "GET on the confirmation link confirms nothing")

		w = e.postForm(t, confirmPath, url.Values{})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), "confirmed")
		w = e.postForm(t, confirmPath, url.Values{})
		assert.Equal(t, http.StatusNotFound, w.Code, "a confirmation link works once")

		// Confirmed and asked: a reply is mailed, naming the replier but not their address.
		reply(q.Comment.ID, "Bob", bob, "Third *reply*.")
		require.Equal(t, 1, replies())
		msgs = srv.Wait(2, wait)
		require.Len(t, msgs, 2)
		note := msgs[1]
		assert.Equal(t, []string{ann}, note.To)
		assert.Equal(t, "New reply to your comment", note.Subject())
		assert.Contains(t, note.Text, "Bob replied")
		assert.Contains(t, note.Text, "Third *reply*.")
		assert.Contains(t, note.Text, base+"/t/"+topic+"#c")
		assert.NotContains(t, strings.ToLower(string(note.Raw)), strings.ToLower(bob))
		stopURL := note.Header.Get("List-Unsubscribe")
		assert.Contains(t, stopURL, base+"/stop/")
		stopPath := link(t, note.Text, "stop")
		assert.Contains(t, stopURL, stopPath, "the header and the text carry the same stop link")

		// Her own reply, and a reply to a comment where she did not ask, are not mailed.
		reply(q.Comment.ID, "Ann", ann, "Thanks Bob.")
		silent := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "No mail for this one, please."})
		reply(silent.Comment.ID, "Bob", bob, "Noted.")
		assert.Equal(t, 1, replies())

		// One-click stop, as a mail client sends it.
		r, _ := http.NewRequest(http.MethodPost, stopPath, strings.NewReader("List-Unsubscribe=One-Click"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w = e.serve(t, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		reply(q.Comment.ID, "Bob", bob, "Are you there?")
		assert.Equal(t, 1, replies(), "never after the stop link was used")
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Asking once more", FollowUp: true})
		assert.Equal(t, 1, e.outbox(t, "comments:confirm"), "a stopped address gets no new confirmation")
		_, err := e.mail.Mailer.Send(ctx, privacy.Message{Purpose: comments.PurposeFollowUp, DataSubject: ann,
			To: privacy.Address{Email: ann}, Subject: "Hello", Text: "Anything"})
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re, "the mail guard itself refuses a stopped address")
		assert.Equal(t, privacy.RefusedPurpose, re.Reason)

		// Resuming through the same link restores notifications.
		w = e.postForm(t, stopPath, url.Values{"action": {"resume"}})
		require.Equal(t, http.StatusOK, w.Code)
		reply(q.Comment.ID, "Bob", bob, "Welcome back.")
		assert.Equal(t, 2, replies())
		srv.Wait(3, wait)
		assert.Len(t, srv.To(ann), 3)
		assert.Empty(t, srv.To(bob), "Bob never asked for anything")
	})
}

func TestReplyMailOnApproval(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		q := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Question", FollowUp: true})
		require.NoError(t, e.svc.Approve(moderator(), q.Comment.ID))
		conf := e.mail.Server.Wait(1, wait)
		require.Len(t, conf, 1)
		require.Equal(t, http.StatusOK, e.postForm(t, link(t, conf[0].Text, "confirm"), url.Values{}).Code)

		r := e.post(t, comments.Input{ParentID: q.Comment.ID, Name: "Bob", Email: bob, Body: "Answer"})
		require.Equal(t, comments.StatusPending, r.Status)
		assert.Zero(t, e.outbox(t, "comments:reply"), "a reply nobody can see yet is not announced")
		require.NoError(t, e.svc.Approve(moderator(), r.Comment.ID))
		assert.Equal(t, 1, e.outbox(t, "comments:reply"))
		msgs := e.mail.Server.Wait(2, wait)
		require.Len(t, msgs, 2)
		assert.Equal(t, []string{ann}, msgs[1].To)
	})
}

func TestConfirmationExpires(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Question", FollowUp: true})
		msgs := e.mail.Server.Wait(1, wait)
		require.Len(t, msgs, 1)
		confirmPath := link(t, msgs[0].Text, "confirm")

		e.clock.Add(48 * time.Hour)
		assert.Equal(t, http.StatusGone, e.get(t, confirmPath, "").Code)
		assert.Equal(t, http.StatusGone, e.postForm(t, confirmPath, url.Values{}).Code)
		_, err := e.mail.Mailer.Send(ctx, privacy.Message{Purpose: comments.PurposeFollowUp, DataSubject: ann,
			To: privacy.Address{Email: ann}, Subject: "Late", Text: "A confirmation delivered after its link expired"})
		assert.ErrorIs(t, err, privacy.ErrRefused, "the pending allowance ends with the link")

		n, err := e.svc.Purge(ctx, e.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the unconfirmed request is purged")
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Asking again", FollowUp: true})
		assert.Equal(t, 2, e.outbox(t, "comments:confirm"), "a new request after expiry sends a new link")
	})
}

func TestSuppressedAddressStillComments(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		require.NoError(t, e.priv.Suppress(ctx, dee, "bounced", e.clock.Now()))
		p := e.post(t, comments.Input{Name: "Dee", Email: dee, Body: "My mail bounces", FollowUp: true})
		assert.Equal(t, comments.StatusApproved, p.Status)
		assert.Zero(t, e.outbox(t, "comments:confirm"))
		assert.Equal(t, int64(1), e.mail.Mailer.Refusals()[privacy.RefusedSuppressed])
		_, err := e.store.Subscriber(ctx, dee)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "the request whose mail was refused is undone")
		_, err = e.store.Comment(ctx, p.Comment.ID)
		assert.NoError(t, err, "the comment is kept")
	})
}

// brokenOutbox fails every enqueue, as a lost database connection would.
type brokenOutbox struct{ privacy.OutboxStore }

func (brokenOutbox) Enqueue(context.Context, *privacy.Message) (int64, error) {
	return 0, errors.New("connection lost")
}

func TestMailFailureStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		svc, err := comments.New(comments.Config{Store: e.store, Mailer: privacy.NewMailer(e.policy, brokenOutbox{e.priv}, nil),
			Auditor: e.auditor, Key: e.key, BaseURL: base, Now: e.clock.Now, Moderation: comments.ModerateNone})
		require.NoError(t, err)
		_, err = svc.Post(ctx, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: "Hello", FollowUp: true})
		require.Error(t, err)
		assert.NotErrorIs(t, err, privacy.ErrRefused)
		th, err := svc.Thread(ctx, topic)
		require.NoError(t, err)
		assert.Empty(t, th.Comments, "the comment whose mail could not be enqueued is not stored")
		_, err = e.store.Subscriber(ctx, ann)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
	})
}

func TestStopAndConfirmLinks(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hi", FollowUp: true})
	msgs := e.mail.Server.Wait(1, wait)
	require.Len(t, msgs, 1)
	stopPath := link(t, msgs[0].Text, "stop")

	w := e.get(t, stopPath, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "Stop reply emails")
	sub, err := e.store.Subscriber(ctx, ann)
	require.NoError(t, err)
	assert.True(t, sub.Stopped.IsZero(), "GET on the stop link changes nothing")

	w = e.get(t, stopPath, "application/json")
	assert.JSONEq(t, `{"stopped":false}`, w.Body.String())

	// Some mail clients send the one-click POST as multipart.
	r, _ := http.NewRequest(http.MethodPost, stopPath, strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n"))
	r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	w = e.serve(t, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "Email me about replies again")
	sub, _ = e.store.Subscriber(ctx, ann)
	assert.False(t, sub.Stopped.IsZero())
	confirm := link(t, msgs[0].Text, "confirm")
	assert.Equal(t, http.StatusNotFound, e.postForm(t, confirm, url.Values{}).Code, "stopping cancels the pending confirmation")

	for _, p := range []string{"/stop/" + strings.Repeat("A", 43), "/stop/nope", "/confirm/" + strings.Repeat("A", 43), "/manage/x"} {
		assert.Equal(t, http.StatusNotFound, e.get(t, p, "").Code, p)
		assert.Equal(t, http.StatusNotFound, e.postForm(t, p, url.Values{}).Code, p)
	}
	assert.Equal(t, http.StatusBadRequest, e.postForm(t, stopPath, url.Values{"action": {"explode"}}).Code)
}

// TestPendingGetsOnlyConfirmation: while an address's request is pending, the guard
// lets the confirmation through and refuses every other follow-up message, at Send
// and again at delivery; once confirmed, a reply notification passes.
func TestPendingGetsOnlyConfirmation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Does this work?", FollowUp: true})
		msgs := e.mail.Server.Wait(1, wait)
		require.Len(t, msgs, 1)
		assert.Equal(t, "Confirm reply notifications", msgs[0].Subject())
		assert.Equal(t, 1, e.outbox(t, comments.ConfirmRef))

		note := privacy.Message{Purpose: comments.PurposeFollowUp, DataSubject: ann, To: privacy.Address{Email: ann},
			Subject: "New reply to your comment", Text: "Bob replied.", Ref: comments.ReplyRef}
		_, err := e.mail.Mailer.Send(ctx, note)
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re, "refused at Send")
		assert.Equal(t, privacy.RefusedPurpose, re.Reason)

		// Past Send, straight into the outbox: only the re-check before delivery is left.
		note.From = privacy.Address{Email: e.policy.SenderAddress()}
		_, err = e.priv.Enqueue(ctx, &note)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st, err := e.priv.OutboxStats(ctx, comments.ReplyRef)
			return err == nil && st.Failed == 1
		}, wait, 10*time.Millisecond, "refused at delivery")
		assert.Len(t, e.mail.Server.To(ann), 1, "only the confirmation reached the pending address")

		w := e.postForm(t, link(t, msgs[0].Text, "confirm"), url.Values{})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		_, err = e.mail.Mailer.Send(ctx, note)
		require.NoError(t, err, "a confirmed address gets reply notifications")
		require.Eventually(t, func() bool { return len(e.mail.Server.To(ann)) == 2 }, wait, 10*time.Millisecond)
	})
}
