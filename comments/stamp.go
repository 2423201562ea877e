package comments

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// A comment form's stamp is the Signer's stamp (the signed time the form was
// served) followed by a nonce and a MAC over both, so that each served form has
// its own stamp: two visitors served in the same second get two. Once a stamp
// posted a comment the store keeps its hash (Store.UseStamp) until the Signer
// would refuse it anyway, and refuses it again (audit #13 finding 16: one stamp
// posted 100 comments). Kept in the store rather than in this process, a spent
// stamp is refused by every process of the site; a submission that fails spends
// nothing, so a visitor fixing a typo sends the same form again.
//
// A stamp is made for every view of a thread, so it costs one MAC and no
// system call. The nonce is the count of the Handler's stamps encrypted with
// AES under a key drawn from Config.Rand at NewHandler: a block cipher is a
// permutation, so a Handler never makes one nonce twice, and without the key
// the nonces are unpredictable and say nothing of how many pages were served;
// two Handlers' (two processes') keys are independent, so their nonces meet
// as rarely as random ones. The MAC (HMAC-SHA256 under the Signer's key, from
// a pool of keyed states) makes a stamp unforgeable, as before: the nonce
// need not be secret. The Signer's stamp of the time, itself a MAC, depends
// only on the second, so it is made once a second.
const (
	stampNonce = 16
	stampMAC   = 16
)

// stamper makes a Handler's stamps.
type stamper struct {
	nonces cipher.Block  // AES under a key of this Handler's only
	count  atomic.Uint64 // stamps made
	signed atomic.Pointer[signedSecond]
	macs   sync.Pool // of *stampScratch
}

// signedSecond is the Signer's stamp of one second.
type signedSecond struct {
	unix   int64
	signed string
}

// stampScratch is the room one stamp is made in.
type stampScratch struct {
	mac hash.Hash // HMAC-SHA256 under the Signer's key
	msg []byte
	ctr [aes.BlockSize]byte
	raw [stampNonce + sha256.Size]byte // the nonce, then the MAC
	out []byte
}

func newStamper(rand io.Reader, key []byte) (*stamper, error) {
	k := make([]byte, 16)
	if _, err := io.ReadFull(rand, k); err != nil {
		return nil, fmt.Errorf("comments: random stamp key: %w", err)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("comments: stamp key: %w", err)
	}
	s := &stamper{nonces: b}
	s.macs.New = func() any { return &stampScratch{mac: hmac.New(sha256.New, key)} }
	return s, nil
}

// sum returns the MAC of signed and nonce, made in sc.raw after the nonce.
func (sc *stampScratch) sum(signed string, nonce []byte) []byte {
	sc.msg = append(append(append(append(sc.msg[:0], "consentkit comments stamp\x00"...), signed...), 0), nonce...)
	sc.mac.Reset()
	sc.mac.Write(sc.msg)
	return sc.mac.Sum(sc.raw[:stampNonce])[stampNonce : stampNonce+stampMAC]
}

func errStampUsed() error {
	return privacy.Invalid(web.TimestampField, "this form already posted a comment; reload the page to write another")
}

func errStampBad() error {
	return privacy.Invalid(web.TimestampField, "the form has expired or was altered; reload the page")
}

// stamp returns the value of the form's TimestampField for a form served now.
func (h *Handler) stamp() string {
	now := h.cfg.Signer.Now
	if now == nil {
		now = time.Now // as web.Signer
	}
	unix := now().Unix()
	s := h.stamps.signed.Load()
	if s == nil || s.unix != unix {
		s = &signedSecond{unix: unix, signed: h.cfg.Signer.Stamp()}
		if now().Unix() == unix { // else the time signed may be the next second
			h.stamps.signed.Store(s)
		}
	}
	return h.stampWith(s.signed)
}

// stampWith makes a stamp with signed, a stamp of a Signer with the Handler's key.
func (h *Handler) stampWith(signed string) string {
	st := h.stamps
	sc := st.macs.Get().(*stampScratch)
	defer st.macs.Put(sc)
	binary.BigEndian.PutUint64(sc.ctr[8:], st.count.Add(1))
	st.nonces.Encrypt(sc.raw[:stampNonce], sc.ctr[:])
	sc.sum(signed, sc.raw[:stampNonce])
	sc.out = append(append(sc.out[:0], signed...), '.')
	sc.out = base64.RawURLEncoding.AppendEncode(sc.out, sc.raw[:stampNonce+stampMAC])
	return string(sc.out)
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
	if !ok || derr != nil || len(b) != stampNonce+stampMAC || !h.macOK(signed, b[:stampNonce], b[stampNonce:]) {
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

// macOK reports whether mac is the MAC of signed and nonce.
func (h *Handler) macOK(signed string, nonce, mac []byte) bool {
	sc := h.stamps.macs.Get().(*stampScratch)
	defer h.stamps.macs.Put(sc)
	return hmac.Equal(mac, sc.sum(signed, nonce))
}
