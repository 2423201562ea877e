package comments

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// A comment form's stamp is the Signer's stamp (the signed time the form was
// served) followed by a random nonce and a MAC over both, so that each served
// form has its own stamp: two visitors served in the same second get two. Once a
// stamp posted a comment the store keeps its hash (Store.UseStamp) until the
// Signer would refuse it anyway, and refuses it again (audit #13 finding 16: one
// stamp posted 100 comments). Kept in the store rather than in this process, a
// spent stamp is refused by every process of the site; a submission that fails
// spends nothing, so a visitor fixing a typo sends the same form again.
const (
	stampNonce = 16
	stampMAC   = 16
)

func errStampUsed() error {
	return privacy.Invalid(web.TimestampField, "this form already posted a comment; reload the page to write another")
}

func errStampBad() error {
	return privacy.Invalid(web.TimestampField, "the form has expired or was altered; reload the page")
}

func (h *Handler) stampMAC(signed string, nonce []byte) []byte {
	m := hmac.New(sha256.New, h.cfg.Signer.Key)
	m.Write([]byte("consentkit comments stamp\x00"))
	m.Write([]byte(signed))
	m.Write([]byte{0})
	m.Write(nonce)
	return m.Sum(nil)[:stampMAC]
}

// stamp returns the value of the form's TimestampField for a form served now.
func (h *Handler) stamp() (string, error) { return h.stampWith(h.cfg.Signer) }

// stampWith makes a stamp with signed time from signer, which has the Handler's key.
func (h *Handler) stampWith(signer *web.Signer) (string, error) {
	b := make([]byte, stampNonce, stampNonce+stampMAC)
	if _, err := io.ReadFull(h.svc.rand, b); err != nil {
		return "", fmt.Errorf("random stamp: %w", err)
	}
	signed := signer.Stamp()
	return signed + "." + base64.RawURLEncoding.EncodeToString(append(b, h.stampMAC(signed, b)...)), nil
}

// checkStamp verifies stamp and that it has not posted a comment yet, and
// returns its hash and until when it is valid, for Post to spend it. Returns
// ErrInvalid naming TimestampField.
func (h *Handler) checkStamp(ctx context.Context, stamp string) (hash []byte, expires time.Time, err error) {
	return h.checkStampWith(ctx, h.cfg.Signer, stamp)
}

// checkStampWith is checkStamp with the signed time checked by signer, which
// has the Handler's key.
func (h *Handler) checkStampWith(ctx context.Context, signer *web.Signer, stamp string) (hash []byte, expires time.Time, err error) {
	signed, tail, ok := strings.Cut(stamp, ".")
	if err := signer.Check(signed); err != nil {
		return nil, time.Time{}, err
	}
	b, derr := base64.RawURLEncoding.DecodeString(tail)
	if !ok || derr != nil || len(b) != stampNonce+stampMAC || !hmac.Equal(b[stampNonce:], h.stampMAC(signed, b[:stampNonce])) {
		return nil, time.Time{}, errStampBad()
	}
	// Hashed as decoded: base64 decoding forgives the unused bits of the last
	// character, so one nonce has several spellings.
	hash = privacy.HashToken(signed + "." + string(b[:stampNonce]))
	now := h.svc.clock()
	used, err := h.svc.store.StampUsed(ctx, hash, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	if used {
		return nil, time.Time{}, errStampUsed()
	}
	maxAge := h.cfg.Signer.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour // web.Signer's default
	}
	// The stamp was served before now, so the Signer refuses it by now+maxAge.
	return hash, now.Add(maxAge), nil
}
