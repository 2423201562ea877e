package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy/privacytest"
	"github.com/consentkit/consentkit/privacy/web"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestPolicyPageGolden keeps the site's policy page, composed from what every
// capability registers, under review.
func TestPolicyPageGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tracking bool
	}{{"policy-tracking-on.md", true}, {"policy-tracking-off.md", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSite(context.Background(), config{SiteURL: "http://127.0.0.1:8080", Tracking: tc.tracking,
				Secret: "test secret, test secret, test secret"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			t.Cleanup(s.Close)
			md, err := web.PolicyMarkdown(s.policy, s.registry)
			require.NoError(t, err)
			path := filepath.Join("testdata", tc.name)
			if *update {
				require.NoError(t, os.WriteFile(path, md, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create %s", path)
			assert.Equal(t, string(want), string(md), "%s differs; review and run go test -update", path)
			assert.NoError(t, privacytest.CheckPolicyPage(string(md), s.policy, s.registry))
		})
	}
}
