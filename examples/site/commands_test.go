package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
)

// TestCommands runs the operator's commands against a MySQL database.
func TestCommands(t *testing.T) {
	ctx := context.Background()
	dsn := mysqltest.NewDSN(t)
	base := []string{"-mysql", dsn, "-secret", "commands test secret, commands test secret", "-quiet", "-addr", "127.0.0.1:0"}
	cmd := func(args ...string) error {
		return run(ctx, append(append([]string{}, base...), args...), io.Discard, io.Discard)
	}

	require.NoError(t, cmd("migrate"))
	require.NoError(t, cmd("migrate"), "migrating twice is harmless")

	sum := sha1.Sum([]byte("old password"))
	csv := "email,scheme,hash,salt,display_name\nold@example.org,sha1," + hex.EncodeToString(sum[:]) + ",,Old Timer\n"
	file := filepath.Join(t.TempDir(), "legacy.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	require.NoError(t, cmd("import-accounts", file))

	require.NoError(t, cmd("grant", "old@example.org", "admin"))
	assert.Error(t, cmd("grant", "old@example.org", "emperor"), "an unknown role is refused")
	assert.Error(t, cmd("grant", "nobody@example.org", "admin"), "a role for no account is refused")
	require.NoError(t, cmd("export", "old@example.org"))
	require.NoError(t, cmd("purge"))

	assert.Error(t, run(ctx, []string{"grant", "old@example.org", "admin"}, io.Discard, io.Discard), "grant without -mysql would vanish")
	assert.Error(t, run(ctx, []string{"frobnicate"}, io.Discard, io.Discard), "unknown command")
	assert.Error(t, run(ctx, []string{"-policy", filepath.Join(t.TempDir(), "missing.json"), "purge"}, io.Discard, io.Discard))
}

func TestPolicyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"operator": "Acme", "contact": "privacy@acme.example", "operator_domains": ["acme.example"],
		"version": "3", "effective": "2026-10-01", "history": [{"version": "3", "effective": "2026-10-01", "summary": "Shorter retention."}]}`), 0o600))
	p, inbox, err := loadPolicy(file, "https://acme.example")
	require.NoError(t, err)
	assert.Equal(t, "Acme", p.Operator)
	assert.Equal(t, "privacy@acme.example", inbox, "the support inbox defaults to the contact address")
	assert.Equal(t, "Shorter retention.", p.History[0].Summary)

	require.NoError(t, os.WriteFile(file, []byte(`{"operator": "Acme", "effective": "October"}`), 0o600))
	_, _, err = loadPolicy(file, "")
	assert.ErrorContains(t, err, "effective")
}
