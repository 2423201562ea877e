package newsletter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strconv"

	"github.com/consentkit/consentkit/privacy"
)

const (
	confirmTokenLen = 16 // random bytes: 128 bits
	macLen          = 16 // bytes of HMAC-SHA256 kept in an unsubscribe token: 128 bits
	unsubTokenLen   = 8 + macLen
)

// confirmTokens makes the mailed confirmation tokens from rnd. Their rows hold the
// SHA-256 of the token's 16 random bytes, not of its text, as they have since the
// first release: HashRaw keeps every stored confirmation and every link already
// mailed working.
func confirmTokens(rnd io.Reader) privacy.TokenMaker {
	return privacy.TokenMaker{Rand: rnd, Size: confirmTokenLen, HashRaw: true}
}

// An unsubscribe token names a subscription and is signed with the site's secret
// over its id and address. It is derived, not stored: a campaign to 10,000 members
// writes no token rows, and the link works for as long as the subscription exists.
// Binding the address means a token can never act on another person, even if an id
// were reused after erasure.
type tokenSigner struct{ key []byte }

func (t tokenSigner) mac(id int64, email string) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte("consentkit newsletter unsubscribe\x00"))
	h.Write([]byte(strconv.FormatInt(id, 10)))
	h.Write([]byte{0})
	h.Write([]byte(email))
	return h.Sum(nil)[:macLen]
}

// unsubscribeToken returns the token for subscription id of email.
func (t tokenSigner) unsubscribeToken(id int64, email string) string {
	b := make([]byte, 8, unsubTokenLen)
	binary.BigEndian.PutUint64(b, uint64(id))
	return base64.RawURLEncoding.EncodeToString(append(b, t.mac(id, email)...))
}

// parseUnsubscribeToken splits a token into the subscription id it names and its
// MAC; verify checks the MAC once the subscription's address is known.
func parseUnsubscribeToken(s string) (id int64, mac []byte, ok bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(unsubTokenLen) {
		return 0, nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != unsubTokenLen {
		return 0, nil, false
	}
	u := binary.BigEndian.Uint64(b[:8])
	if u == 0 || u > 1<<62 {
		return 0, nil, false
	}
	return int64(u), b[8:], true
}

func (t tokenSigner) verify(id int64, email string, mac []byte) bool {
	return hmac.Equal(t.mac(id, email), mac)
}
