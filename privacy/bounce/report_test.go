package bounce_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy/bounce"
)

// TestParseCorpus reads reports in the shapes the common providers send (written
// for this project after their published samples and RFC 3464, 6533 and 5965).
func TestParseCorpus(t *testing.T) {
	want := map[string]bounce.Report{
		"postfix-5.1.1.eml":             {Kind: bounce.Permanent, Status: "5.1.1"},
		"gmail-5.1.1.eml":               {Kind: bounce.Permanent, Status: "5.1.1"},
		"outlook-5.1.10.eml":            {Kind: bounce.Permanent, Status: "5.1.10"},
		"global-5.1.1.eml":              {Kind: bounce.Permanent, Status: "5.1.1"},
		"two-recipients-worst-wins.eml": {Kind: bounce.Permanent, Status: "5.2.1"},
		"exim-mailbox-full-4.2.2.eml":   {Kind: bounce.Temporary, Status: "4.2.2"},
		"postfix-delayed-4.4.1.eml":     {Kind: bounce.Temporary, Status: "4.4.1"},
		"yahoo-blocked-5.7.1.eml":       {Kind: bounce.Blocked, Status: "5.7.1"},
		"relayed-2.0.0.eml":             {Kind: bounce.Ignored, Status: "2.0.0"},
		"yahoo-arf-abuse.eml":           {Kind: bounce.Complaint, Feedback: "abuse"},
		"microsoft-jmrp-abuse.eml":      {Kind: bounce.Complaint, Feedback: "abuse"},
		"arf-not-spam.eml":              {Kind: bounce.Ignored, Feedback: "not-spam"},
		"arf-auth-failure.eml":          {Kind: bounce.Ignored, Feedback: "auth-failure"},
		"bad-auto-reply.eml":            {},
		"bad-no-boundary.eml":           {},
		"bad-report-type.eml":           {},
		"bad-no-status-part.eml":        {},
		"bad-no-action.eml":             {},
		"bad-status.eml":                {},
		"bad-action.eml":                {},
		"bad-arf-no-type.eml":           {},
		"bad-arf-unknown-type.eml":      {},
		"bad-header.eml":                {},
		"bad-encoding.eml":              {},
	}
	files, err := filepath.Glob("testdata/reports/*.eml")
	require.NoError(t, err)
	require.Len(t, files, len(want), "every sample has an expected result")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			require.True(t, ok, "no expected result for %s", name)
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			got, err := bounce.Parse(bytes.NewReader(data))
			if strings.HasPrefix(name, "bad-") {
				require.ErrorIs(t, err, bounce.ErrMalformed)
				assert.Nil(t, got)
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, w, *got)
			// Bare LF line ends, as some relays hand them on, read the same.
			lf, err := bounce.Parse(bytes.NewReader(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))))
			require.NoError(t, err)
			assert.Equal(t, w, *lf)
		})
	}
}

func TestVERP(t *testing.T) {
	v := bounce.VERP{Domain: "Bounces.Example.com", Key: []byte("0123456789abcdef0123456789abcdef")}
	for _, id := range []int64{1, 42, 1 << 40, 1<<63 - 1} {
		rp := v.ReturnPath(id)
		assert.Equal(t, strings.ToLower(rp), rp)
		assert.True(t, strings.HasPrefix(rp, "bounce+"), rp)
		assert.True(t, strings.HasSuffix(rp, "@bounces.example.com"), rp)
		got, ok := v.Parse(rp)
		assert.True(t, ok, rp)
		assert.Equal(t, id, got)
		got, ok = v.Parse(strings.ToUpper(rp))
		assert.True(t, ok, "a relay that upper-cases the address keeps it valid")
		assert.Equal(t, id, got)
	}
	rp := v.ReturnPath(42)
	other := bounce.VERP{Domain: v.Domain, Key: []byte("another key, another key, another")}
	for _, bad := range []string{
		"", "bounce@bounces.example.com", "ann@example.org",
		strings.Replace(rp, "@bounces.example.com", "@example.com", 1), // another domain
		strings.Replace(rp, "bounce+16-", "bounce+17-", 1),             // another id, the same MAC
		other.ReturnPath(42), // signed with another key
		rp[:len(rp)-len("@bounces.example.com")-1] + "@bounces.example.com", // MAC cut short
		"bounce+-@bounces.example.com", "bounce+0-" + "a@bounces.example.com",
	} {
		_, ok := v.Parse(bad)
		assert.False(t, ok, "%q parsed", bad)
	}
}
