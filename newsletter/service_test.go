package newsletter_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	newsmem "github.com/consentkit/consentkit/newsletter/memstore"
	newsmysql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

const ann = "ann@example.org"

func TestSubscribeConfirm(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		require.NoError(t, e.svc.Subscribe(ctx, " ann@EXAMPLE.org ", []newsletter.List{newsletter.ListPromotions, newsletter.ListNewsletter}))

		msgs := e.mails(t, ann, 1)
		require.Len(t, msgs, 1, "one confirmation for both lists")
		assert.Equal(t, "Please confirm your subscription to Newsletter and Promotions of Example Ltd", msgs[0].Subject())
		assert.Empty(t, msgs[0].Header.Get("List-Unsubscribe"), "a confirmation is no list mail")
		path := link(t, msgs[0].Text, "confirm")
		for _, l := range bothLists {
			assert.Equal(t, newsletter.StatusPending, e.status(t, ann, l))
		}
		hist, err := e.priv.ConsentHistory(ctx, ann)
		require.NoError(t, err)
		require.Len(t, hist, 2)
		for _, c := range hist {
			assert.True(t, c.Granted)
			assert.Contains(t, []string{newsletter.ConsentSource(newsletter.SourceForm, newsletter.ListNewsletter), newsletter.ConsentSource(newsletter.SourceForm, newsletter.ListPromotions)}, c.Source, "the record names its list")
			assert.Equal(t, e.policy.Version, c.PolicyVersion)
		}
		assert.ElementsMatch(t, []privacy.Purpose{newsletter.PurposeNewsletter, newsletter.PurposePromotions}, []privacy.Purpose{hist[0].Purpose, hist[1].Purpose})

		// A link scanner following the link changes nothing.
		for range 2 {
			res := e.do(t, http.MethodGet, path, "", "")
			require.Equal(t, http.StatusOK, res.Code, res.Body)
			assert.Contains(t, res.Body, "Newsletter and Promotions")
			assert.Contains(t, res.Body, `<form method="post" action="/newsletter/confirm?t=`)
			assert.Equal(t, newsletter.StatusPending, e.status(t, ann, newsletter.ListNewsletter))
		}
		res := e.do(t, http.MethodHead, path, "", "")
		assert.Equal(t, newsletter.StatusPending, e.status(t, ann, newsletter.ListNewsletter), "HEAD changes nothing")

		res = e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", "")
		require.Equal(t, http.StatusOK, res.Code, res.Body)
		assert.Contains(t, res.Body, "you will receive Newsletter and Promotions")
		for _, l := range bothLists {
			assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, l))
		}
		hist, err = e.priv.ConsentHistory(ctx, ann)
		require.NoError(t, err)
		require.Len(t, hist, 4)
		assert.Equal(t, newsletter.ConsentSource(newsletter.SourceConfirm, newsletter.ListPromotions), hist[3].Source)
		assert.True(t, hist[3].Granted)

		res = e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", "")
		assert.Equal(t, http.StatusGone, res.Code, "a used link is gone")
		res = e.do(t, http.MethodGet, path, "", "")
		assert.Equal(t, http.StatusGone, res.Code)
	})
}

func TestSubscribeSendsNoFlood(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	nl := []newsletter.List{newsletter.ListNewsletter}
	require.NoError(t, e.svc.Subscribe(ctx, ann, nl))
	require.NoError(t, e.svc.Subscribe(ctx, ann, nl))
	e.settle(t)
	assert.Len(t, e.mail.Server.To(ann), 1, "a second ask within ResendAfter sends nothing")

	e.clock.Add(11 * time.Minute)
	require.NoError(t, e.svc.Subscribe(ctx, ann, nl))
	msgs := e.mails(t, ann, 2)
	_, err := e.svc.Confirm(ctx, token(t, link(t, msgs[0].Text, "confirm")))
	assert.ErrorIs(t, err, privacy.ErrGone, "a re-sent confirmation replaces the earlier link")
	_, err = e.svc.Confirm(ctx, token(t, link(t, msgs[1].Text, "confirm")))
	require.NoError(t, err)

	require.NoError(t, e.svc.Subscribe(ctx, ann, nl))
	e.settle(t)
	assert.Len(t, e.mail.Server.To(ann), 2, "a confirmed member asking again gets nothing")
	assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter))
}

func TestConfirmExpires(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	require.NoError(t, e.svc.Subscribe(ctx, ann, []newsletter.List{newsletter.ListNewsletter}))
	tok := token(t, link(t, e.mails(t, ann, 1)[0].Text, "confirm"))
	e.clock.Add(7*24*time.Hour + time.Minute)
	_, err := e.svc.PendingConfirmation(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrGone)
	_, err = e.svc.Confirm(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrGone)
	assert.Equal(t, newsletter.StatusPending, e.status(t, ann, newsletter.ListNewsletter))
	ok, err := e.svc.Allows(ctx, newsletter.PurposeNewsletter, ann)
	require.NoError(t, err)
	assert.False(t, ok, "an expired confirmation allows no mail")
}

func TestSubscribeValidation(t *testing.T) {
	e := newEnv(t, "mem")
	nl := []newsletter.List{newsletter.ListNewsletter}
	for _, tc := range []struct {
		name  string
		email string
		lists []newsletter.List
		field string
	}{
		{"ErrEmailRequired", "", nl, "email"},
		{"ErrEmailInvalid", "not-an-address", nl, "email"},
		{"ErrEmailDisplayName", "Ann <ann@example.org>", nl, "email"},
		{"ErrEmailHeaderInjection", "ann@example.org\r\nBcc: x@example.net", nl, "email"},
		{"ErrEmailNoDot", "ann@localhost", nl, "email"},
		{"ErrListsNone", ann, nil, "lists"},
		{"ErrListsUnknown", ann, []newsletter.List{"partners"}, "lists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.Subscribe(context.Background(), tc.email, tc.lists)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
	subs, err := e.store.Subscriptions(context.Background(), ann)
	require.NoError(t, err)
	assert.Empty(t, subs, "nothing stored")
	st, _ := e.priv.OutboxStats(context.Background(), "")
	assert.Zero(t, st.Total(), "nothing sent")
}

func TestSuppressedAddressSubscribesQuietly(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		require.NoError(t, e.priv.Suppress(ctx, ann, "complaint", time.Now()))
		require.NoError(t, e.svc.Subscribe(ctx, ann, []newsletter.List{newsletter.ListNewsletter}), "the visitor learns nothing")
		assert.Equal(t, newsletter.Status(""), e.status(t, ann, newsletter.ListNewsletter), "nothing stored")
		hist, _ := e.priv.ConsentHistory(ctx, ann)
		assert.Empty(t, hist, "no consent record for a change that did not happen")
		st, _ := e.priv.OutboxStats(ctx, "")
		assert.Zero(t, st.Total())
	})
}

func TestAllows(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	e.member(t, "member@example.org", newsletter.ListNewsletter)
	require.NoError(t, e.svc.Subscribe(ctx, "pending@example.org", []newsletter.List{newsletter.ListNewsletter}))
	e.member(t, "left@example.org", newsletter.ListNewsletter)
	_, err := e.consents.Record(ctx, "left@example.org", newsletter.PurposeNewsletter, false, "account-settings")
	require.NoError(t, err)
	_, err = e.svc.SyncConsents(ctx)
	require.NoError(t, err)

	for _, tc := range []struct {
		addr    string
		purpose privacy.Purpose
		want    bool
	}{
		{"member@example.org", newsletter.PurposeNewsletter, true},
		{"member@example.org", newsletter.PurposePromotions, false},
		{"member@example.org", privacy.Purpose("account"), false},
		{"pending@example.org", newsletter.PurposeNewsletter, true}, // its confirmation may go out
		{"left@example.org", newsletter.PurposeNewsletter, false},
		{"stranger@example.org", newsletter.PurposeNewsletter, false},
	} {
		got, err := e.svc.Allows(ctx, tc.purpose, tc.addr)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s for %s", tc.addr, tc.purpose)
	}
	// A campaign send admits only the recipient its batch read as a confirmed member.
	for _, tc := range []struct {
		mark, subject string
		purpose       privacy.Purpose
		want          bool
	}{
		{"member@example.org", "member@example.org", newsletter.PurposeNewsletter, true},
		{"member@example.org", "pending@example.org", newsletter.PurposeNewsletter, false},
		{"pending@example.org", "pending@example.org", newsletter.PurposePromotions, false},
		{"member@example.org", "stranger@example.org", newsletter.PurposeNewsletter, false},
	} {
		got, err := e.svc.Allows(newsletter.WithCampaignMark(ctx, tc.mark, newsletter.ListNewsletter), tc.purpose, tc.subject)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "campaign to %s marked %s", tc.subject, tc.mark)
	}

	e.clock.Add(8 * 24 * time.Hour)
	got, err := e.svc.Allows(ctx, newsletter.PurposeNewsletter, "pending@example.org")
	require.NoError(t, err)
	assert.False(t, got, "once the confirmation expired a pending address gets nothing")
}

func TestAllowsMessage(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	e.member(t, "member@example.org", newsletter.ListNewsletter)
	require.NoError(t, e.svc.Subscribe(ctx, "pending@example.org", []newsletter.List{newsletter.ListNewsletter}))
	c, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "S", Markdown: "M"})
	require.NoError(t, err)
	require.Equal(t, "campaign:1", c.Ref())

	cases := []struct {
		addr    string
		purpose privacy.Purpose
		ref     string
		want    bool
	}{
		{"member@example.org", newsletter.PurposeNewsletter, "campaign:1", true},
		{"member@example.org", newsletter.PurposeNewsletter, newsletter.ConfirmRef, true},
		{"member@example.org", newsletter.PurposePromotions, "campaign:1", false},
		{"pending@example.org", newsletter.PurposeNewsletter, newsletter.ConfirmRef, true},
		{"pending@example.org", newsletter.PurposeNewsletter, "campaign:1", false},
		{"pending@example.org", newsletter.PurposeNewsletter, "", false},
		{"pending@example.org", newsletter.PurposePromotions, newsletter.ConfirmRef, false},
		{"stranger@example.org", newsletter.PurposeNewsletter, newsletter.ConfirmRef, false},
		{"MEMBER@example.org", newsletter.PurposeNewsletter, "campaign:1", true},
		{"member@example.org", privacy.Purpose("account"), "", false},
	}
	var msgs []*privacy.Message
	for _, tc := range cases {
		msg := &privacy.Message{Purpose: tc.purpose, DataSubject: tc.addr, Ref: tc.ref}
		msgs = append(msgs, msg)
		got, err := e.svc.AllowsMessage(ctx, msg)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s for %s ref %q", tc.addr, tc.purpose, tc.ref)
	}
	// The Dispatcher's re-check of a batch asks once and must get the same answers.
	batch, err := e.svc.AllowsMessages(ctx, msgs)
	require.NoError(t, err)
	for i, tc := range cases {
		assert.Equal(t, tc.want, batch[i], "batch: %s for %s ref %q", tc.addr, tc.purpose, tc.ref)
	}

	e.clock.Add(8 * 24 * time.Hour)
	got, err := e.svc.AllowsMessage(ctx, &privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: "pending@example.org", Ref: newsletter.ConfirmRef})
	require.NoError(t, err)
	assert.False(t, got, "once the confirmation expired not even a confirmation goes out")
}

// A pending subscriber gets the confirmation and nothing else, whether the other
// message is refused at Send or only by the re-check just before delivery.
func TestPendingGetsOnlyConfirmation(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		const pending = "pending@example.org"
		require.NoError(t, e.svc.Subscribe(ctx, pending, []newsletter.List{newsletter.ListNewsletter}))
		msgs := e.mails(t, pending, 1)
		assert.Contains(t, msgs[0].Subject(), "Please confirm")
		e.sent(t, newsletter.ConfirmRef, 1, "the confirmation carries its fixed Ref")

		campaign := privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: pending,
			To: privacy.Address{Email: pending}, Subject: "Issue 1", Text: "News",
			Unsubscribe: "http://127.0.0.1:8080/newsletter/unsubscribe?t=x", Ref: "news:901"}
		_, err := e.mail.Mailer.Send(ctx, campaign)
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re, "refused at Send")
		assert.Equal(t, privacy.RefusedPurpose, re.Reason)

		// Past Send, straight into the outbox: only the re-check before delivery is left.
		campaign.Ref = "news:902"
		campaign.From = privacy.Address{Email: e.policy.SenderAddress()}
		_, err = e.priv.Enqueue(ctx, &campaign)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st, err := e.priv.OutboxStats(ctx, "news:902")
			return err == nil && st.Failed == 1
		}, 10*time.Second, 10*time.Millisecond, "refused at delivery")
		assert.Len(t, e.mail.Server.To(pending), 1, "only the confirmation reached the pending subscriber")

		// Confirmed, the same message goes out.
		_, err = e.svc.Confirm(ctx, token(t, link(t, msgs[0].Text, "confirm")))
		require.NoError(t, err)
		campaign.Ref = "news:903"
		_, err = e.mail.Mailer.Send(ctx, campaign)
		require.NoError(t, err)
		e.mails(t, pending, 2)
	})
}

func TestSyncConsents(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		rec := func(addr string, p privacy.Purpose, granted bool, source string) {
			_, err := e.consents.Record(ctx, addr, p, granted, source)
			require.NoError(t, err)
		}
		rec(ann, newsletter.PurposeNewsletter, true, "registration")
		rec(ann, newsletter.PurposePromotions, true, "registration")
		rec("bob@example.org", newsletter.PurposeNewsletter, true, "registration")
		rec("cy@example.org", newsletter.PurposeNewsletter, true, "imported-list") // only registration opt-ins count
		rec("dan@example.org", privacy.Purpose("account"), true, "registration")   // not a list purpose
		rec("eve@example.org", newsletter.PurposeNewsletter, true, newsletter.SourceForm)

		n, err := e.svc.SyncConsents(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		msgs := e.mails(t, ann, 1)
		assert.Contains(t, msgs[0].Subject(), "Newsletter and Promotions", "one confirmation for both opt-ins")
		e.mails(t, "bob@example.org", 1)
		e.settle(t)
		for _, a := range []string{"cy@example.org", "dan@example.org", "eve@example.org"} {
			assert.Empty(t, e.mail.Server.To(a), a)
			assert.Equal(t, newsletter.Status(""), e.status(t, a, newsletter.ListNewsletter), a)
		}
		sub, err := e.store.Subscription(ctx, ann, newsletter.ListPromotions)
		require.NoError(t, err)
		assert.Equal(t, newsletter.StatusPending, sub.Status, "a registration opt-in is still double opt-in")
		assert.Equal(t, newsletter.SourceRegistration, sub.Source)

		n, err = e.svc.SyncConsents(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "the cursor moved past what was done")

		// The cursor is in the store: a restarted service does not act again.
		again, err := newsletter.New(newsletter.Config{Store: e.store, Mailer: e.mail.Mailer, Outbox: e.priv, Consents: e.consents,
			Auditor: &privacy.Auditor{Log: e.priv}, Secret: secret})
		require.NoError(t, err)
		n, err = again.SyncConsents(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)

		// Confirming writes this package's own records, which sync skips; a
		// withdrawal recorded elsewhere takes the member off the list.
		_, err = e.svc.Confirm(ctx, token(t, link(t, e.mails(t, "bob@example.org", 1)[0].Text, "confirm")))
		require.NoError(t, err)
		rec("bob@example.org", newsletter.PurposeNewsletter, false, "account-settings")
		n, err = e.svc.SyncConsents(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, "bob@example.org", newsletter.ListNewsletter))
		e.settle(t)
		assert.Len(t, e.mail.Server.To("bob@example.org"), 1)
	})
}

func TestSyncConsentsInBatches(t *testing.T) {
	e := newEnv(t, "mem", func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.SyncBatch = 3 })
	ctx := context.Background()
	for i := range 8 {
		_, err := e.consents.Record(ctx, "r"+string(rune('a'+i))+"@example.org", newsletter.PurposeNewsletter, true, "registration")
		require.NoError(t, err)
	}
	n, err := e.svc.SyncConsents(ctx)
	require.NoError(t, err)
	assert.Equal(t, 8, n, "every batch is read in one call")
	n, err = e.svc.SyncConsents(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestUnsubscribeOneClick(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		e.member(t, ann, newsletter.ListNewsletter, newsletter.ListPromotions)
		e.campaign(t, newsletter.ListNewsletter, "Issue 1", "Hello **readers**.")
		msg := e.mails(t, ann, 2)[1]
		assert.Equal(t, "Issue 1", msg.Subject())
		hdr := msg.Header.Get("List-Unsubscribe")
		require.True(t, strings.HasPrefix(hdr, "<http://127.0.0.1:8080/newsletter/unsubscribe?t="), hdr)
		assert.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
		path := link(t, strings.Trim(hdr, "<>"), "unsubscribe")
		assert.Equal(t, path, link(t, msg.Text, "unsubscribe"), "the text has the same link")
		assert.Contains(t, msg.HTML, `href="http://127.0.0.1:8080`+path+`"`)

		res := e.do(t, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, res.Code, res.Body)
		assert.Contains(t, res.Body, "a***@example.org", "the address is masked")
		assert.NotContains(t, res.Body, ann)
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter), "GET changes nothing")

		// RFC 8058: the provider posts multipart/form-data with no Origin header.
		body := "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n"
		res = e.do(t, http.MethodPost, path, "multipart/form-data; boundary=b", body)
		require.Equal(t, http.StatusOK, res.Code, res.Body)
		assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, newsletter.ListNewsletter), "effective at once")
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListPromotions), "the other list is kept")
		hist, _ := e.priv.ConsentHistory(ctx, ann)
		last := hist[len(hist)-1]
		assert.Equal(t, privacy.Consent{Subject: ann, Purpose: newsletter.PurposeNewsletter, Granted: false, PolicyVersion: e.policy.Version, Source: newsletter.ConsentSource(newsletter.SourceOneClick, newsletter.ListNewsletter)},
			privacy.Consent{Subject: last.Subject, Purpose: last.Purpose, Granted: last.Granted, PolicyVersion: last.PolicyVersion, Source: last.Source})

		res = e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
		assert.Equal(t, http.StatusOK, res.Code, "unsubscribing twice is fine")

		e.campaign(t, newsletter.ListNewsletter, "Issue 2", "More.")
		e.campaign(t, newsletter.ListPromotions, "Offer", "Cheap.")
		e.mails(t, ann, 3)
		e.settle(t)
		assert.Equal(t, []string{"Please confirm your subscription to Newsletter and Promotions of Example Ltd", "Issue 1", "Offer"}, e.subjects(ann),
			"an unsubscribed member never gets the list again")
	})
}

func TestPreferencesLeaveOneList(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter, newsletter.ListPromotions)
	e.campaign(t, newsletter.ListPromotions, "Offer", "Cheap.")
	path := link(t, e.mails(t, ann, 2)[1].Text, "preferences")

	res := e.do(t, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusOK, res.Code)
	assert.Contains(t, res.Body, `name="newsletter" type="checkbox" value="on" checked`)
	assert.Contains(t, res.Body, `name="promotions" type="checkbox" value="on" checked`)

	res = e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", "newsletter=on")
	require.Equal(t, http.StatusOK, res.Code, res.Body)
	assert.Contains(t, res.Body, "You have left Promotions")
	assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter))
	assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, newsletter.ListPromotions))
	assert.Contains(t, res.Body, "Promotions: Occasional offers: not subscribed")

	res = e.do(t, http.MethodPost, path, "application/json", `{"newsletter": false}`)
	require.Equal(t, http.StatusOK, res.Code, res.Body)
	assert.JSONEq(t, `{"left":["newsletter"]}`, res.Body)
	assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, newsletter.ListNewsletter))

	res = e.do(t, http.MethodGet, path, "", "", "Accept", "application/json")
	assert.JSONEq(t, `{"email":"a***@example.org","subscriptions":[{"list":"newsletter","status":"unsubscribed"},{"list":"promotions","status":"unsubscribed"}]}`, res.Body)
}

func TestBadTokens(t *testing.T) {
	e := newEnv(t, "mem")
	e.member(t, ann, newsletter.ListNewsletter)
	e.campaign(t, newsletter.ListNewsletter, "Issue", "Hi.")
	good := token(t, link(t, e.mails(t, ann, 2)[1].Text, "unsubscribe"))
	forged := good[:len(good)-2] + "AA"
	if forged == good {
		forged = good[:len(good)-2] + "BB"
	}
	for _, tc := range []struct {
		name, page, tok string
		status          int
	}{
		{"UnsubscribeMissing", "unsubscribe", "", http.StatusBadRequest},
		{"UnsubscribeShort", "unsubscribe", "abc", http.StatusBadRequest},
		{"UnsubscribeForged", "unsubscribe", forged, http.StatusGone},
		{"PreferencesForged", "preferences", forged, http.StatusGone},
		{"ConfirmMissing", "confirm", "", http.StatusBadRequest},
		{"ConfirmUnknown", "confirm", "AAAAAAAAAAAAAAAAAAAAAA", http.StatusGone},
		{"ConfirmWithUnsubscribeToken", "confirm", good, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				res := e.do(t, m, "/newsletter/"+tc.page+"?t="+tc.tok, "application/x-www-form-urlencoded", "")
				assert.Equal(t, tc.status, res.Code, "%s %s", m, res.Body)
				assert.Contains(t, res.Body, "This link does not work")
			}
			res := e.do(t, http.MethodPost, "/newsletter/"+tc.page+"?t="+tc.tok, "application/json", "{}")
			assert.Equal(t, tc.status, res.Code)
			assert.Contains(t, res.Body, `"status":`)
		})
	}
	assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter), "no bad token changed anything")
}

func TestComplaintSuppresses(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	e.member(t, ann, newsletter.ListNewsletter, newsletter.ListPromotions)
	require.NoError(t, e.svc.ReportComplaint(ctx, ann))
	for _, l := range bothLists {
		assert.Equal(t, newsletter.StatusUnsubscribed, e.status(t, ann, l))
	}
	ok, err := e.priv.Suppressed(ctx, ann)
	require.NoError(t, err)
	assert.True(t, ok)
	hist, _ := e.priv.ConsentHistory(ctx, ann)
	assert.Equal(t, newsletter.ConsentSource(newsletter.SourceComplaint, newsletter.ListPromotions), hist[len(hist)-1].Source)
	require.NoError(t, e.svc.Subscribe(ctx, ann, []newsletter.List{newsletter.ListNewsletter}))
	e.settle(t)
	assert.Len(t, e.mail.Server.To(ann), 1, "a complainant gets not even a confirmation again")
	assert.ErrorIs(t, e.svc.ReportComplaint(ctx, "nope"), privacy.ErrInvalid)
}

func TestHolder(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		e.member(t, ann, newsletter.ListNewsletter)
		e.member(t, "bob@example.org", newsletter.ListNewsletter)
		reg := &privacy.Registry{}
		reg.Register(e.svc)
		require.NoError(t, reg.Check())

		out, err := reg.Export(ctx, ann)
		require.NoError(t, err)
		b, err := jsonOf(out["newsletter"])
		require.NoError(t, err)
		assert.Contains(t, b, `"email":"ann@example.org"`)
		assert.Contains(t, b, `"status":"confirmed"`)
		assert.NotContains(t, b, "bob", "only the subject's own data")
		assert.NotContains(t, b, "confirm_hash")

		none, err := e.svc.Export(ctx, "nobody@example.org")
		require.NoError(t, err)
		assert.Nil(t, none)

		res, err := reg.Erase(ctx, ann)
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, privacy.Erasure{Holder: "newsletter", Removed: 1}, res[0])
		assert.Equal(t, newsletter.Status(""), e.status(t, ann, newsletter.ListNewsletter))
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, "bob@example.org", newsletter.ListNewsletter))
	})
}

func TestPurge(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	require.NoError(t, e.svc.Subscribe(ctx, "pending@example.org", []newsletter.List{newsletter.ListNewsletter}))
	e.member(t, ann, newsletter.ListNewsletter)
	e.member(t, "left@example.org", newsletter.ListNewsletter)
	require.NoError(t, e.svc.ReportComplaint(ctx, "left@example.org"))

	n, err := e.svc.Purge(ctx, e.clock.Now())
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is past its time yet")
	n, err = e.svc.Purge(ctx, e.clock.Now().Add(8*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the never confirmed subscription, once its link expired")
	n, err = e.svc.Purge(ctx, e.clock.Now().Add(31*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the unsubscribed one, after the policy's retention")
	assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter))
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	ps := privacymem.New()
	m := privacy.NewMailer(mailtest.Policy(), ps, nil)
	ok := newsletter.Config{Store: newsmem.New(), Mailer: m, Outbox: ps, Consents: &privacy.Consents{Store: ps, Policy: mailtest.Policy()},
		Auditor: &privacy.Auditor{Log: ps}, Secret: secret}
	for _, tc := range []struct {
		name   string
		mutate func(c *newsletter.Config)
	}{
		{"NoStore", func(c *newsletter.Config) { c.Store = nil }},
		{"NoMailer", func(c *newsletter.Config) { c.Mailer = nil }},
		{"NoOutbox", func(c *newsletter.Config) { c.Outbox = nil }},
		{"NoConsents", func(c *newsletter.Config) { c.Consents = nil }},
		// The Outbox is an access log, and still no Auditor is taken from it unasked.
		{"NoAuditor", func(c *newsletter.Config) { c.Auditor = nil }},
		{"AuditorWithoutLog", func(c *newsletter.Config) { c.Auditor = &privacy.Auditor{} }},
		{"ShortSecret", func(c *newsletter.Config) { c.Secret = []byte("short") }},
		{"RelativeBaseURL", func(c *newsletter.Config) { c.BaseURL = "/newsletter" }},
		{"BaseURLWithQuery", func(c *newsletter.Config) { c.BaseURL = "https://example.com/n?x=1" }},
		{"BaseURLHeaderBreak", func(c *newsletter.Config) { c.BaseURL = "https://example.com/n\r\nX: y" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			_, err := newsletter.New(c)
			assert.Error(t, err)
			if strings.Contains(tc.name, "Auditor") {
				assert.ErrorContains(t, err, "Auditor")
			}
		})
	}
	_, err := newsletter.New(ok)
	assert.NoError(t, err)
}

// TestCaseVariantsAreOneSubscriber: twenty spellings of one address are one
// subscriber and get one confirmation, not twenty (audit #13 finding 10).
func TestCaseVariantsAreOneSubscriber(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		for i := range 20 {
			local := []byte("zedzed")
			for b := range local {
				if i&(1<<b) != 0 {
					local[b] -= 'a' - 'A'
				}
			}
			require.NoError(t, e.svc.Subscribe(ctx, string(local)+"@example.org", []newsletter.List{newsletter.ListNewsletter}))
		}
		e.settle(t)
		assert.Equal(t, 1, len(e.mail.Server.Messages()), "one confirmation")
		subs, err := e.store.Subscriptions(ctx, "ZEDZED@example.org")
		require.NoError(t, err)
		require.Len(t, subs, 1, "one subscriber")
		assert.Equal(t, "zedzed@example.org", subs[0].Email, "kept as first typed")
	})
}

// TestNewRefusesStoresOnTwoDatabases: a subscription and its confirmation mail
// must commit together, so New refuses a store on another database than the
// Mailer's.
func TestNewRefusesStoresOnTwoDatabases(t *testing.T) {
	db := mysqltest.New(t)
	sqlStore := newsmysql.New(db)
	cases := map[string]struct {
		store newsletter.Store
		priv  privacy.Store
	}{
		"MySQLBesideMemory": {sqlStore, privacymem.New()},
		"MemoryBesideMySQL": {newsmem.New(), privacymysql.New(db)},
		"TwoPools":          {sqlStore, privacymysql.New(mysqltest.New(t))},
	}
	cfg := func(store newsletter.Store, ps privacy.Store) newsletter.Config {
		return newsletter.Config{Store: store, Mailer: privacy.NewMailer(mailtest.Policy(), ps, nil), Outbox: ps,
			Consents: &privacy.Consents{Store: ps, Policy: mailtest.Policy()}, Auditor: &privacy.Auditor{Log: ps}, Secret: secret}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newsletter.New(cfg(tc.store, tc.priv))
			require.ErrorContains(t, err, "must be on one database")
			assert.ErrorContains(t, err, "newsletter")
		})
	}
	_, err := newsletter.New(cfg(sqlStore, privacymysql.New(db)))
	require.NoError(t, err, "one pool is one database")
}
