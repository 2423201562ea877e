package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/privacytest"
)

// TestExportThenErase puts one person in every capability on MySQL, exports them
// (every holder answers), erases them, and then finds their address in no table of
// the database, while the mail guard refuses to mail them.
func TestExportThenErase(t *testing.T) {
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	s, _ := startSite(t, config{MySQL: mysqltest.NewDSN(t), SMTP: "smtp://" + relay.Addr + "?tls=none"})
	ctx := context.Background()
	const who = "Everywhere@Example.org"

	_, err = s.accounts.Register(ctx, accounts.RegisterInput{Email: who, Password: "a long enough password",
		DisplayName: "Eve", BirthDate: "1990-01-01", Newsletter: true})
	require.NoError(t, err)
	verify := mailLink(t, relay, who, "", "/accounts/verify")
	u, err := url.Parse(verify)
	require.NoError(t, err)
	require.NoError(t, s.accounts.Verify(ctx, u.Query().Get("token"), "a long enough password"))
	signed, err := s.accounts.SignIn(ctx, who, "a long enough password")
	require.NoError(t, err)
	actor, err := s.accounts.Actor(ctx, signed.Token)
	require.NoError(t, err)
	member := privacy.WithActor(ctx, actor)
	_, err = s.accounts.AddText(member, accounts.KindNote, "Diary", "Dear diary.", "private")
	require.NoError(t, err)

	req, err := s.contact.Submit(ctx, contact.Submission{Email: who, Subject: "Hello", Message: "A question."})
	require.NoError(t, err)
	support := privacy.WithActor(ctx, privacy.Actor{ID: "staff", Email: "help@example.com", Roles: []privacy.Role{privacy.RoleSupport}})
	_, err = s.contact.Get(support, req.Ref)
	require.NoError(t, err)

	// Another spelling of the address: still the same person (audit #13 finding 10).
	_, err = s.comments.Post(ctx, comments.Input{Thread: "2026-03-01-hello", Name: "Eve", Email: strings.ToLower(who), Body: "Hello there."})
	require.NoError(t, err)
	require.NoError(t, s.newsletter.Subscribe(ctx, who, []newsletter.List{"promotions"}))
	_, err = s.newsletter.SyncConsents(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(relay.To(who)) >= 3 }, 10*time.Second, 50*time.Millisecond)

	addr, err := privacy.NormalizeEmail(who)
	require.NoError(t, err)
	exp, err := s.registry.Export(ctx, addr)
	require.NoError(t, err)
	for _, h := range []string{"accounts", "contact", "comments", "newsletter", "privacy"} {
		assert.NotNil(t, exp[h], "the export names holder %s", h)
	}
	mine, ok := exp["comments"].(comments.Export)
	require.True(t, ok, "%T", exp["comments"])
	assert.Len(t, mine.Comments, 1, "the comment posted under another spelling is exported")

	erased, err := s.registry.Erase(ctx, addr)
	require.NoError(t, err)
	require.NotEmpty(t, erased)

	tables := []string{}
	require.NoError(t, s.db.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name NOT LIKE '%migrations'`))
	assert.Greater(t, len(tables), 15)
	assert.NoError(t, privacytest.CheckTables(ctx, s.db.DB, []string{addr, strings.ToLower(addr)}, tables...),
		"after erasure the address is in no table")

	for _, p := range []privacy.Purpose{newsletter.PurposeNewsletter, newsletter.PurposePromotions, comments.PurposeFollowUp, accounts.PurposeAccount} {
		_, err := s.mailer.Send(ctx, privacy.Message{Purpose: p, DataSubject: addr, To: privacy.Address{Email: addr}, Subject: "Hi", Text: "Hi"})
		assert.ErrorIs(t, err, privacy.ErrRefused, "purpose %s", p)
	}
}
