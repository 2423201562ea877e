package privacytest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/privacytest"
	"github.com/consentkit/consentkit/privacy/web"
)

func TestCheckNoCookies(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/clean", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/sid", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "1"})
	})
	mux.HandleFunc("/two", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
	})
	err := privacytest.CheckNoCookies(mux, httptest.NewRequest("GET", "/clean", nil),
		httptest.NewRequest("GET", "/sid", nil), httptest.NewRequest("POST", "/two", nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /sid: response sets 1 cookie(s): sid")
	assert.Contains(t, err.Error(), "POST /two: response sets 2 cookie(s): a, b", "every violation is reported")
	assert.NotContains(t, err.Error(), "/clean")

	srv := httptest.NewServer(mux)
	defer srv.Close()
	err = privacytest.CheckNoCookiesHTTP(srv.Client(), srv.URL, "/clean", "/sid")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /sid")
	assert.NoError(t, privacytest.CheckNoCookies(web.NoCookies(mux, web.NoCookiesOptions{}), httptest.NewRequest("GET", "/sid", nil)),
		"the NoCookies middleware fixes the broken handler")
}

// declaring is a holder that declares purposes and holds nothing.
type declaring []privacy.Purpose

func (d declaring) Contract() privacy.Contract {
	c := privacy.Contract{Name: "declaring"}
	for _, p := range d {
		c.Purposes = append(c.Purposes, privacy.PurposeUse{Purpose: p, Description: "for " + string(p)})
	}
	return c
}

func registry(hs ...privacy.Holder) *privacy.Registry {
	r := &privacy.Registry{}
	for _, h := range hs {
		r.Register(h)
	}
	return r
}

func TestCheckMail(t *testing.T) {
	p := mailtest.Policy()
	r := registry(declaring{privacy.Purpose("support")})
	good := privacy.Message{Purpose: privacy.Purpose("support"), DataSubject: "ann@example.org", From: privacy.Address{Email: "noreply@example.com"},
		To: privacy.Address{Email: "ann@example.org"}, Subject: "Re: your question"}
	toOperator := good
	toOperator.To, toOperator.ReplyTo = privacy.Address{Email: "support@example.com"}, privacy.Address{Email: "ann@example.org"}
	require.NoError(t, privacytest.CheckMail(p, r, []privacy.Message{good, toOperator}))

	thirdParty := good
	thirdParty.To = privacy.Address{Email: "list-buyer@partner.example.net"}
	undeclared := good
	undeclared.Purpose = "marketing"
	spoofed := good
	spoofed.From = privacy.Address{Email: "ceo@elsewhere.example.net"}
	replyLeak := toOperator
	replyLeak.ReplyTo = privacy.Address{Email: "someone-else@example.org"}
	err := privacytest.CheckMail(p, r, []privacy.Message{good, thirdParty, undeclared, spoofed, replyLeak})
	require.Error(t, err)
	for _, want := range []string{"message 1", "list-buyer@partner.example.net", "message 2", "not declared", "message 3", "outside the operator", "message 4", "someone-else@example.org"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "message 0")
}

func TestRecorderWithDispatcher(t *testing.T) {
	store := memstore.New()
	rec := &privacytest.Recorder{}
	m := privacy.NewMailer(mailtest.Policy(), store, nil)
	m.Allow(privacy.Purpose("account"), privacy.AllowFunc(func(context.Context, privacy.Purpose, string) (bool, error) { return true, nil }))
	d := &privacy.Dispatcher{Store: store, Transport: rec, Mailer: m, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	_, err := m.Send(ctx, privacy.Message{Purpose: privacy.Purpose("account"), DataSubject: "ann@example.org",
		To: privacy.Address{Email: "ann@example.org"}, Subject: "Verify", Text: "link"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rec.Messages()) == 1 }, 5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	assert.NoError(t, privacytest.CheckMail(mailtest.Policy(), registry(declaring{privacy.Purpose("account")}), rec.Messages()))
}

func TestCheckTables(t *testing.T) {
	db := mysqltest.New(t)
	ctx := context.Background()
	db.MustExec(`CREATE TABLE tracking_days (day DATE, domain VARCHAR(100), n INT)`)
	db.MustExec(`CREATE TABLE tracking_browsers (day DATE, browser VARCHAR(100), n INT)`)
	db.MustExec(`INSERT INTO tracking_days VALUES ('2026-11-01', 'example.net', 4), ('2026-11-01', '192.0.2.77', 1)`)
	db.MustExec(`INSERT INTO tracking_browsers VALUES ('2026-11-01', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', 1)`)

	err := privacytest.CheckTables(ctx, db.DB, []string{"192.0.2.77", "mozilla/5.0 (x11; linux x86_64) firefox/140.0", "ann@example.org"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table tracking_days, row 2, column domain")
	assert.Contains(t, err.Error(), "table tracking_browsers, row 1, column browser", "both violations, case-insensitively")
	assert.NotContains(t, err.Error(), "ann@example.org")
	assert.NoError(t, privacytest.CheckTables(ctx, db.DB, []string{"192.0.2.77"}, "tracking_browsers"), "only the named tables")
}

// guestbook is a made-up holder with a section, a category and a purpose.
type guestbook struct{}

func (guestbook) Contract() privacy.Contract {
	return privacy.Contract{
		Name:       "guestbook",
		Categories: []privacy.Category{{Name: "guestbook-entries", Description: "Entries you signed", Retention: 90 * 24 * time.Hour, RetentionOf: "signing"}},
		Purposes:   []privacy.PurposeUse{{Purpose: privacy.Purpose("support"), Description: "to thank you for signing"}},
		Sections:   []privacy.Section{{Heading: privacy.SectionCollected, Text: "**The guestbook.** Signing it takes a name and an `email` address."}},
	}
}

// counter is a made-up holder that counts visits.
type counter struct{}

func (counter) Contract() privacy.Contract {
	return privacy.Contract{Name: "counter", Sections: []privacy.Section{{Heading: privacy.SectionVisits, Text: "We count visits, and \"nothing else\"."}}}
}

func TestCheckPolicyPage(t *testing.T) {
	p := mailtest.Policy()
	r := registry(guestbook{}, counter{})
	page, err := web.PolicyHTML(p, r)
	require.NoError(t, err)
	require.NoError(t, privacytest.CheckPolicyPage(string(page), p, r), "the library's own page describes its configuration")
	md, err := web.PolicyMarkdown(p, r)
	require.NoError(t, err)
	require.NoError(t, privacytest.CheckPolicyPage(string(md), p, r), "in Markdown too")

	stale, err := web.PolicyHTML(p, registry(guestbook{}))
	require.NoError(t, err)
	err = privacytest.CheckPolicyPage(string(stale), p, r)
	require.Error(t, err, "a page rendered for another configuration fails")
	assert.Contains(t, err.Error(), `holder counter: its text under "How we count visits" is not on the page`)
	assert.Contains(t, err.Error(), `yet the page says "We do not count`)
	err = privacytest.CheckPolicyPage(string(page), p, registry(counter{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `the page does not say "This site has no forms`)

	err = privacytest.CheckPolicyPage(strings.ReplaceAll(string(page), "3 months after signing", "forever"), p, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `category "guestbook-entries" is not listed as kept 3 months after signing`)
	err = privacytest.CheckPolicyPage(strings.ReplaceAll(string(page), "sets no cookies", "uses cookies"), p, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no cookies")
}
