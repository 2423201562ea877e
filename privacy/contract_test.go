package privacy_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/privacytest"
	"github.com/consentkit/consentkit/privacy/web"
)

// PurposeThanks is the made-up guestbook's own purpose, unknown to the kernel.
const PurposeThanks privacy.Purpose = "guestbook-thanks"

// guestbookConfig is the made-up capability's configuration.
type guestbookConfig struct {
	Retention time.Duration // how long an entry is kept after it was signed
}

// signbook is a capability the kernel has never heard of, as a host would write
// one: it keeps signed entries for a configured time and thanks each signer once.
type signbook struct {
	cfg     guestbookConfig
	mu      sync.Mutex
	entries map[string]time.Time // address -> signed at
}

func (g *signbook) Contract() privacy.Contract {
	return privacy.Contract{
		Name: "signbook",
		Categories: []privacy.Category{{Name: "signbook-entries", Description: "Your entry in the signbook",
			Retention: g.cfg.Retention, RetentionOf: "you signed"}},
		Purposes: []privacy.PurposeUse{{Purpose: PurposeThanks, Allower: privacy.AllowFunc(g.allows),
			Description: "to thank you once for signing the signbook"}},
		Sections: []privacy.Section{{Heading: privacy.SectionCollected,
			Text: "**The signbook.** Signing it takes your email address, which we never show."}},
	}
}

func (g *signbook) allows(_ context.Context, p privacy.Purpose, subject string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.entries[subject]
	return ok && p == PurposeThanks, nil
}

func (g *signbook) Export(_ context.Context, subject string) (any, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.entries[subject]; ok {
		return map[string]time.Time{"signed": at}, nil
	}
	return nil, nil
}

func (g *signbook) Erase(_ context.Context, subject string) (privacy.Erasure, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.entries[subject]; !ok {
		return privacy.Erasure{}, nil
	}
	delete(g.entries, subject)
	return privacy.Erasure{Removed: 1}, nil
}

func (g *signbook) Purge(_ context.Context, now time.Time) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for addr, at := range g.entries {
		if at.Before(now.Add(-g.cfg.Retention)) {
			delete(g.entries, addr)
			n++
		}
	}
	return n, nil
}

var signed = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func newSignbook(cfg guestbookConfig) *signbook {
	return &signbook{cfg: cfg, entries: map[string]time.Time{"ann@example.org": signed}}
}

func TestHostCapability(t *testing.T) {
	ctx := context.Background()
	policy := mailtest.Policy()
	store := memstore.New()
	mailer := privacy.NewMailer(policy, store, nil)
	reg := &privacy.Registry{Mailer: mailer}
	book := newSignbook(guestbookConfig{Retention: 60 * 24 * time.Hour})
	reg.Register(book)
	require.NoError(t, reg.Check())

	t.Run("PolicyPage", func(t *testing.T) {
		page, err := web.PolicyHTML(policy, reg)
		require.NoError(t, err)
		s := string(page)
		assert.Contains(t, s, "<strong>The signbook.</strong> Signing it takes your email address")
		assert.Contains(t, s, "<td>Your entry in the signbook</td>\n<td>2 months after you signed</td>")
		assert.Contains(t, s, "to thank you once for signing the signbook")
		assert.NotContains(t, s, "no forms that collect")
		assert.NoError(t, privacytest.CheckPolicyPage(s, policy, reg))
	})
	t.Run("MailerAppliesAllower", func(t *testing.T) {
		msg := func(to string) privacy.Message {
			return privacy.Message{Purpose: PurposeThanks, DataSubject: to, To: privacy.Address{Email: to},
				Subject: "Thank you for signing", Text: "Thank you."}
		}
		_, err := mailer.Send(ctx, msg("ann@example.org"))
		require.NoError(t, err, "a signer may be thanked")
		_, err = mailer.Send(ctx, msg("bob@example.org"))
		var re *privacy.RefusalError
		require.ErrorAs(t, err, &re, "someone who did not sign may not")
		assert.Equal(t, privacy.RefusedPurpose, re.Reason)
		_, err = mailer.Send(ctx, privacy.Message{Purpose: "gossip", DataSubject: "ann@example.org",
			To: privacy.Address{Email: "ann@example.org"}, Subject: "Psst", Text: "Psst."})
		assert.ErrorIs(t, err, privacy.ErrInvalid, "a purpose no holder declares stays unknown")
	})
	t.Run("ExportErase", func(t *testing.T) {
		exp, err := reg.Export(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"signbook": map[string]time.Time{"signed": signed}}, exp)
		res, err := reg.Erase(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, []privacy.Erasure{{Holder: "signbook", Removed: 1}}, res)
		exp, err = reg.Export(ctx, "ann@example.org")
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"signbook": nil}, exp)
	})
}

// TestRetentionOneSource: the retention in a capability's configuration is what the
// policy page states and what the purge enforces.
func TestRetentionOneSource(t *testing.T) {
	for _, tc := range []struct {
		retention time.Duration
		stated    string
	}{
		{60 * 24 * time.Hour, "2 months after you signed"},
		{7 * 24 * time.Hour, "7 days after you signed"},
	} {
		t.Run(tc.stated, func(t *testing.T) {
			book := newSignbook(guestbookConfig{Retention: tc.retention})
			reg := &privacy.Registry{}
			reg.Register(book)
			page, err := web.PolicyMarkdown(mailtest.Policy(), reg)
			require.NoError(t, err)
			assert.Contains(t, string(page), "| Your entry in the signbook | "+tc.stated+" |")
			assert.Equal(t, 1, strings.Count(string(page), "after you signed"))

			removed, err := reg.Purge(context.Background(), signed.Add(tc.retention-time.Hour))
			require.NoError(t, err)
			assert.Zero(t, removed["signbook"], "kept within the stated period")
			removed, err = reg.Purge(context.Background(), signed.Add(tc.retention+time.Hour))
			require.NoError(t, err)
			assert.Equal(t, 1, removed["signbook"], "gone once it ends")
		})
	}
}
