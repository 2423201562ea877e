package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) accounts.Store) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, newStore(t)) })
	t.Run("UnitOfWork", func(t *testing.T) { testUnitOfWork(t, newStore(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newStore(t)) })
	t.Run("CredentialChangeKillsTokens", func(t *testing.T) { testCredentialChange(t, newStore(t)) })
	t.Run("NewerTokenReplacesOlder", func(t *testing.T) { testNewerToken(t, newStore(t)) })
	t.Run("VerifyTokenCarriesPassword", func(t *testing.T) { testTokenPassword(t, newStore(t)) })
	t.Run("TokenLooksWithoutUsing", func(t *testing.T) { testTokenLook(t, newStore(t)) })
	t.Run("AddressesIgnoreCase", func(t *testing.T) { testAddressCase(t, newStore(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newStore(t)) })
	t.Run("Roles", func(t *testing.T) { testRoles(t, newStore(t)) })
	t.Run("Resources", func(t *testing.T) { testResources(t, newStore(t)) })
	t.Run("Parental", func(t *testing.T) { testParental(t, newStore(t)) })
	t.Run("DeleteAndPurge", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("SessionDeviceAndProof", func(t *testing.T) { testSessionProof(t, newStore(t)) })
	t.Run("RevokeOwnSessions", func(t *testing.T) { testRevokeSessions(t, newStore(t)) })
	t.Run("Factors", func(t *testing.T) { testFactors(t, newStore(t)) })
	t.Run("FactorStepRefusesReplay", func(t *testing.T) { testFactorReplay(t, newStore(t)) })
	t.Run("RecoveryCodes", func(t *testing.T) { testRecoveryCodes(t, newStore(t)) })
	t.Run("Challenges", func(t *testing.T) { testChallenges(t, newStore(t)) })
	t.Run("DeleteAccountTakesFactors", func(t *testing.T) { testDeleteFactors(t, newStore(t)) })
	t.Run("Passkeys", func(t *testing.T) { testPasskeys(t, newStore(t)) })
	t.Run("Ceremonies", func(t *testing.T) { testCeremonies(t, newStore(t)) })
	t.Run("DeleteAccountTakesPasskeys", func(t *testing.T) { testDeletePasskeys(t, newStore(t)) })
	t.Run("SecurityUnitOfWork", func(t *testing.T) { testSecurityUnitOfWork(t, newStore(t)) })
	t.Run("AccountWritesUnitOfWork", func(t *testing.T) { testAccountWritesUnitOfWork(t, newStore(t)) })
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// unit runs write, then then, in one unit of work, as the Service runs a change
// and the mail it causes.
func unit(s accounts.Store, write, then func(ctx context.Context) error) error {
	return s.Do(context.Background(), func(ctx context.Context) error {
		if err := write(ctx); err != nil {
			return err
		}
		return then(ctx)
	})
}

func hash(s string) string { return fmt.Sprintf("%064x", []byte(s)[:min(len(s), 32)]) }

func id(n int) string { return fmt.Sprintf("%032x", n) }

func account(n int, email string) *accounts.Account {
	return &accounts.Account{ID: id(n), Email: email, DisplayName: fmt.Sprintf("Member %d", n), PasswordHash: "$sha1$" + fmt.Sprintf("%040x", n),
		AgeScreen: accounts.AgeOver13, Created: t0}
}

func mustCreate(t *testing.T, s accounts.Store, a *accounts.Account) {
	t.Helper()
	require.NoError(t, s.CreateAccount(context.Background(), a, nil))
}

func testAccounts(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "Ann@example.org")
	a.Roles = []privacy.Role{privacy.RoleSupport}
	require.NoError(t, s.CreateAccount(ctx, a, nil))

	got, err := s.AccountByEmail(ctx, "Ann@example.org")
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	assert.Equal(t, "Member 1", got.DisplayName)
	assert.Equal(t, a.PasswordHash, got.PasswordHash)
	assert.Equal(t, accounts.AgeOver13, got.AgeScreen)
	assert.True(t, got.Created.Equal(t0), "Created=%v, want %v", got.Created, t0)
	assert.False(t, got.Verified)
	assert.Equal(t, []privacy.Role{privacy.RoleSupport}, got.Roles)

	got, err = s.AccountByEmail(ctx, "ann@example.org")
	require.NoError(t, err, "addresses compare case-insensitively (privacy.AddressKey)")
	assert.Equal(t, "Ann@example.org", got.Email, "and are kept as typed")
	_, err = s.AccountByID(ctx, id(99))
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	err = s.CreateAccount(ctx, account(2, "Ann@example.org"), nil)
	assert.ErrorIs(t, err, privacy.ErrConflict, "one address, one account")

	require.NoError(t, s.SetVerified(ctx, a.ID, t0))
	require.NoError(t, s.SetVerified(ctx, a.ID, t0), "verifying twice is fine")
	got, err = s.AccountByID(ctx, a.ID)
	require.NoError(t, err)
	assert.True(t, got.Verified)
	assert.ErrorIs(t, s.SetVerified(ctx, id(99), t0), privacy.ErrNotFound)

	sess := accounts.Session{Hash: hash("s1"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateSession(ctx, sess))
	require.NoError(t, s.SetPassword(ctx, a.ID, "$sha1$"+fmt.Sprintf("%040x", 7), false))
	_, _, err = s.SessionByHash(ctx, sess.Hash)
	require.NoError(t, err, "a rehash keeps sessions")
	require.NoError(t, s.SetPassword(ctx, a.ID, "$sha1$"+fmt.Sprintf("%040x", 8), true))
	_, _, err = s.SessionByHash(ctx, sess.Hash)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a password change ends sessions")
	got, _ = s.AccountByID(ctx, a.ID)
	assert.Equal(t, "$sha1$"+fmt.Sprintf("%040x", 8), got.PasswordHash)
	assert.ErrorIs(t, s.SetPassword(ctx, id(99), "x", true), privacy.ErrNotFound)

	mustCreate(t, s, account(3, "bob@example.org"))
	assert.ErrorIs(t, s.SetEmail(ctx, a.ID, "bob@example.org"), privacy.ErrConflict)
	require.NoError(t, s.CreateSession(ctx, sess))
	require.NoError(t, s.SetEmail(ctx, a.ID, "ann.new@example.org"))
	_, _, err = s.SessionByHash(ctx, sess.Hash)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "an email change ends sessions")
	got, err = s.AccountByEmail(ctx, "ann.new@example.org")
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	_, err = s.AccountByEmail(ctx, "Ann@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	mustCreate(t, s, account(4, "Ann@example.org")) // the old address is free again
	assert.ErrorIs(t, s.SetEmail(ctx, id(99), "x@example.org"), privacy.ErrNotFound)
}

// testAddressCase: every look-up by address compares privacy.AddressKey, and one
// address has one account whatever its case (audit #13 finding 10).
func testAddressCase(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	zed := account(1, "Zed@example.org")
	vt := &accounts.Token{Hash: hash("zed-verify"), Kind: accounts.TokenVerify, AccountID: zed.ID, Email: zed.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateAccount(ctx, zed, vt))
	assert.ErrorIs(t, s.CreateAccount(ctx, account(2, "zed@example.org"), nil), privacy.ErrConflict, "one address, one account")
	assert.ErrorIs(t, s.CreateAccount(ctx, account(3, "ZED@EXAMPLE.ORG"), nil), privacy.ErrConflict)
	for _, e := range []string{"zed@example.org", "ZED@example.org", "Zed@example.org"} {
		got, err := s.AccountByEmail(ctx, e)
		require.NoError(t, err, e)
		assert.Equal(t, zed.ID, got.ID, e)
		assert.Equal(t, "Zed@example.org", got.Email, "kept as typed")
	}

	ok, err := s.TokenFor(ctx, accounts.TokenVerify, "zed@example.org", t0)
	require.NoError(t, err)
	assert.True(t, ok, "TokenFor")
	ts, err := s.TokensTo(ctx, "ZED@example.org")
	require.NoError(t, err)
	assert.Len(t, ts, 1, "TokensTo")

	amy := account(4, "amy@example.org")
	mustCreate(t, s, amy)
	assert.ErrorIs(t, s.SetEmail(ctx, amy.ID, "zED@example.org"), privacy.ErrConflict, "SetEmail to another spelling of a taken address")
	require.NoError(t, s.SetEmail(ctx, amy.ID, "Amy@example.org"), "a member may fix the case of their own address")
	got, err := s.AccountByEmail(ctx, "amy@example.org")
	require.NoError(t, err)
	assert.Equal(t, "Amy@example.org", got.Email)

	require.NoError(t, s.CreateToken(ctx, accounts.Token{Hash: hash("zed-reset"), Kind: accounts.TokenReset, AccountID: zed.ID, Email: zed.Email, Created: t0, Expires: t0.Add(time.Hour)}))
	n, err := s.DeleteTokensTo(ctx, "zed@EXAMPLE.org")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "DeleteTokensTo")

	p := accounts.ParentalRequest{ID: id(10), ParentEmail: "Mum@example.org", TokenHash: hash("case-pt"), CodeHash: hash("case-pc"), Created: t0}
	require.NoError(t, s.CreateParental(ctx, p))
	ps, err := s.ParentalFor(ctx, "mum@example.org")
	require.NoError(t, err)
	assert.Len(t, ps, 1, "ParentalFor")
	require.NoError(t, s.ApproveParental(ctx, p.ID, t0))
	kid := account(11, "kid@example.org")
	kid.AgeScreen, kid.ParentEmail, kid.ParentalRequest = accounts.AgeConsent, p.ParentEmail, p.ID
	require.NoError(t, s.CreateAccount(ctx, kid, nil))
	kids, err := s.AccountsByParent(ctx, "MUM@example.org")
	require.NoError(t, err)
	assert.Len(t, kids, 1, "AccountsByParent")
}

func testUnitOfWork(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	boom := errors.New("mail refused")
	a := account(1, "then@example.org")
	tok := &accounts.Token{Hash: hash("verify-then"), Kind: accounts.TokenVerify, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	var sawAccount, sawToken bool
	err := unit(s, func(ctx context.Context) error { return s.CreateAccount(ctx, a, tok) }, func(ctx context.Context) error {
		_, err := s.AccountByEmail(ctx, a.Email)
		sawAccount = err == nil
		sawToken, _ = s.TokenFor(ctx, accounts.TokenVerify, a.Email, t0)
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.True(t, sawAccount, "the unit of work sees the new account (the mail guard's Allower asks)")
	assert.True(t, sawToken, "the unit of work sees the new token")
	_, err = s.AccountByEmail(ctx, a.Email)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a failed unit of work leaves no account")
	_, err = s.UseToken(ctx, tok.Hash, accounts.TokenVerify, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "a failed unit of work leaves no token")
	require.NoError(t, s.CreateAccount(ctx, a, tok), "the address is free after a rollback")

	rt := accounts.Token{Hash: hash("reset-then"), Kind: accounts.TokenReset, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.ErrorIs(t, unit(s, func(ctx context.Context) error { return s.CreateToken(ctx, rt) }, func(context.Context) error { return boom }), boom)
	_, err = s.UseToken(ctx, rt.Hash, accounts.TokenReset, t0)
	assert.ErrorIs(t, err, privacy.ErrGone)

	p := accounts.ParentalRequest{ID: id(50), ParentEmail: "parent@example.org", TokenHash: hash("pt"), CodeHash: hash("pc"), Created: t0}
	var sawParent bool
	require.ErrorIs(t, unit(s, func(ctx context.Context) error { return s.CreateParental(ctx, p) }, func(ctx context.Context) error {
		ps, _ := s.ParentalFor(ctx, p.ParentEmail)
		sawParent = len(ps) == 1
		return boom
	}), boom)
	assert.True(t, sawParent, "the unit of work sees the new request")
	ps, err := s.ParentalFor(ctx, p.ParentEmail)
	require.NoError(t, err)
	assert.Empty(t, ps)

	require.NoError(t, s.CreateParental(ctx, p))
	require.NoError(t, s.ApproveParental(ctx, p.ID, t0))
	require.ErrorIs(t, unit(s, func(ctx context.Context) error { return s.ConfirmParental(ctx, p.ID, t0.Add(time.Hour), hash("pt2")) }, func(context.Context) error { return boom }), boom)
	due, err := s.ParentalDue(ctx, t0.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, due, 1, "a failed confirmation stays due")
	assert.Equal(t, p.TokenHash, due[0].TokenHash)
}

func testTokens(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "tok@example.org"), account(2, "tok2@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	mkFor := func(acct *accounts.Account, name, kind, email string, ttl time.Duration) accounts.Token {
		tk := accounts.Token{Hash: hash(name), Kind: kind, AccountID: acct.ID, Email: email, Created: t0, Expires: t0.Add(ttl)}
		require.NoError(t, s.CreateToken(ctx, tk))
		return tk
	}
	mk := func(name, kind, email string, ttl time.Duration) accounts.Token {
		return mkFor(a, name, kind, email, ttl)
	}
	reset := mk("reset", accounts.TokenReset, a.Email, time.Hour)
	change := mk("change", accounts.TokenEmail, "new@example.org", time.Hour)
	// Another account's: a second reset token of a would replace the first.
	old := mkFor(b, "old", accounts.TokenReset, b.Email, time.Minute)

	ok, err := s.TokenFor(ctx, accounts.TokenEmail, "new@example.org", t0)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, _ = s.TokenFor(ctx, accounts.TokenEmail, "new@example.org", t0.Add(2*time.Hour))
	assert.False(t, ok, "an expired token targets no one")
	ok, _ = s.TokenFor(ctx, accounts.TokenReset, "new@example.org", t0)
	assert.False(t, ok)

	_, err = s.UseToken(ctx, reset.Hash, accounts.TokenVerify, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "a token of another kind does not count")
	got, err := s.UseToken(ctx, reset.Hash, accounts.TokenReset, t0)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.AccountID)
	assert.True(t, got.Expires.Equal(reset.Expires))
	_, err = s.UseToken(ctx, reset.Hash, accounts.TokenReset, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "single use")
	_, err = s.UseToken(ctx, old.Hash, accounts.TokenReset, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "expired")

	to, err := s.TokensTo(ctx, "new@example.org")
	require.NoError(t, err)
	require.Len(t, to, 1)
	assert.Equal(t, change.Kind, to[0].Kind)

	mk("late", accounts.TokenReset, a.Email, time.Minute)
	n, err := s.PurgeTokens(ctx, t0.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = s.DeleteTokensTo(ctx, "new@example.org")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ok, _ = s.TokenFor(ctx, accounts.TokenEmail, "new@example.org", t0)
	assert.False(t, ok)

	err = s.CreateToken(ctx, accounts.Token{Hash: hash("orphan"), Kind: accounts.TokenReset, AccountID: id(99), Email: "x@example.org", Created: t0, Expires: t0.Add(time.Hour)})
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a token for a missing account")
}

// testCredentialChange: a password change (not a rehash) and an address change
// kill every mailed token of the account, whatever its kind, and no other
// account's (audit #13 finding 1).
func testCredentialChange(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "cred@example.org")
	mustCreate(t, s, a)
	b := account(2, "bystander@example.org")
	mustCreate(t, s, b)
	n := 0
	mk := func(acct *accounts.Account, kind, email string) accounts.Token {
		n++
		tk := accounts.Token{Hash: hash(fmt.Sprintf("cred-%d", n)), Kind: kind, AccountID: acct.ID, Email: email, Created: t0, Expires: t0.Add(time.Hour)}
		require.NoError(t, s.CreateToken(ctx, tk))
		return tk
	}
	live := func(tk accounts.Token) bool {
		ts, err := s.TokensTo(ctx, tk.Email)
		require.NoError(t, err)
		for _, x := range ts {
			if x.Hash == tk.Hash {
				return true
			}
		}
		return false
	}
	all := func(acct *accounts.Account) []accounts.Token {
		return []accounts.Token{mk(acct, accounts.TokenEmail, "mallory@evil.example"), mk(acct, accounts.TokenReset, acct.Email), mk(acct, accounts.TokenVerify, acct.Email)}
	}

	mine, theirs := all(a), all(b)
	require.NoError(t, s.SetPassword(ctx, a.ID, "$sha1$"+fmt.Sprintf("%040x", 7), false))
	for _, tk := range mine {
		assert.True(t, live(tk), "a rehash keeps the %s token", tk.Kind)
	}
	require.NoError(t, s.SetPassword(ctx, a.ID, "$sha1$"+fmt.Sprintf("%040x", 8), true))
	for _, tk := range mine {
		assert.False(t, live(tk), "a password change kills the %s token", tk.Kind)
		_, err := s.UseToken(ctx, tk.Hash, tk.Kind, t0)
		assert.ErrorIs(t, err, privacy.ErrGone, "a password change kills the %s token", tk.Kind)
	}
	for _, tk := range theirs {
		assert.True(t, live(tk), "another account's %s token stays", tk.Kind)
	}

	mine = all(a)
	require.NoError(t, s.SetEmail(ctx, a.ID, "cred.new@example.org"))
	for _, tk := range mine {
		_, err := s.UseToken(ctx, tk.Hash, tk.Kind, t0)
		assert.ErrorIs(t, err, privacy.ErrGone, "an address change kills the %s token", tk.Kind)
	}
	for _, tk := range theirs {
		assert.True(t, live(tk), "another account's %s token stays", tk.Kind)
	}
}

// testNewerToken: creating a token deletes the account's earlier tokens of the
// same kind and nothing else, and a failed unit of work keeps them (audit #13 finding 7).
func testNewerToken(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "newer@example.org"), account(2, "other@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	mk := func(name string, acct *accounts.Account, kind, email string) accounts.Token {
		tk := accounts.Token{Hash: hash(name), Kind: kind, AccountID: acct.ID, Email: email, Created: t0, Expires: t0.Add(time.Hour)}
		require.NoError(t, s.CreateToken(ctx, tk))
		return tk
	}
	live := func(tk accounts.Token) bool {
		ts, err := s.TokensTo(ctx, tk.Email)
		require.NoError(t, err)
		for _, x := range ts {
			if x.Hash == tk.Hash {
				return true
			}
		}
		return false
	}
	old := mk("old-reset", a, accounts.TokenReset, a.Email)
	verify := mk("verify", a, accounts.TokenVerify, a.Email)
	change := mk("change", a, accounts.TokenEmail, "elsewhere@example.org")
	theirs := mk("their-reset", b, accounts.TokenReset, b.Email)

	boom := errors.New("mail refused")
	failed := accounts.Token{Hash: hash("failed-reset"), Kind: accounts.TokenReset, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.ErrorIs(t, unit(s, func(ctx context.Context) error { return s.CreateToken(ctx, failed) }, func(context.Context) error { return boom }), boom)
	assert.True(t, live(old), "a failed unit of work keeps the earlier token")
	assert.False(t, live(failed))

	newer := mk("new-reset", a, accounts.TokenReset, a.Email)
	_, err := s.UseToken(ctx, old.Hash, accounts.TokenReset, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "the earlier token of the kind is gone")
	for _, tk := range []accounts.Token{newer, verify, change, theirs} {
		assert.True(t, live(tk), "the %s token %s stays", tk.Kind, tk.Hash[:8])
	}
	_, err = s.UseToken(ctx, newer.Hash, accounts.TokenReset, t0)
	require.NoError(t, err)
}

// testTokenPassword: a verification token keeps the password hash of the
// registration it was mailed for, so following it can set that password (audit
// #13 finding 2).
func testTokenPassword(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "frank@example.org")
	first := &accounts.Token{Hash: hash("first"), Kind: accounts.TokenVerify, AccountID: a.ID, Email: a.Email,
		PasswordHash: "$sha1$" + fmt.Sprintf("%040x", 1), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateAccount(ctx, a, first))
	ts, err := s.TokensTo(ctx, a.Email)
	require.NoError(t, err)
	require.Len(t, ts, 1)
	assert.Equal(t, first.PasswordHash, ts[0].PasswordHash)
	got, err := s.UseToken(ctx, first.Hash, accounts.TokenVerify, t0)
	require.NoError(t, err)
	assert.Equal(t, first.PasswordHash, got.PasswordHash, "the token created with the account")

	again := accounts.Token{Hash: hash("again"), Kind: accounts.TokenVerify, AccountID: a.ID, Email: a.Email,
		PasswordHash: "$sha1$" + fmt.Sprintf("%040x", 2), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateToken(ctx, again))
	got, err = s.UseToken(ctx, again.Hash, accounts.TokenVerify, t0)
	require.NoError(t, err)
	assert.Equal(t, again.PasswordHash, got.PasswordHash, "a token created later")

	plain := accounts.Token{Hash: hash("plain"), Kind: accounts.TokenReset, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateToken(ctx, plain))
	got, err = s.UseToken(ctx, plain.Hash, accounts.TokenReset, t0)
	require.NoError(t, err)
	assert.Empty(t, got.PasswordHash, "other tokens carry none")
}

// testTokenLook: Token returns a live token without using it, so a confirmation
// refused for a wrong password leaves the link working, and answers ErrGone
// exactly when UseToken would.
func testTokenLook(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "look@example.org")
	verify := &accounts.Token{Hash: hash("look"), Kind: accounts.TokenVerify, AccountID: a.ID, Email: a.Email,
		PasswordHash: "$sha1$" + fmt.Sprintf("%040x", 7), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateAccount(ctx, a, verify))

	for range 2 {
		got, err := s.Token(ctx, verify.Hash, accounts.TokenVerify, t0)
		require.NoError(t, err)
		assert.Equal(t, a.ID, got.AccountID)
		assert.Equal(t, a.Email, got.Email)
		assert.Equal(t, verify.PasswordHash, got.PasswordHash)
		assert.True(t, got.Expires.Equal(verify.Expires), "Expires=%v, want %v", got.Expires, verify.Expires)
	}
	_, err := s.Token(ctx, verify.Hash, accounts.TokenReset, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "a token of another kind does not count")
	_, err = s.Token(ctx, hash("unknown"), accounts.TokenVerify, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "unknown")
	_, err = s.Token(ctx, verify.Hash, accounts.TokenVerify, t0.Add(time.Hour))
	assert.ErrorIs(t, err, privacy.ErrGone, "expired")

	got, err := s.UseToken(ctx, verify.Hash, accounts.TokenVerify, t0)
	require.NoError(t, err, "looking did not use it")
	assert.Equal(t, verify.PasswordHash, got.PasswordHash)
	_, err = s.Token(ctx, verify.Hash, accounts.TokenVerify, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "used")
}

func testSessions(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "sess@example.org")
	a.Roles = []privacy.Role{privacy.RoleEditor}
	mustCreate(t, s, a)
	b := account(2, "other@example.org")
	mustCreate(t, s, b)
	mk := func(name string, acct string, lastSeen time.Time, ttl time.Duration) accounts.Session {
		x := accounts.Session{Hash: hash(name), AccountID: acct, Created: t0, LastSeen: lastSeen, Expires: t0.Add(ttl)}
		require.NoError(t, s.CreateSession(ctx, x))
		return x
	}
	s1 := mk("s1", a.ID, t0, 24*time.Hour)
	mk("s2", a.ID, t0, 24*time.Hour)
	mk("s3", b.ID, t0, 24*time.Hour)

	got, acct, err := s.SessionByHash(ctx, s1.Hash)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.AccountID)
	assert.True(t, got.Expires.Equal(s1.Expires))
	assert.Equal(t, "sess@example.org", acct.Email)
	assert.Equal(t, []privacy.Role{privacy.RoleEditor}, acct.Roles)
	_, _, err = s.SessionByHash(ctx, hash("nope"))
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	require.NoError(t, s.TouchSession(ctx, s1.Hash, t0.Add(time.Hour)))
	got, _, _ = s.SessionByHash(ctx, s1.Hash)
	assert.True(t, got.LastSeen.Equal(t0.Add(time.Hour)), "LastSeen=%v", got.LastSeen)

	list, err := s.Sessions(ctx, a.ID)
	require.NoError(t, err)
	assert.Len(t, list, 2)

	require.NoError(t, s.DeleteSession(ctx, s1.Hash))
	require.NoError(t, s.DeleteSession(ctx, s1.Hash), "ending an ended session is fine")
	n, err := s.DeleteSessions(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, _, err = s.SessionByHash(ctx, hash("s3"))
	assert.NoError(t, err, "another account's sessions stay")

	mk("abs", a.ID, t0.Add(47*time.Hour), 48*time.Hour)
	mk("idle", a.ID, t0, 72*time.Hour)
	mk("live", a.ID, t0.Add(47*time.Hour), 72*time.Hour)
	n, err = s.PurgeSessions(ctx, t0.Add(48*time.Hour), t0.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "past absolute expiry (abs, s3) or idle (idle)")
	_, _, err = s.SessionByHash(ctx, hash("live"))
	assert.NoError(t, err)

	err = s.CreateSession(ctx, accounts.Session{Hash: hash("orphan"), AccountID: id(99), Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)})
	assert.ErrorIs(t, err, privacy.ErrNotFound)
}

func testRoles(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b, c := account(1, "zed@example.org"), account(2, "amy@example.org"), account(3, "member@example.org")
	for _, x := range []*accounts.Account{a, b, c} {
		mustCreate(t, s, x)
	}
	require.NoError(t, s.SetRole(ctx, a.ID, privacy.RoleModerator, true))
	require.NoError(t, s.SetRole(ctx, a.ID, privacy.RoleModerator, true), "granting twice is fine")
	require.NoError(t, s.SetRole(ctx, a.ID, privacy.RoleAdmin, true))
	require.NoError(t, s.SetRole(ctx, b.ID, privacy.RoleEditor, true))
	staff, err := s.Staff(ctx)
	require.NoError(t, err)
	require.Len(t, staff, 2)
	assert.Equal(t, "amy@example.org", staff[0].Email, "sorted by address")
	assert.Equal(t, []privacy.Role{privacy.RoleAdmin, privacy.RoleModerator}, staff[1].Roles)

	require.NoError(t, s.SetRole(ctx, a.ID, privacy.RoleModerator, false))
	require.NoError(t, s.SetRole(ctx, a.ID, privacy.RoleModerator, false), "revoking twice is fine")
	got, _ := s.AccountByID(ctx, a.ID)
	assert.Equal(t, []privacy.Role{privacy.RoleAdmin}, got.Roles)
	require.NoError(t, s.SetRole(ctx, b.ID, privacy.RoleEditor, false))
	staff, _ = s.Staff(ctx)
	assert.Len(t, staff, 1)
}

func testResources(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "owner@example.org"), account(2, "peer@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	add := func(n int, owner *accounts.Account, vis string, size int64, at time.Time) accounts.Resource {
		r := accounts.Resource{ID: id(100 + n), AccountID: owner.ID, Kind: accounts.KindPhoto, Title: fmt.Sprintf("r%d", n),
			ContentType: "image/png", Data: make([]byte, size), Size: size, Visibility: vis, Created: at}
		require.NoError(t, s.AddResource(ctx, &r, 1000))
		return r
	}
	r1 := add(1, a, accounts.Private, 400, t0)
	add(2, a, accounts.Community, 400, t0.Add(time.Minute))
	r := accounts.Resource{ID: id(103), AccountID: a.ID, Kind: accounts.KindNote, Title: "big", Body: "x", Size: 201, Visibility: accounts.Private, Created: t0}
	err := s.AddResource(ctx, &r, 1000)
	assert.ErrorIs(t, err, privacy.ErrInvalid, "over quota")
	assert.Equal(t, "file", privacy.FieldOf(err))
	note := accounts.Resource{ID: id(104), AccountID: a.ID, Kind: accounts.KindNote, Title: "fits", Body: "hello\nworld", Size: 200, Visibility: accounts.Community, Created: t0.Add(2 * time.Minute)}
	require.NoError(t, s.AddResource(ctx, &note, 1000), "exactly at the quota")
	add(5, b, accounts.Community, 10, t0.Add(3*time.Minute))

	used, err := s.Usage(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), used)

	got, err := s.Resource(ctx, r1.ID)
	require.NoError(t, err)
	assert.Len(t, got.Data, 400)
	assert.Equal(t, "image/png", got.ContentType)
	assert.Equal(t, "Member 1", got.Author)
	n, err := s.Resource(ctx, note.ID)
	require.NoError(t, err)
	assert.Equal(t, "hello\nworld", n.Body)

	mine, err := s.Resources(ctx, accounts.ResourceFilter{AccountID: a.ID, Limit: -1})
	require.NoError(t, err)
	require.Len(t, mine, 3)
	assert.Equal(t, note.ID, mine[0].ID, "newest first")
	for _, x := range mine {
		assert.Nil(t, x.Data, "listings carry no data")
	}
	comm, err := s.Resources(ctx, accounts.ResourceFilter{Community: true})
	require.NoError(t, err)
	require.Len(t, comm, 3)
	assert.Equal(t, "Member 2", comm[0].Author)
	one, err := s.Resources(ctx, accounts.ResourceFilter{Community: true, Limit: 1})
	require.NoError(t, err)
	assert.Len(t, one, 1)

	assert.ErrorIs(t, s.DeleteResource(ctx, b.ID, r1.ID), privacy.ErrNotFound, "only the owner deletes")
	require.NoError(t, s.DeleteResource(ctx, a.ID, r1.ID))
	assert.ErrorIs(t, s.DeleteResource(ctx, a.ID, r1.ID), privacy.ErrNotFound)
	_, err = s.Resource(ctx, r1.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	used, _ = s.Usage(ctx, a.ID)
	assert.Equal(t, int64(600), used)
}

func testParental(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	p := accounts.ParentalRequest{ID: id(1), ParentEmail: "mum@example.org", TokenHash: hash("tok1"), CodeHash: hash("code1"), Created: t0}
	q := accounts.ParentalRequest{ID: id(2), ParentEmail: "mum@example.org", TokenHash: hash("tok2"), CodeHash: hash("code2"), Created: t0.Add(time.Hour)}
	require.NoError(t, s.CreateParental(ctx, p))
	require.NoError(t, s.CreateParental(ctx, q))

	got, err := s.ParentalByToken(ctx, p.TokenHash)
	require.NoError(t, err)
	assert.Equal(t, p.ID, got.ID)
	assert.True(t, got.Approved.IsZero())
	got, err = s.ParentalByCode(ctx, q.CodeHash)
	require.NoError(t, err)
	assert.Equal(t, q.ID, got.ID)
	_, err = s.ParentalByCode(ctx, hash("nope"))
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	child := account(10, "kid@example.org")
	child.AgeScreen, child.ParentEmail, child.ParentalRequest = accounts.AgeConsent, p.ParentEmail, p.ID
	assert.ErrorIs(t, s.CreateAccount(ctx, child, nil), privacy.ErrGone, "not approved yet")
	_, err = s.AccountByEmail(ctx, child.Email)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "nothing stored")

	require.NoError(t, s.ApproveParental(ctx, p.ID, t0.Add(time.Minute)))
	require.NoError(t, s.ApproveParental(ctx, p.ID, t0.Add(time.Hour)), "approving again is fine")
	got, _ = s.ParentalByToken(ctx, p.TokenHash)
	assert.True(t, got.Approved.Equal(t0.Add(time.Minute)), "the first approval time stays")
	assert.ErrorIs(t, s.ApproveParental(ctx, id(99), t0), privacy.ErrNotFound)

	require.NoError(t, s.CreateAccount(ctx, child, nil))
	got, _ = s.ParentalByToken(ctx, p.TokenHash)
	assert.Equal(t, child.ID, got.AccountID, "the request is used")
	other := account(11, "kid2@example.org")
	other.ParentalRequest = p.ID
	assert.ErrorIs(t, s.CreateAccount(ctx, other, nil), privacy.ErrGone, "a request is used once")
	kids, err := s.AccountsByParent(ctx, "mum@example.org")
	require.NoError(t, err)
	require.Len(t, kids, 1)
	assert.Equal(t, accounts.AgeConsent, kids[0].AgeScreen)

	due, err := s.ParentalDue(ctx, t0.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	due, _ = s.ParentalDue(ctx, t0, 10)
	assert.Empty(t, due, "not due before the delay")
	require.NoError(t, s.ConfirmParental(ctx, p.ID, t0.Add(time.Hour), hash("tok1b")))
	assert.ErrorIs(t, s.ConfirmParental(ctx, p.ID, t0.Add(time.Hour), hash("tok1c")), privacy.ErrGone, "confirmed once")
	got, err = s.ParentalByToken(ctx, hash("tok1b"))
	require.NoError(t, err, "the confirmation carries a new link")
	assert.False(t, got.Confirmed.IsZero())
	_, err = s.ParentalByToken(ctx, p.TokenHash)
	assert.ErrorIs(t, err, privacy.ErrNotFound, "the old link is replaced")

	ps, err := s.ParentalFor(ctx, "mum@example.org")
	require.NoError(t, err)
	assert.Len(t, ps, 2)
	n, err := s.PurgeParental(ctx, t0.Add(15*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the unused request is purged")
	ps, _ = s.ParentalFor(ctx, "mum@example.org")
	require.Len(t, ps, 1)
	assert.Equal(t, p.ID, ps[0].ID)

	r := accounts.ParentalRequest{ID: id(3), ParentEmail: "dad@example.org", TokenHash: hash("tok3"), CodeHash: hash("code3"), Created: t0}
	require.NoError(t, s.CreateParental(ctx, r))
	require.NoError(t, s.DeleteParental(ctx, r.ID))
	assert.ErrorIs(t, s.DeleteParental(ctx, r.ID), privacy.ErrNotFound)
}

func testDelete(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "gone@example.org")
	a.Roles = []privacy.Role{privacy.RoleSupport}
	vt := &accounts.Token{Hash: hash("v"), Kind: accounts.TokenVerify, AccountID: a.ID, Email: a.Email, Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateAccount(ctx, a, vt))
	require.NoError(t, s.CreateSession(ctx, accounts.Session{Hash: hash("s"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}))
	r := accounts.Resource{ID: id(7), AccountID: a.ID, Kind: accounts.KindNote, Title: "n", Body: "b", Size: 2, Visibility: accounts.Private, Created: t0}
	require.NoError(t, s.AddResource(ctx, &r, 100))
	p := accounts.ParentalRequest{ID: id(8), ParentEmail: "p@example.org", TokenHash: hash("pt"), CodeHash: hash("pc"), Created: t0}
	require.NoError(t, s.CreateParental(ctx, p))
	require.NoError(t, s.ApproveParental(ctx, p.ID, t0))
	kid := account(2, "kid@example.org")
	kid.ParentEmail, kid.ParentalRequest = p.ParentEmail, p.ID
	require.NoError(t, s.CreateAccount(ctx, kid, nil))

	n, err := s.DeleteAccount(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "account, session, token, resource")
	_, err = s.AccountByEmail(ctx, a.Email)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	_, _, err = s.SessionByHash(ctx, hash("s"))
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	_, err = s.Resource(ctx, r.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	staff, _ := s.Staff(ctx)
	assert.Empty(t, staff)
	_, err = s.DeleteAccount(ctx, a.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	n, err = s.DeleteAccount(ctx, kid.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the child's account and the request it used")
	ps, _ := s.ParentalFor(ctx, p.ParentEmail)
	assert.Empty(t, ps)

	old := account(3, "old@example.org")
	old.Created = t0.Add(-8 * 24 * time.Hour)
	mustCreate(t, s, old)
	verifiedOld := account(4, "kept@example.org")
	verifiedOld.Created, verifiedOld.Verified = old.Created, true
	mustCreate(t, s, verifiedOld)
	mustCreate(t, s, account(5, "new@example.org"))
	n, err = s.PurgeUnverified(ctx, t0.Add(-7*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.AccountByEmail(ctx, "old@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	for _, e := range []string{"kept@example.org", "new@example.org"} {
		_, err = s.AccountByEmail(ctx, e)
		assert.NoError(t, err, e)
	}
}
