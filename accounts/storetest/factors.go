package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

func testSessionProof(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "proof@example.org")
	mustCreate(t, s, a)
	x := accounts.Session{Hash: hash("p1"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour), Device: "Firefox on Linux", Proved: t0}
	require.NoError(t, s.CreateSession(ctx, x))
	got, _, err := s.SessionByHash(ctx, x.Hash)
	require.NoError(t, err)
	assert.Equal(t, "Firefox on Linux", got.Device)
	assert.True(t, got.Proved.Equal(t0), "Proved=%v, want %v", got.Proved, t0)

	require.NoError(t, s.SetSessionProved(ctx, x.Hash, t0.Add(time.Minute)))
	list, err := s.Sessions(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Proved.Equal(t0.Add(time.Minute)), "Proved=%v", list[0].Proved)
	assert.Equal(t, "Firefox on Linux", list[0].Device)
	assert.ErrorIs(t, s.SetSessionProved(ctx, hash("none"), t0), privacy.ErrNotFound)

	y := accounts.Session{Hash: hash("p2"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateSession(ctx, y))
	got, _, err = s.SessionByHash(ctx, y.Hash)
	require.NoError(t, err)
	assert.True(t, got.Proved.IsZero(), "a session never proved has a zero Proved, got %v", got.Proved)
}

func testRevokeSessions(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "mine@example.org"), account(2, "theirs@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	for i, owner := range []string{a.ID, a.ID, a.ID, b.ID} {
		require.NoError(t, s.CreateSession(ctx, accounts.Session{Hash: hash(string(rune('a' + i))), AccountID: owner,
			Created: t0.Add(time.Duration(i) * time.Second), LastSeen: t0, Expires: t0.Add(time.Hour)}))
	}
	assert.ErrorIs(t, s.DeleteSessionOf(ctx, a.ID, hash("d")), privacy.ErrNotFound, "a member cannot end another's session")
	_, _, err := s.SessionByHash(ctx, hash("d"))
	require.NoError(t, err)
	require.NoError(t, s.DeleteSessionOf(ctx, a.ID, hash("b")))
	assert.ErrorIs(t, s.DeleteSessionOf(ctx, a.ID, hash("b")), privacy.ErrNotFound)

	n, err := s.DeleteOtherSessions(ctx, a.ID, hash("a"))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "c went; a is kept")
	list, err := s.Sessions(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, hash("a"), list[0].Hash)
	_, _, err = s.SessionByHash(ctx, hash("d"))
	assert.NoError(t, err, "another account's sessions stay")
}

func totpFactor(n int, acct string, created time.Time) accounts.Factor {
	return accounts.Factor{ID: id(100 + n), AccountID: acct, Kind: accounts.FactorTOTP, Secret: []byte{1, 2, 3, byte(n)}, Created: created}
}

func testFactors(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "factor@example.org")
	mustCreate(t, s, a)
	assert.ErrorIs(t, s.AddFactor(ctx, totpFactor(9, id(99), t0)), privacy.ErrNotFound)

	require.NoError(t, s.AddFactor(ctx, totpFactor(1, a.ID, t0)))
	require.NoError(t, s.AddFactor(ctx, totpFactor(2, a.ID, t0.Add(time.Second))))
	fs, err := s.Factors(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, fs, 1, "a new enrolment replaces an unconfirmed one")
	f := fs[0]
	assert.Equal(t, id(102), f.ID)
	assert.Equal(t, []byte{1, 2, 3, 2}, f.Secret)
	assert.True(t, f.Confirmed.IsZero())
	assert.True(t, f.Created.Equal(t0.Add(time.Second)))

	assert.ErrorIs(t, s.ConfirmFactor(ctx, a.ID, id(101), 5, t0, nil), privacy.ErrGone, "the replaced enrolment")
	assert.ErrorIs(t, s.UseFactor(ctx, a.ID, f.ID, 5, t0), privacy.ErrGone, "an unconfirmed factor proves nothing")
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, f.ID, 5, t0.Add(time.Minute), []string{hash("c1")}))
	assert.ErrorIs(t, s.ConfirmFactor(ctx, a.ID, f.ID, 6, t0, nil), privacy.ErrGone, "confirmed once only")
	fs, _ = s.Factors(ctx, a.ID)
	require.Len(t, fs, 1)
	assert.True(t, fs[0].Confirmed.Equal(t0.Add(time.Minute)), "Confirmed=%v", fs[0].Confirmed)
	assert.Equal(t, int64(5), fs[0].Step)

	require.NoError(t, s.AddFactor(ctx, totpFactor(3, a.ID, t0.Add(2*time.Second))))
	fs, _ = s.Factors(ctx, a.ID)
	assert.Len(t, fs, 2, "a new enrolment keeps the confirmed factor")
	assert.ErrorIs(t, s.DeleteFactor(ctx, id(2), f.ID), privacy.ErrNotFound, "another account's factor")
	require.NoError(t, s.DeleteFactor(ctx, a.ID, id(103)))
	n, _ := s.RecoveryCodes(ctx, a.ID)
	assert.Equal(t, 1, n, "a confirmed factor is left, so are the codes")
	require.NoError(t, s.DeleteFactor(ctx, a.ID, f.ID))
	assert.ErrorIs(t, s.DeleteFactor(ctx, a.ID, f.ID), privacy.ErrNotFound)
	n, _ = s.RecoveryCodes(ctx, a.ID)
	assert.Equal(t, 0, n, "the last factor takes the recovery codes with it")
	fs, _ = s.Factors(ctx, a.ID)
	assert.Empty(t, fs)
}

func testFactorReplay(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "replay@example.org")
	mustCreate(t, s, a)
	f := totpFactor(1, a.ID, t0)
	require.NoError(t, s.AddFactor(ctx, f))
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, f.ID, 10, t0, nil))
	assert.ErrorIs(t, s.UseFactor(ctx, a.ID, f.ID, 10, t0), privacy.ErrGone, "the step that confirmed it")
	assert.ErrorIs(t, s.UseFactor(ctx, a.ID, f.ID, 9, t0), privacy.ErrGone, "an earlier step")
	assert.ErrorIs(t, s.UseFactor(ctx, id(2), f.ID, 11, t0), privacy.ErrGone, "another account")

	// Ten requests with the same code at once: one is accepted.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 10 {
		wg.Go(func() {
			if s.UseFactor(ctx, a.ID, f.ID, 11, t0.Add(time.Minute)) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, ok, "a code is accepted once")
	fs, _ := s.Factors(ctx, a.ID)
	require.Len(t, fs, 1)
	assert.Equal(t, int64(11), fs[0].Step)
	assert.True(t, fs[0].LastUsed.Equal(t0.Add(time.Minute)), "LastUsed=%v", fs[0].LastUsed)
}

func testRecoveryCodes(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "codes@example.org"), account(2, "other@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	f := totpFactor(1, a.ID, t0)
	require.NoError(t, s.AddFactor(ctx, f))
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, f.ID, 1, t0, []string{hash("c1"), hash("c2"), hash("c3")}))
	n, err := s.RecoveryCodes(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.ErrorIs(t, s.UseRecoveryCode(ctx, b.ID, hash("c1")), privacy.ErrGone, "another account's code")
	require.NoError(t, s.UseRecoveryCode(ctx, a.ID, hash("c1")))
	assert.ErrorIs(t, s.UseRecoveryCode(ctx, a.ID, hash("c1")), privacy.ErrGone, "a used code")
	n, _ = s.RecoveryCodes(ctx, a.ID)
	assert.Equal(t, 2, n)

	// Confirming a new enrolment replaces the codes.
	g := totpFactor(2, a.ID, t0)
	require.NoError(t, s.AddFactor(ctx, g))
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, g.ID, 1, t0, []string{hash("d1")}))
	assert.ErrorIs(t, s.UseRecoveryCode(ctx, a.ID, hash("c2")), privacy.ErrGone)
	require.NoError(t, s.UseRecoveryCode(ctx, a.ID, hash("d1")))
}

func testChallenges(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "challenge@example.org")
	mustCreate(t, s, a)
	c := accounts.Challenge{Hash: hash("ch1"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(5 * time.Minute)}
	require.NoError(t, s.CreateChallenge(ctx, c))
	assert.ErrorIs(t, s.CreateChallenge(ctx, accounts.Challenge{Hash: hash("x"), Kind: accounts.ChallengeSignIn, AccountID: id(99), Created: t0, Expires: t0}), privacy.ErrNotFound)

	_, err := s.UseChallenge(ctx, c.Hash, "other-kind", t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "another kind")
	got, err := s.UseChallenge(ctx, c.Hash, accounts.ChallengeSignIn, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.AccountID)
	assert.True(t, got.Expires.Equal(c.Expires))
	_, err = s.UseChallenge(ctx, c.Hash, accounts.ChallengeSignIn, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "once only")

	late := accounts.Challenge{Hash: hash("ch2"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(time.Minute)}
	require.NoError(t, s.CreateChallenge(ctx, late))
	_, err = s.UseChallenge(ctx, late.Hash, accounts.ChallengeSignIn, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "expired")

	require.NoError(t, s.CreateChallenge(ctx, late))
	require.NoError(t, s.CreateChallenge(ctx, accounts.Challenge{Hash: hash("ch3"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(time.Hour)}))
	n, err := s.PurgeChallenges(ctx, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.UseChallenge(ctx, hash("ch3"), accounts.ChallengeSignIn, t0)
	assert.NoError(t, err, "a live challenge is kept")
}

func testDeleteFactors(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "gone@example.org")
	mustCreate(t, s, a)
	f := totpFactor(1, a.ID, t0)
	require.NoError(t, s.AddFactor(ctx, f))
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, f.ID, 1, t0, []string{hash("c1"), hash("c2")}))
	require.NoError(t, s.CreateChallenge(ctx, accounts.Challenge{Hash: hash("ch"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(time.Hour)}))
	n, err := s.DeleteAccount(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "account, factor, two codes, challenge")
	fs, _ := s.Factors(ctx, a.ID)
	assert.Empty(t, fs)
	left, _ := s.RecoveryCodes(ctx, a.ID)
	assert.Zero(t, left)
	_, err = s.UseChallenge(ctx, hash("ch"), accounts.ChallengeSignIn, t0)
	assert.ErrorIs(t, err, privacy.ErrGone)
}

// testSecurityUnitOfWork: the session, factor and challenge writes take part in
// a unit of work, so a host's failed change (or a Service's whose mail was not
// queued) leaves none of them.
func testSecurityUnitOfWork(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	a := account(1, "unit@example.org")
	mustCreate(t, s, a)
	x := accounts.Session{Hash: hash("u1"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateSession(ctx, x))
	f := totpFactor(1, a.ID, t0)
	require.NoError(t, s.AddFactor(ctx, f))
	require.NoError(t, s.ConfirmFactor(ctx, a.ID, f.ID, 5, t0, []string{hash("code1")}))
	ch := accounts.Challenge{Hash: hash("uch"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateChallenge(ctx, ch))

	failed := func(steps ...func(ctx context.Context) error) {
		t.Helper()
		require.ErrorIs(t, s.Do(ctx, func(ctx context.Context) error {
			for _, step := range steps {
				if err := step(ctx); err != nil {
					return err
				}
			}
			return boom
		}), boom)
	}
	unchanged := func(msg string) {
		t.Helper()
		sessions, err := s.Sessions(ctx, a.ID)
		require.NoError(t, err)
		require.Len(t, sessions, 1, msg)
		assert.Equal(t, x.Hash, sessions[0].Hash, msg)
		assert.True(t, sessions[0].LastSeen.Equal(t0), "%s: LastSeen=%v", msg, sessions[0].LastSeen)
		assert.True(t, sessions[0].Proved.IsZero(), "%s: Proved=%v", msg, sessions[0].Proved)
		fs, err := s.Factors(ctx, a.ID)
		require.NoError(t, err)
		require.Len(t, fs, 1, msg)
		assert.Equal(t, f.ID, fs[0].ID, msg)
		assert.Equal(t, int64(5), fs[0].Step, msg)
		n, err := s.RecoveryCodes(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, n, msg)
	}

	failed(
		func(ctx context.Context) error {
			return s.CreateSession(ctx, accounts.Session{Hash: hash("u2"), AccountID: a.ID, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)})
		},
		func(ctx context.Context) error { return s.TouchSession(ctx, x.Hash, t0.Add(time.Minute)) },
		func(ctx context.Context) error { return s.SetSessionProved(ctx, x.Hash, t0.Add(time.Minute)) },
		func(ctx context.Context) error { return s.AddFactor(ctx, totpFactor(2, a.ID, t0.Add(time.Second))) },
		func(ctx context.Context) error { return s.UseFactor(ctx, a.ID, f.ID, 9, t0.Add(time.Minute)) },
		func(ctx context.Context) error { return s.UseRecoveryCode(ctx, a.ID, hash("code1")) },
		func(ctx context.Context) error {
			return s.CreateChallenge(ctx, accounts.Challenge{Hash: hash("uch2"), Kind: accounts.ChallengeSignIn, AccountID: a.ID, Created: t0, Expires: t0.Add(time.Hour)})
		},
		func(ctx context.Context) error {
			_, err := s.UseChallenge(ctx, ch.Hash, accounts.ChallengeSignIn, t0.Add(time.Minute))
			return err
		},
	)
	unchanged("the writes of a failed unit of work are undone")
	_, err := s.UseChallenge(ctx, hash("uch2"), accounts.ChallengeSignIn, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "a challenge created in a failed unit of work is not kept")

	failed(
		func(ctx context.Context) error { return s.DeleteFactor(ctx, a.ID, f.ID) },
		func(ctx context.Context) error { return s.DeleteSessionOf(ctx, a.ID, x.Hash) },
		func(ctx context.Context) error { _, err := s.DeleteOtherSessions(ctx, a.ID, ""); return err },
		func(ctx context.Context) error { _, err := s.DeleteSessions(ctx, a.ID); return err },
		func(ctx context.Context) error { return s.DeleteSession(ctx, x.Hash) },
		func(ctx context.Context) error { _, err := s.PurgeSessions(ctx, t0.Add(2*time.Hour), t0); return err },
		func(ctx context.Context) error { _, err := s.PurgeChallenges(ctx, t0.Add(2*time.Hour)); return err },
	)
	unchanged("the deletions of a failed unit of work are undone")
	_, err = s.UseChallenge(ctx, ch.Hash, accounts.ChallengeSignIn, t0.Add(time.Minute))
	assert.NoError(t, err, "a challenge used or purged in a failed unit of work is still there")
}
