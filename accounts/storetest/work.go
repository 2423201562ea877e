package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// testAccountWritesUnitOfWork: the account's own writes (password, address,
// roles, verification, deletion, links used, files, parental consent) take part in
// a unit of work, so a failed one leaves the account as it was: a password change
// whose notice could not be queued keeps the old password and the sessions it
// would have revoked.
func testAccountWritesUnitOfWork(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	a := account(1, "kept@example.org")
	a.Roles = []privacy.Role{privacy.RoleEditor}
	mustCreate(t, s, a)
	sess := accounts.Session{Hash: hash("ks"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateSession(ctx, sess))
	reset := accounts.Token{Hash: hash("kr"), Kind: accounts.TokenReset, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateToken(ctx, reset))
	file := accounts.Resource{ID: id(200), AccountID: a.ID, Kind: accounts.KindNote, Title: "kept", Body: "x", Size: 1, Visibility: accounts.Private, Created: t0}
	require.NoError(t, s.AddResource(ctx, &file, 1000))
	p := accounts.ParentalRequest{ID: id(60), ParentEmail: "kept-parent@example.org", TokenHash: hash("kpt"), CodeHash: hash("kpc"), Created: t0}
	require.NoError(t, s.CreateParental(ctx, p))

	failed := func(name string, step func(ctx context.Context) error) {
		t.Helper()
		require.ErrorIs(t, s.Do(ctx, func(ctx context.Context) error {
			if err := step(ctx); err != nil {
				return err
			}
			return boom
		}), boom, name)
	}
	failed("SetPassword", func(ctx context.Context) error { return s.SetPassword(ctx, a.ID, "$sha1$new", true) })
	failed("SetEmail", func(ctx context.Context) error { return s.SetEmail(ctx, a.ID, "moved@example.org") })
	failed("SetRole", func(ctx context.Context) error { return s.SetRole(ctx, a.ID, privacy.RoleAdmin, true) })
	failed("SetVerified", func(ctx context.Context) error { return s.SetVerified(ctx, a.ID, t0) })
	failed("UseToken", func(ctx context.Context) error {
		_, err := s.UseToken(ctx, reset.Hash, accounts.TokenReset, t0)
		return err
	})
	failed("DeleteTokensTo", func(ctx context.Context) error {
		_, err := s.DeleteTokensTo(ctx, a.Email)
		return err
	})
	failed("DeleteResource", func(ctx context.Context) error { return s.DeleteResource(ctx, a.ID, file.ID) })
	failed("AddResource", func(ctx context.Context) error {
		r := file
		r.ID = id(201)
		return s.AddResource(ctx, &r, 1000)
	})
	failed("ApproveParental", func(ctx context.Context) error { return s.ApproveParental(ctx, p.ID, t0) })
	failed("DeleteAccount", func(ctx context.Context) error {
		_, err := s.DeleteAccount(ctx, a.ID)
		return err
	})

	got, err := s.AccountByEmail(ctx, "KEPT@example.org")
	require.NoError(t, err, "the account is still there, under its old address")
	assert.Equal(t, a.PasswordHash, got.PasswordHash, "the old password")
	assert.Equal(t, []privacy.Role{privacy.RoleEditor}, got.Roles, "the old roles")
	assert.False(t, got.Verified, "still unverified")
	_, err = s.AccountByEmail(ctx, "moved@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "the new address is not taken")
	_, _, err = s.SessionByHash(ctx, sess.Hash)
	assert.NoError(t, err, "the session the password change would have revoked")
	_, err = s.Token(ctx, reset.Hash, accounts.TokenReset, t0)
	assert.NoError(t, err, "the reset link is still valid")
	files, err := s.Resources(ctx, accounts.ResourceFilter{AccountID: a.ID})
	require.NoError(t, err)
	require.Len(t, files, 1, "the file is kept and no other added")
	assert.Equal(t, file.ID, files[0].ID)
	due, err := s.ParentalDue(ctx, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "the parental request is still unapproved")
	require.NoError(t, s.DeleteParental(ctx, p.ID))

	// And a committed unit keeps them all.
	require.NoError(t, s.Do(ctx, func(ctx context.Context) error {
		return s.SetPassword(ctx, a.ID, "$sha1$new", true)
	}))
	got, err = s.AccountByID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "$sha1$new", got.PasswordHash)
	_, _, err = s.SessionByHash(ctx, sess.Hash)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a committed password change revokes the session")
}
