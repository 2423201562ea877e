package web_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
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

// contractHolder is a holder of nothing but its contract.
type contractHolder privacy.Contract

func (c contractHolder) Contract() privacy.Contract { return privacy.Contract(c) }

func anyone(context.Context, privacy.Purpose, string) (bool, error) { return true, nil }

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got), "%s differs; review and run go test -update", path)
}

func examplePolicy() *privacy.Policy {
	p := mailtest.Policy()
	p.History = []privacy.Change{
		{Version: "2026-01-15", Effective: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), Summary: "First version."},
		{Version: "2026-11-01", Effective: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Summary: "Added the guestbook's thank-you notes."},
	}
	return p
}

// The made-up holders the example page describes.
var (
	guestbook = contractHolder{
		Name: "guestbook",
		Categories: []privacy.Category{
			{Name: "guestbook-entries", Description: "Entries in the guestbook, with the name and address given", RetentionOf: "you delete your entry"},
			{Name: "guestbook-drafts", Description: "Entries not yet confirmed", Retention: 180 * 24 * time.Hour, RetentionOf: "the entry is written"},
		},
		Purposes: []privacy.PurposeUse{{Purpose: "guestbook-thanks", Allower: privacy.AllowFunc(anyone),
			Description: "to thank you for signing the guestbook, once"}},
		Sections: []privacy.Section{
			{Heading: privacy.SectionCollected, Text: "**The guestbook.** To sign the guestbook you give a name and an email address.\nYour name is shown with your entry; your address never is."},
			{Heading: privacy.SectionChildren, Text: "Children under 13 may not sign the guestbook."},
		},
	}
	visits = contractHolder{
		Name:       "visits",
		Categories: []privacy.Category{{Name: "visit-counts", Description: "Page-view counts (no personal data)", Retention: 25 * 30 * 24 * time.Hour}},
		Sections:   []privacy.Section{{Heading: privacy.SectionVisits, Text: "We count page views in total, never per person, by page and by MIME type."}},
	}
	shop = contractHolder{
		Name:       "shop",
		Categories: []privacy.Category{{Name: "orders", Description: "Your orders | with [links] *and* #marks", Retention: 365 * 24 * time.Hour, RetentionOf: "delivery"}},
		Sections:   []privacy.Section{{Heading: "Buying from us", Text: "We keep an order for a year after it is delivered, because the law asks us to."}},
	}
)

func exampleRegistry(hs ...privacy.Holder) *privacy.Registry {
	store := memstore.New()
	r := &privacy.Registry{}
	for _, h := range hs {
		r.Register(h)
	}
	r.Register(&privacy.KernelHolder{Store: store})
	r.Register(&privacy.Rights{Store: store})
	return r
}

func TestPolicyPage(t *testing.T) {
	t.Run("AllOn", func(t *testing.T) {
		r := exampleRegistry(guestbook, visits, shop)
		md, err := web.PolicyMarkdown(examplePolicy(), r)
		require.NoError(t, err)
		golden(t, "policy-all-on.md", md)
		html, err := web.PolicyHTML(examplePolicy(), r)
		require.NoError(t, err)
		golden(t, "policy-all-on.html", html)
		s := string(html)
		for _, want := range []string{"<strong>The guestbook.</strong>", "by MIME type", "25 months", "sets no cookies",
			"6 months after the entry is written", "until you delete your entry", "1 year after delivery", "<h2>Buying from us</h2>",
			"to thank you for signing the guestbook", "to confirm and answer your requests", "Children under 13 may not sign",
			"Added the guestbook"} {
			assert.Contains(t, s, want)
		}
		assert.NotContains(t, s, "We do not count or record visits")
		assert.NotContains(t, s, "no forms that collect")
		assert.Less(t, strings.Index(s, "2026-11-01</strong>"), strings.Index(s, "2026-01-15</strong>"), "newest change first")
		assert.Less(t, strings.Index(s, "How we count visits"), strings.Index(s, "Buying from us"))
		assert.Less(t, strings.Index(s, "Buying from us"), strings.Index(s, "How long we keep data"))
		assert.NoError(t, privacytest.CheckPolicyPage(s, examplePolicy(), r))
	})
	t.Run("CountingOff", func(t *testing.T) {
		r := exampleRegistry(guestbook)
		md, err := web.PolicyMarkdown(examplePolicy(), r)
		require.NoError(t, err)
		golden(t, "policy-counting-off.md", md)
		html, err := web.PolicyHTML(examplePolicy(), r)
		require.NoError(t, err)
		golden(t, "policy-counting-off.html", html)
		s := string(html)
		assert.Contains(t, s, "We do not count or record visits")
		assert.NotContains(t, s, "MIME type")
		assert.NotContains(t, s, "Buying from us", "a holder that is not registered is not described")
		assert.NotContains(t, s, "Your orders")
		assert.NoError(t, privacytest.CheckPolicyPage(s, examplePolicy(), r))
	})
	t.Run("NothingRegistered", func(t *testing.T) {
		html, err := web.PolicyHTML(examplePolicy(), &privacy.Registry{})
		require.NoError(t, err)
		s := string(html)
		for _, want := range []string{"This site has no forms that collect personal data.", "We do not count or record visits",
			"We do not knowingly collect personal data from children under 13."} {
			assert.Contains(t, s, want)
		}
	})
	t.Run("OperatorTextIsLiteral", func(t *testing.T) {
		p := examplePolicy()
		p.Operator = "<script>alert(1)</script> [x](javascript:alert(1))"
		html, err := web.PolicyHTML(p, &privacy.Registry{})
		require.NoError(t, err)
		assert.NotContains(t, string(html), "<script>")
		assert.NotContains(t, string(html), `href="javascript:`)
	})
}
