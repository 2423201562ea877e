package privacy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
)

// seq is a deterministic reader whose bytes count up from next, wrapping at 256.
type seq struct{ next byte }

func (s *seq) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.next
		s.next++
	}
	return len(p), nil
}

func TestTokenMaker(t *testing.T) {
	t.Run("InjectedRandIsDeterministic", func(t *testing.T) {
		a := privacy.TokenMaker{Rand: &seq{}}
		b := privacy.TokenMaker{Rand: &seq{}}
		for i := range 3 {
			ta, ha, err := a.New()
			require.NoError(t, err)
			tb, hb, err := b.New()
			require.NoError(t, err)
			assert.Equal(t, ta, tb, "token %d", i)
			assert.Equal(t, ha, hb, "hash %d", i)
		}
		raw := make([]byte, privacy.DefaultTokenSize)
		_, _ = (&seq{}).Read(raw)
		tok, hash, err := privacy.TokenMaker{Rand: &seq{}}.New()
		require.NoError(t, err)
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(raw), tok)
		assert.Len(t, tok, 43)
		want := sha256.Sum256([]byte(tok))
		assert.Equal(t, want[:], hash, "the stored hash is the SHA-256 of the token's text")
		assert.Equal(t, privacy.HashToken(tok), hash)
	})
	t.Run("HashRaw", func(t *testing.T) {
		m := privacy.TokenMaker{Rand: &seq{next: 7}, Size: 16, HashRaw: true}
		tok, hash, err := m.New()
		require.NoError(t, err)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		require.Len(t, raw, 16)
		assert.Equal(t, byte(7), raw[0])
		want := sha256.Sum256(raw)
		assert.Equal(t, want[:], hash, "the stored hash is the SHA-256 of the random bytes")
	})
	t.Run("HashFindsWhatNewStored", func(t *testing.T) {
		for _, m := range []privacy.TokenMaker{{}, {Size: 16, HashRaw: true}, {Size: 24}} {
			tok, hash, err := m.New()
			require.NoError(t, err)
			got, ok := m.Hash(tok)
			require.True(t, ok, "Size=%d HashRaw=%v", m.Size, m.HashRaw)
			assert.Equal(t, hash, got)
		}
	})
	t.Run("HashRefusesWhatNewCannotMake", func(t *testing.T) {
		tok, _, err := privacy.TokenMaker{}.New()
		require.NoError(t, err)
		for _, s := range []string{"", tok[:42], tok + "A", tok[:42] + "+", tok[:42] + "=", "short"} {
			_, ok := privacy.TokenMaker{}.Hash(s)
			assert.False(t, ok, "%q", s)
		}
		_, ok := privacy.TokenMaker{Size: 16}.Hash(tok)
		assert.False(t, ok, "a 256-bit token is not a 128-bit one")
	})
	t.Run("ErrRand", func(t *testing.T) {
		boom := errors.New("boom")
		_, _, err := privacy.TokenMaker{Rand: iotest.ErrReader(boom)}.New()
		assert.ErrorIs(t, err, boom)
		_, _, err = privacy.TokenMaker{Rand: bytes.NewReader(make([]byte, 31))}.New()
		assert.Error(t, err, "a short read is no token")
	})
}

// Rights draws its confirmation and download tokens from its Rand.
func TestRightsTokensFromRand(t *testing.T) {
	ctx := context.Background()
	e := newRightsEnv(t)
	e.rights.Rand = &seq{}
	want := privacy.TokenMaker{Rand: &seq{}}
	confirm, _, err := want.New()
	require.NoError(t, err)
	download, _, err := want.New()
	require.NoError(t, err)

	require.NoError(t, e.rights.Ask(ctx, "ann@example.org", privacy.RequestExport))
	tok := tokenFrom(t, e.h.Server.Wait(1, 5*time.Second)[0])
	assert.Equal(t, confirm, tok)
	out, err := e.rights.Confirm(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, download, out.DownloadToken)
	_, err = e.rights.Download(ctx, out.DownloadToken)
	require.NoError(t, err)
}
