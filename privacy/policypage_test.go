package privacy_test

import (
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
)

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
	p.Categories = []privacy.Category{
		{Name: "accounts", Description: "Your account: email address, display name, password hash", RetentionOf: "you delete your account"},
		{Name: "contact-requests", Description: "Messages sent through the contact form", Retention: 180 * 24 * time.Hour, RetentionOf: "the request is closed"},
		{Name: "usage-statistics", Description: "Page-view counts (no personal data)", Retention: 25 * 30 * 24 * time.Hour},
	}
	p.History = []privacy.Change{
		{Version: "2026-01-15", Effective: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), Summary: "First version."},
		{Version: "2026-11-01", Effective: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Summary: "Added the newsletter's promotions list."},
	}
	return p
}

func TestPolicyPage(t *testing.T) {
	all := privacy.Features{Accounts: true, Contact: true, Comments: true, Newsletter: true,
		Tracking: &privacy.TrackingFeature{MinCount: 5, Retention: 25 * 30 * 24 * time.Hour}}
	t.Run("TrackingOn", func(t *testing.T) {
		md, err := privacy.PolicyMarkdown(examplePolicy(), all)
		require.NoError(t, err)
		golden(t, "policy-tracking-on.md", md)
		html, err := privacy.PolicyHTML(examplePolicy(), all)
		require.NoError(t, err)
		golden(t, "policy-tracking-on.html", html)
		s := string(html)
		for _, want := range []string{"by\npage", "network domain", "browser type", "MIME type", "fewer than 5 times", "25 months",
			"sets no cookies", "6 months after the request is closed", "until you delete your account", "under 13", "Added the newsletter"} {
			assert.Contains(t, s, want)
		}
		assert.Less(t, strings.Index(s, "2026-11-01</strong>"), strings.Index(s, "2026-01-15</strong>"), "newest change first")
	})
	t.Run("TrackingOff", func(t *testing.T) {
		f := all
		f.Tracking = nil
		f.Newsletter = false
		md, err := privacy.PolicyMarkdown(examplePolicy(), f)
		require.NoError(t, err)
		golden(t, "policy-tracking-off.md", md)
		html, err := privacy.PolicyHTML(examplePolicy(), f)
		require.NoError(t, err)
		golden(t, "policy-tracking-off.html", html)
		s := string(html)
		assert.Contains(t, s, "We do not count or record visits")
		assert.NotContains(t, s, "MIME type")
		assert.NotContains(t, s, "Newsletter and promotions", "a capability that is off is not described")
		assert.NotContains(t, s, "to send the newsletter")
	})
	t.Run("OperatorTextIsLiteral", func(t *testing.T) {
		p := examplePolicy()
		p.Operator = "<script>alert(1)</script> [x](javascript:alert(1))"
		html, err := privacy.PolicyHTML(p, privacy.Features{})
		require.NoError(t, err)
		assert.NotContains(t, string(html), "<script>")
		assert.NotContains(t, string(html), `href="javascript:`)
	})
}
