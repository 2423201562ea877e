package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

func passkey(n int, acct string, created time.Time) accounts.Passkey {
	return accounts.Passkey{ID: id(200 + n), AccountID: acct, Name: "key " + string(rune('a'+n)), CredentialID: []byte{0xc0, byte(n), 0xff, 0},
		Data: []byte(`{"n":` + string(rune('0'+n)) + `}`), Created: created}
}

func testPasskeys(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a, b := account(1, "keys@example.org"), account(2, "other-keys@example.org")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	assert.ErrorIs(t, s.AddPasskey(ctx, passkey(9, id(99), t0)), privacy.ErrNotFound, "a missing account")

	require.NoError(t, s.AddPasskey(ctx, passkey(2, a.ID, t0.Add(time.Second))))
	require.NoError(t, s.AddPasskey(ctx, passkey(1, a.ID, t0)))
	require.NoError(t, s.AddPasskey(ctx, passkey(3, b.ID, t0)))
	dup := passkey(4, b.ID, t0)
	dup.CredentialID = passkey(1, "", t0).CredentialID
	assert.ErrorIs(t, s.AddPasskey(ctx, dup), privacy.ErrConflict, "a credential id is registered once on the site")

	list, err := s.Passkeys(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, id(201), list[0].ID, "oldest first")
	assert.Equal(t, "key b", list[0].Name)
	assert.Equal(t, []byte{0xc0, 1, 0xff, 0}, list[0].CredentialID, "binary ids come back whole")
	assert.Equal(t, []byte(`{"n":1}`), list[0].Data)
	assert.True(t, list[0].Created.Equal(t0), "Created=%v", list[0].Created)
	assert.True(t, list[0].LastUsed.IsZero())

	got, err := s.PasskeyByCredential(ctx, []byte{0xc0, 3, 0xff, 0})
	require.NoError(t, err)
	assert.Equal(t, b.ID, got.AccountID)
	_, err = s.PasskeyByCredential(ctx, []byte{0xc0, 3, 0xff})
	assert.ErrorIs(t, err, privacy.ErrNotFound, "a prefix of an id is another id")

	assert.ErrorIs(t, s.UsePasskey(ctx, b.ID, id(201), []byte("x"), t0), privacy.ErrNotFound, "another account's passkey")
	require.NoError(t, s.UsePasskey(ctx, a.ID, id(201), []byte(`{"n":1,"count":5}`), t0.Add(time.Hour)))
	require.NoError(t, s.UsePasskey(ctx, a.ID, id(201), []byte(`{"n":1,"count":5}`), t0.Add(time.Hour)), "the same again is no error")
	got, err = s.PasskeyByCredential(ctx, []byte{0xc0, 1, 0xff, 0})
	require.NoError(t, err)
	assert.Equal(t, []byte(`{"n":1,"count":5}`), got.Data)
	assert.True(t, got.LastUsed.Equal(t0.Add(time.Hour)), "LastUsed=%v", got.LastUsed)

	assert.ErrorIs(t, s.DeletePasskey(ctx, b.ID, id(201)), privacy.ErrNotFound, "a member cannot remove another's passkey")
	require.NoError(t, s.DeletePasskey(ctx, a.ID, id(201)))
	assert.ErrorIs(t, s.DeletePasskey(ctx, a.ID, id(201)), privacy.ErrNotFound)
	_, err = s.PasskeyByCredential(ctx, []byte{0xc0, 1, 0xff, 0})
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	require.NoError(t, s.AddPasskey(ctx, passkey(1, b.ID, t0)), "a removed credential may be registered again")
	list, _ = s.Passkeys(ctx, a.ID)
	assert.Len(t, list, 1)
}

func testCeremonies(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "ceremony@example.org")
	mustCreate(t, s, a)
	reg := accounts.Ceremony{Hash: hash("c1"), Kind: accounts.CeremonyRegister, AccountID: a.ID, Data: []byte(`{"challenge":"x"}`),
		Created: t0, Expires: t0.Add(5 * time.Minute)}
	require.NoError(t, s.CreateCeremony(ctx, reg))
	anon := accounts.Ceremony{Hash: hash("c2"), Kind: accounts.CeremonySignIn, Data: []byte(`{}`), Created: t0, Expires: t0.Add(5 * time.Minute)}
	require.NoError(t, s.CreateCeremony(ctx, anon), "a sign-in with a passkey alone names no account")
	assert.ErrorIs(t, s.CreateCeremony(ctx, accounts.Ceremony{Hash: hash("c3"), Kind: accounts.CeremonyConfirm, AccountID: id(99), Data: []byte(`{}`),
		Created: t0, Expires: t0.Add(time.Minute)}), privacy.ErrNotFound)

	got, err := s.UseCeremony(ctx, reg.Hash, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, accounts.CeremonyRegister, got.Kind)
	assert.Equal(t, a.ID, got.AccountID)
	assert.Equal(t, reg.Data, got.Data)
	assert.True(t, got.Expires.Equal(reg.Expires), "Expires=%v", got.Expires)
	_, err = s.UseCeremony(ctx, reg.Hash, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "once only")
	got, err = s.UseCeremony(ctx, anon.Hash, t0)
	require.NoError(t, err)
	assert.Empty(t, got.AccountID)

	late := accounts.Ceremony{Hash: hash("c4"), Kind: accounts.CeremonySignIn, Data: []byte(`{}`), Created: t0, Expires: t0.Add(time.Minute)}
	require.NoError(t, s.CreateCeremony(ctx, late))
	_, err = s.UseCeremony(ctx, late.Hash, t0.Add(time.Minute))
	assert.ErrorIs(t, err, privacy.ErrGone, "expired")
	_, err = s.UseCeremony(ctx, late.Hash, t0)
	assert.ErrorIs(t, err, privacy.ErrGone, "an expired ceremony is used up all the same")

	require.NoError(t, s.CreateCeremony(ctx, late))
	live := accounts.Ceremony{Hash: hash("c5"), Kind: accounts.CeremonySecond, AccountID: a.ID, Data: []byte(`{}`), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateCeremony(ctx, live))
	n, err := s.PurgeCeremonies(ctx, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.UseCeremony(ctx, live.Hash, t0)
	assert.NoError(t, err, "a live ceremony is kept")

	// Ten requests with one id at once: one goes on.
	race := accounts.Ceremony{Hash: hash("c6"), Kind: accounts.CeremonySignIn, Data: []byte(`{}`), Created: t0, Expires: t0.Add(time.Hour)}
	require.NoError(t, s.CreateCeremony(ctx, race))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 10 {
		wg.Go(func() {
			if _, err := s.UseCeremony(ctx, race.Hash, t0); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, ok, "a ceremony is used once")
}

func testDeletePasskeys(t *testing.T, s accounts.Store) {
	ctx := context.Background()
	a := account(1, "gone-keys@example.org")
	mustCreate(t, s, a)
	require.NoError(t, s.AddPasskey(ctx, passkey(1, a.ID, t0)))
	require.NoError(t, s.AddPasskey(ctx, passkey(2, a.ID, t0)))
	require.NoError(t, s.CreateCeremony(ctx, accounts.Ceremony{Hash: hash("c"), Kind: accounts.CeremonyConfirm, AccountID: a.ID, Data: []byte(`{}`),
		Created: t0, Expires: t0.Add(time.Hour)}))
	n, err := s.DeleteAccount(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "account, two passkeys, ceremony")
	list, _ := s.Passkeys(ctx, a.ID)
	assert.Empty(t, list)
	_, err = s.PasskeyByCredential(ctx, passkey(1, "", t0).CredentialID)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	_, err = s.UseCeremony(ctx, hash("c"), t0)
	assert.ErrorIs(t, err, privacy.ErrGone)
}
