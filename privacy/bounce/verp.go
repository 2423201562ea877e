package bounce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// VERP makes and reads the return paths that name a message.
type VERP struct {
	Domain string // the domain whose MX is the Receiver, e.g. bounces.example.com
	Key    []byte // signs the tokens; at least 16 bytes, the same for every process of a site
}

const prefix = "bounce+"

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ReturnPath returns the envelope sender for outbox message id:
// bounce+ID-MAC@Domain, the id in base 36 and an 80-bit MAC, lower case throughout
// so that a relay that folds the local part's case does not break it.
func (v VERP) ReturnPath(id int64) string {
	s := strconv.FormatInt(id, 36)
	return prefix + s + "-" + v.mac(s) + "@" + strings.ToLower(v.Domain)
}

// Parse returns the message id of a return path made by ReturnPath, and false for
// any other address, a forged or mistyped one included.
func (v VERP) Parse(addr string) (int64, bool) {
	local, domain, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok || domain != strings.ToLower(v.Domain) || !strings.HasPrefix(local, prefix) {
		return 0, false
	}
	s, mac, ok := strings.Cut(local[len(prefix):], "-")
	if !ok || len(s) > 13 || !hmac.Equal([]byte(mac), []byte(v.mac(s))) {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 36, 64)
	return id, err == nil && id > 0
}

func (v VERP) mac(s string) string {
	h := hmac.New(sha256.New, v.Key)
	h.Write([]byte("verp\x00" + s))
	return b32.EncodeToString(h.Sum(nil)[:10])
}
