package comments_test

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
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

// The Service makes its manage and confirmation tokens with the kernel's TokenMaker
// over Config.Rand, and stores the SHA-256 of the token's text as before.
func TestTokensFromConfigRand(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) { c.Rand = fill(3) })
	want, wantHash, err := privacy.TokenMaker{Rand: fill(3)}.New()
	require.NoError(t, err)

	p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello", FollowUp: true})
	assert.Equal(t, want, p.ManageToken, "the manage token comes from Config.Rand")
	m, err := e.svc.Manage(ctx, p.ManageToken)
	require.NoError(t, err)
	assert.Equal(t, "Hello", m.Source)

	sub, err := e.store.Subscriber(ctx, ann)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(want))
	assert.Equal(t, sum[:], sub.ConfirmHash, "the confirmation token comes from Config.Rand, stored in the same form")
	assert.Equal(t, wantHash, sub.ConfirmHash)
}
