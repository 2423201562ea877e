package newsletter_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
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

// The Service makes its confirmation tokens with the kernel's TokenMaker over
// Config.Rand: 128 bits, stored, as they always were, as the SHA-256 of the random
// bytes rather than of the token's text.
func TestConfirmTokenFromConfigRand(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.Rand = fill(5) })
		ctx := context.Background()
		want, _, err := privacy.TokenMaker{Rand: fill(5), Size: 16}.New()
		require.NoError(t, err)

		require.NoError(t, e.svc.Subscribe(ctx, ann, []newsletter.List{newsletter.ListNewsletter}))
		tok := token(t, link(t, e.mails(t, ann, 1)[0].Text, "confirm"))
		assert.Equal(t, want, tok, "the mailed token comes from Config.Rand")

		sub, err := e.store.Subscription(ctx, ann, newsletter.ListNewsletter)
		require.NoError(t, err)
		raw := sha256.Sum256(bytes.Repeat([]byte{5}, 16))
		assert.Equal(t, raw[:], sub.ConfirmHash, "the stored form is the hash of the random bytes")

		_, err = e.svc.Confirm(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, newsletter.ListNewsletter))
	})
}
