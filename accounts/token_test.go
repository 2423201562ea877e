package accounts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// fill is a deterministic reader that yields one byte over and over, so every token
// drawn from it is the same however many bytes were read before.
type fill byte

func (f fill) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

// The Service makes its tokens with the kernel's TokenMaker over Config.Rand, and
// stores them as accounts always has: the hex of the SHA-256 of the token's text.
func TestTokensFromConfigRand(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *accounts.Config) { c.Rand = fill(9) })
	want, _, err := privacy.TokenMaker{Rand: fill(9)}.New()
	require.NoError(t, err)

	_, err = e.svc.Register(ctx, accounts.RegisterInput{Email: "ann@example.org", Password: "correct horse", DisplayName: "Ann", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	tok := e.linkToken(e.mailTo("ann@example.org", "Confirm your address"))
	assert.Equal(t, want, tok, "the mailed token comes from Config.Rand")

	stored, err := e.store.TokensTo(ctx, "ann@example.org")
	require.NoError(t, err)
	require.Len(t, stored, 1)
	sum := sha256.Sum256([]byte(tok))
	assert.Equal(t, hex.EncodeToString(sum[:]), stored[0].Hash, "the stored form is unchanged")

	require.NoError(t, e.svc.Verify(ctx, tok, "correct horse"))
	res, err := e.svc.SignIn(ctx, "ann@example.org", "correct horse")
	require.NoError(t, err)
	assert.Equal(t, want, res.Token, "the bearer token comes from Config.Rand too")
}
