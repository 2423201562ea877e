package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// passlibVectors are the hashes in testdata/passlib_vectors.json, made with
// passlib 1.7.4 by testdata/passlib_vectors.py.
type passlibVectors struct {
	Source  string
	Vectors []struct {
		Scheme, Note, Password, Hash string
	}
	Malformed []struct {
		Scheme, Note, Hash, Passlib string
	}
}

func loadPasslib(t *testing.T) passlibVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/passlib_vectors.json")
	require.NoError(t, err)
	var v passlibVectors
	require.NoError(t, json.Unmarshal(b, &v))
	require.True(t, strings.HasPrefix(v.Source, "passlib "), "source=%q", v.Source)
	require.NotEmpty(t, v.Vectors)
	return v
}

func TestPasslibVectors(t *testing.T) {
	for _, v := range loadPasslib(t).Vectors {
		t.Run(v.Note, func(t *testing.T) {
			stored, err := accounts.StoredLegacyHash(v.Scheme, v.Hash, "")
			require.NoError(t, err)
			assert.Equal(t, v.Hash, stored, "stored as exported")
			ph, err := accounts.ParsePasswordHash(stored)
			require.NoError(t, err)
			assert.Equal(t, v.Scheme, ph.Scheme)
			assert.True(t, ph.Matches(v.Password), "the right password")
			assert.False(t, ph.Matches("x"+v.Password), "a wrong password")
			if v.Scheme == accounts.SchemeBcrypt && len(v.Password) > 72 {
				assert.True(t, ph.Matches(v.Password[:72]+"anything"), "bcrypt reads 72 bytes, as passlib does")
			}
			assert.False(t, ph.Matches(strings.ToUpper(v.Password)), "another wrong password")
			assert.False(t, ph.Matches(""))
		})
	}
}

func TestStoredLegacyHashRefusesShortSSHASalt(t *testing.T) {
	for _, m := range loadPasslib(t).Malformed {
		t.Run(m.Note, func(t *testing.T) {
			require.NotEqual(t, "accepted", m.Passlib, "passlib refuses it too")
			_, err := accounts.StoredLegacyHash(m.Scheme, m.Hash, "")
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, "hash", privacy.FieldOf(err))
			assert.Contains(t, web.Describe(err).Error.Message, "SSHA")
		})
	}
	// One imported before the rule still parses, so its member can sign in and be
	// upgraded.
	ph, err := accounts.ParsePasswordHash("{SSHA}jkVZRtZrh/IIV8N6Fbk8n9Xz/cFzYQ==")
	require.NoError(t, err)
	assert.True(t, ph.Matches("hunter2"))
}

func TestStoredLegacyHashMalformedModern(t *testing.T) {
	for _, tc := range []struct{ name, scheme, hash, want string }{
		{"BcryptPrefix", accounts.SchemeBcrypt, "$2x$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "starts with"},
		{"BcryptShort", accounts.SchemeBcrypt, "$2a$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkw", "53 characters"},
		{"BcryptCostLow", accounts.SchemeBcrypt, "$2a$03$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "cost"},
		{"BcryptCostHigh", accounts.SchemeBcrypt, "$2a$31$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "cost"},
		{"BcryptAlphabet", accounts.SchemeBcrypt, "$2a$04$abcdefghijklmnopqrstu+V3duMsC0HpUex6N9qapiuOHHWkwRXVm", "salt"},
		{"PHPassPrefix", accounts.SchemePHPass, "$Q$BWpSalt01Z.LkdvrhwARTMOleUZGKy1", "starts with"},
		{"PHPassShort", accounts.SchemePHPass, "$P$BWpSalt01Z.LkdvrhwARTMOleUZGKy", "31 characters"},
		{"PHPassRoundsLow", accounts.SchemePHPass, "$P$4WpSalt01Z.LkdvrhwARTMOleUZGKy1", "rounds"},
		{"PHPassRoundsHigh", accounts.SchemePHPass, "$P$zWpSalt01Z.LkdvrhwARTMOleUZGKy1", "rounds"},
		{"PHPassSalt", accounts.SchemePHPass, "$P$BWp-alt01Z.LkdvrhwARTMOleUZGKy1", "salt"},
		{"PHPassNonCanonical", accounts.SchemePHPass, "$P$BWpSalt01Z.LkdvrhwARTMOleUZGKyz", "digest"},
		{"DjangoPrefix", accounts.SchemePBKDF2SHA256, "pbkdf2_sha1$1000$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "starts with"},
		{"DjangoFields", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$1000$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "want"},
		{"DjangoIterZero", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$0$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "iterations"},
		{"DjangoIterHuge", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$99999999$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "iterations"},
		{"DjangoIterLeadingZero", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$01000$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "iterations"},
		{"DjangoSaltEmpty", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$1000$$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=", "salt"},
		{"DjangoDigestShort", accounts.SchemePBKDF2SHA256, "pbkdf2_sha256$1000$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7", "digest"},
		{"SchemeMismatch", accounts.SchemeArgon2id, "$2b$05$ABCDEFGHIJKLMNOPQRSTUOx/agR.eXAcISidGHgxG7IOnTkT3n5nS", "not argon2id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := accounts.StoredLegacyHash(tc.scheme, tc.hash, "")
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, "hash", privacy.FieldOf(err))
			assert.Contains(t, web.Describe(err).Error.Message, tc.want)
		})
	}
}

func TestImportPasslibUpgradesOnSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pv := loadPasslib(t)
	var rows []accounts.LegacyAccount
	for i, v := range pv.Vectors {
		rows = append(rows, accounts.LegacyAccount{Email: fmt.Sprintf("passlib%d@example.org", i), Scheme: v.Scheme, Hash: v.Hash, DisplayName: v.Note})
	}
	for i, m := range pv.Malformed {
		rows = append(rows, accounts.LegacyAccount{Email: fmt.Sprintf("malformed%d@example.org", i), Scheme: m.Scheme, Hash: m.Hash})
	}
	rep, err := e.svc.ImportLegacy(ctx, rows, nil)
	require.NoError(t, err)
	assert.Equal(t, len(pv.Vectors), rep.Imported)
	require.Len(t, rep.Invalid, len(pv.Malformed))
	for i, bad := range rep.Invalid {
		assert.Equal(t, len(pv.Vectors)+i, bad.Index, "the row is named")
		assert.Equal(t, "hash", bad.Field)
	}
	for i, m := range pv.Malformed {
		_, err := e.store.AccountByEmail(ctx, rows[len(pv.Vectors)+i].Email)
		assert.ErrorIs(t, err, privacy.ErrNotFound, "%s not imported", m.Note)
	}

	for i, v := range pv.Vectors {
		addr := rows[i].Email
		t.Run(v.Note, func(t *testing.T) {
			before, err := e.store.AccountByEmail(ctx, addr)
			require.NoError(t, err)
			assert.Equal(t, v.Hash, before.PasswordHash)
			_, err = e.svc.SignIn(ctx, addr, "x"+v.Password)
			require.ErrorIs(t, err, privacy.ErrUnauthorized)
			unchanged, _ := e.store.AccountByEmail(ctx, addr)
			assert.Equal(t, v.Hash, unchanged.PasswordHash, "a failed sign-in changes nothing")

			_, err = e.svc.SignIn(ctx, addr, v.Password)
			require.NoError(t, err)
			after, _ := e.store.AccountByEmail(ctx, addr)
			assert.True(t, strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$"), "upgraded: %s", after.PasswordHash)
			_, err = e.svc.SignIn(ctx, addr, v.Password)
			require.NoError(t, err, "the upgraded hash verifies")
			_, err = e.svc.SignIn(ctx, addr, "x"+v.Password)
			require.ErrorIs(t, err, privacy.ErrUnauthorized)
		})
	}
}
