package privacy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
)

// DefaultTokenSize is the number of random bytes in a token when TokenMaker.Size is
// zero: 256 bits, more than anyone can guess or enumerate online.
const DefaultTokenSize = 32

// TokenMaker makes the secrets the site hands out: the links mailed to confirm an
// address or a request, download links, a signed-in tab's bearer token. A token is
// the URL-safe base64 (unpadded) of Size random bytes read from Rand, and only its
// hash is ever stored, so a copy of the database opens nothing.
//
// The zero value makes 256-bit tokens from crypto/rand, hashed with HashToken. Every
// capability makes its tokens with a TokenMaker over the Rand of its Config, so a
// test that injects a fixed reader gets the same tokens on every run.
type TokenMaker struct {
	// Rand supplies the random bytes; nil means crypto/rand.Reader.
	Rand io.Reader
	// Size is the number of random bytes in a token; 0 means DefaultTokenSize.
	Size int
	// HashRaw makes the stored hash the SHA-256 of the random bytes instead of
	// HashToken of the token's text, for a holder whose rows have been stored in
	// that form from the start: another form would void every link of it still
	// waiting in an inbox.
	HashRaw bool
}

func (m TokenMaker) size() int {
	if m.Size > 0 {
		return m.Size
	}
	return DefaultTokenSize
}

// New returns a fresh token and the hash to store for it. It returns an error only
// when Rand cannot supply Size bytes (crypto/rand always can).
func (m TokenMaker) New() (token string, hash []byte, err error) {
	rnd := m.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	b := make([]byte, m.size())
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	if m.HashRaw {
		return token, hashRaw(b), nil
	}
	return token, HashToken(token), nil
}

// Hash returns the hash a token made by m is stored under, or false when s cannot be
// one (wrong length, or not URL-safe base64), so that a caller can answer "not found"
// without asking its store.
func (m TokenMaker) Hash(s string) ([]byte, bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(m.size()) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != m.size() {
		return nil, false
	}
	if m.HashRaw {
		return hashRaw(b), true
	}
	return HashToken(s), true
}

// HashToken returns the SHA-256 of the token's text: the form in which the tokens of
// a TokenMaker without HashRaw are stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func hashRaw(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// NewToken returns a 256-bit token from crypto/rand and its hash: the zero
// TokenMaker's New, for callers that inject no randomness.
func NewToken() (token string, hash []byte) {
	// crypto/rand does not fail: since Go 1.24 a broken source ends the program
	// rather than returning an error.
	token, hash, _ = TokenMaker{}.New()
	return token, hash
}
