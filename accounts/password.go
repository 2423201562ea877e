package accounts

import (
	"bytes"
	"context"
	"crypto/md5" // only to verify imported phpass hashes (P12)
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // only to verify imported legacy hashes (P12); new hashes are argon2id
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/consentkit/consentkit/privacy"
)

// Argon2Params are the argon2id parameters new hashes use. The zero value means
// DefaultArgon2.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2 is the OWASP minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var DefaultArgon2 = Argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read from a stored hash, so that a corrupt or hostile hash
// cannot make one verification take gigabytes or minutes.
const (
	maxArgonMemory  = 1 << 20 // 1 GiB
	maxArgonTime    = 16
	maxArgonThreads = 16
	maxSaltLen      = 64
	maxKeyLen       = 128
	minKeyLen       = 16
	// Legacy costs go well past what the sites that made them used (bcrypt 10 to 12,
	// WordPress 2^13 and phpBB 2^11 MD5 rounds, Django 1.2 million iterations in 6.0).
	maxBcryptCost  = 16
	maxPHPassLog2  = 20
	maxPBKDF2Iter  = 5_000_000
	minSSHASaltLen = 4 // passlib calls a shorter {SSHA} salt malformed
	// MaxPasswordLen bounds a password in characters.
	MaxPasswordLen = 256
	// MinPasswordLen is the shortest password accepted for a new account.
	MinPasswordLen = 8
)

// Hash schemes as stored. Legacy schemes come only from ImportLegacy and are replaced
// with argon2id at the first successful sign-in.
const (
	SchemeArgon2id         = "argon2id"
	SchemeSHA1             = "sha1"               // hex sha1(password)
	SchemeSHA1SaltPassword = "sha1-salt-password" // hex sha1(salt + password)
	SchemeSHA1PasswordSalt = "sha1-password-salt" // hex sha1(password + salt)
	SchemeLDAP             = "ldap"               // {SHA}base64 or {SSHA}base64(digest + salt)
	SchemeBcrypt           = "bcrypt"             // $2a$, $2b$ or $2y$: cost, salt and digest
	SchemePHPass           = "phpass"             // $P$ (WordPress) or $H$ (phpBB): iterated MD5
	SchemePBKDF2SHA256     = "pbkdf2-sha256"      // Django's pbkdf2_sha256$iterations$salt$base64
)

// PasswordHash is a parsed stored hash.
type PasswordHash struct {
	Scheme  string
	Params  Argon2Params // for argon2id
	Variant string       // "2a", "2b" or "2y" for bcrypt; "P" or "H" for phpass
	// Cost is log2 of the rounds for bcrypt and phpass, the iterations for
	// pbkdf2-sha256.
	Cost uint32
	Salt []byte // for phpass and pbkdf2-sha256 the salt text as it is hashed
	Key  []byte // the digest
}

// ParsePasswordHash reads a stored hash: an argon2id PHC string
// ($argon2id$v=19$m=..,t=..,p=..$salt$key) or one of the legacy forms ImportLegacy
// stores ($sha1$hex, $sha1-salt-password$b64salt$hex, $sha1-password-salt$b64salt$hex,
// {SHA}b64, {SSHA}b64, bcrypt's $2a$, $2b$ and $2y$, phpass's $P$ and $H$, and
// Django's pbkdf2_sha256$iterations$salt$b64). Returns ErrInvalid naming the field
// "hash" for anything else, including costs beyond safe bounds.
func ParsePasswordHash(s string) (PasswordHash, error) {
	bad := func(format string, args ...any) (PasswordHash, error) {
		return PasswordHash{}, privacy.Invalid("hash", format, args...)
	}
	if len(s) > 512 {
		return bad("the hash is too long")
	}
	if rest, ok := cutPrefixFold(s, "{SSHA}"); ok {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) <= sha1.Size || len(raw) > sha1.Size+maxSaltLen {
			return bad("the {SSHA} hash is not base64 of a sha1 digest and a salt")
		}
		return PasswordHash{Scheme: SchemeLDAP, Key: raw[:sha1.Size], Salt: raw[sha1.Size:]}, nil
	}
	if rest, ok := cutPrefixFold(s, "{SHA}"); ok {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) != sha1.Size {
			return bad("the {SHA} hash is not base64 of a sha1 digest")
		}
		return PasswordHash{Scheme: SchemeLDAP, Key: raw}, nil
	}
	if rest, ok := strings.CutPrefix(s, "pbkdf2_sha256$"); ok {
		return parseDjangoPBKDF2(rest)
	}
	parts := strings.Split(s, "$")
	if len(parts) < 3 || parts[0] != "" {
		return bad("unknown hash format")
	}
	switch parts[1] {
	case SchemeArgon2id:
		return parseArgon2id(parts)
	case SchemeSHA1:
		if len(parts) != 3 {
			return bad("a sha1 hash is $sha1$hex")
		}
		key, err := sha1Hex(parts[2])
		if err != nil {
			return bad("%v", err)
		}
		return PasswordHash{Scheme: SchemeSHA1, Key: key}, nil
	case SchemeSHA1SaltPassword, SchemeSHA1PasswordSalt:
		if len(parts) != 4 {
			return bad("a salted sha1 hash is $scheme$base64-salt$hex")
		}
		salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[2])
		if err != nil || len(salt) > maxSaltLen {
			return bad("the salt is not base64 of at most %d bytes", maxSaltLen)
		}
		key, err := sha1Hex(parts[3])
		if err != nil {
			return bad("%v", err)
		}
		return PasswordHash{Scheme: parts[1], Salt: salt, Key: key}, nil
	case "2a", "2b", "2y":
		return parseBcrypt(parts)
	case "P", "H":
		return parsePHPass(parts)
	}
	return bad("unknown hash scheme")
}

// bcryptBase64 is the base64 alphabet of bcrypt (OpenBSD's, not RFC 4648's).
var bcryptBase64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// parseBcrypt reads $2x$cc$ then 22 characters of salt and 31 of digest. Unused
// bits in the last character of each are dropped, as bcrypt itself drops them.
func parseBcrypt(parts []string) (PasswordHash, error) {
	bad := func(msg string) (PasswordHash, error) {
		return PasswordHash{}, privacy.Invalid("hash", "bcrypt: %s", msg)
	}
	if len(parts) != 4 || len(parts[2]) != 2 || len(parts[3]) != 22+31 {
		return bad("want $2b$ and a two-digit cost, then $ and 53 characters")
	}
	cost, err := strconv.ParseUint(parts[2], 10, 8)
	if err != nil || cost < uint64(bcrypt.MinCost) || cost > maxBcryptCost {
		return bad(fmt.Sprintf("the cost is not a number from %02d to %d", bcrypt.MinCost, maxBcryptCost))
	}
	salt, err := bcryptBase64.DecodeString(parts[3][:22])
	if err != nil || len(salt) != 16 {
		return bad("the salt is not 22 characters of bcrypt's base64")
	}
	key, err := bcryptBase64.DecodeString(parts[3][22:])
	if err != nil || len(key) != 23 {
		return bad("the digest is not 31 characters of bcrypt's base64")
	}
	return PasswordHash{Scheme: SchemeBcrypt, Variant: parts[1], Cost: uint32(cost), Salt: salt, Key: key}, nil
}

// phpassAlphabet is phpass's itoa64. Its base64 takes the bits of each group of
// three bytes from the lowest up, the reverse of RFC 4648.
const phpassAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func phpassEncode(b []byte) string {
	var out []byte
	for i := 0; i < len(b); i += 3 {
		v, n := uint32(0), min(3, len(b)-i)
		for j := range n {
			v |= uint32(b[i+j]) << (8 * j)
		}
		for range n + 1 {
			out = append(out, phpassAlphabet[v&0x3f])
			v >>= 6
		}
	}
	return string(out)
}

// phpassDecode inverts phpassEncode; it refuses text that phpassEncode would not
// have written, since phpass compares the encoded strings.
func phpassDecode(s string) ([]byte, bool) {
	var out []byte
	for i := 0; i < len(s); i += 4 {
		group := s[i:min(i+4, len(s))]
		if len(group) < 2 {
			return nil, false
		}
		var v uint32
		for j := range len(group) {
			k := strings.IndexByte(phpassAlphabet, group[j])
			if k < 0 {
				return nil, false
			}
			v |= uint32(k) << (6 * j)
		}
		for range len(group) - 1 {
			out = append(out, byte(v))
			v >>= 8
		}
	}
	return out, phpassEncode(out) == s
}

// parsePHPass reads $P$ or $H$, one character giving log2 of the rounds, 8 of salt
// and 22 of digest.
func parsePHPass(parts []string) (PasswordHash, error) {
	bad := func(msg string) (PasswordHash, error) {
		return PasswordHash{}, privacy.Invalid("hash", "phpass: %s", msg)
	}
	if len(parts) != 3 || len(parts[2]) != 1+8+22 {
		return bad("want $P$ or $H$ and 31 characters")
	}
	t := parts[2]
	cost := strings.IndexByte(phpassAlphabet, t[0])
	if cost < 7 || cost > maxPHPassLog2 {
		return bad(fmt.Sprintf("the rounds character is not one of %s", phpassAlphabet[7:maxPHPassLog2+1]))
	}
	for i := 1; i < 9; i++ {
		if strings.IndexByte(phpassAlphabet, t[i]) < 0 {
			return bad("the salt is not 8 characters of phpass's alphabet")
		}
	}
	key, ok := phpassDecode(t[9:])
	if !ok || len(key) != md5.Size {
		return bad("the digest is not 22 characters of phpass's base64")
	}
	return PasswordHash{Scheme: SchemePHPass, Variant: parts[1], Cost: uint32(cost), Salt: []byte(t[1:9]), Key: key}, nil
}

// parseDjangoPBKDF2 reads what follows "pbkdf2_sha256$": iterations, salt and
// the base64 digest, separated by $.
func parseDjangoPBKDF2(rest string) (PasswordHash, error) {
	bad := func(msg string) (PasswordHash, error) {
		return PasswordHash{}, privacy.Invalid("hash", "pbkdf2_sha256: %s", msg)
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return bad("want pbkdf2_sha256$iterations$salt$base64-digest")
	}
	iter, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil || iter == 0 || iter > maxPBKDF2Iter || strconv.FormatUint(iter, 10) != parts[0] {
		return bad(fmt.Sprintf("the iterations are not a number from 1 to %d", maxPBKDF2Iter))
	}
	salt := parts[1]
	if salt == "" || len(salt) > maxSaltLen || strings.IndexFunc(salt, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return bad(fmt.Sprintf("the salt is not 1 to %d printable ASCII characters", maxSaltLen))
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(key) != sha256.Size {
		return bad("the digest is not base64 of 32 bytes")
	}
	return PasswordHash{Scheme: SchemePBKDF2SHA256, Cost: uint32(iter), Salt: []byte(salt), Key: key}, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func sha1Hex(s string) ([]byte, error) {
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != sha1.Size {
		return nil, errors.New("the digest is not 40 hex digits")
	}
	return key, nil
}

func parseArgon2id(parts []string) (PasswordHash, error) {
	bad := func(msg string) (PasswordHash, error) {
		return PasswordHash{}, privacy.Invalid("hash", "argon2id: %s", msg)
	}
	if len(parts) != 6 {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$key")
	}
	if parts[2] != "v=19" {
		return bad("unsupported version")
	}
	var p Argon2Params
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return bad("want m=..,t=..,p=..")
	}
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return bad("want m=..,t=..,p=..")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return bad("parameter " + name + " is not a positive number")
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > maxArgonThreads {
				return bad("too many lanes")
			}
			p.Threads = uint8(n)
		}
	}
	if p.Memory > maxArgonMemory || p.Time > maxArgonTime || p.Memory < 8*uint32(p.Threads) {
		return bad("parameters out of bounds")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return bad("bad salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad("bad key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return PasswordHash{Scheme: SchemeArgon2id, Params: p, Salt: salt, Key: key}, nil
}

// String encodes h in the stored form ParsePasswordHash reads.
func (h PasswordHash) String() string {
	b64 := base64.RawStdEncoding.EncodeToString
	switch h.Scheme {
	case SchemeArgon2id:
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.Params.Memory, h.Params.Time, h.Params.Threads, b64(h.Salt), b64(h.Key))
	case SchemeSHA1:
		return "$sha1$" + hex.EncodeToString(h.Key)
	case SchemeSHA1SaltPassword, SchemeSHA1PasswordSalt:
		return "$" + h.Scheme + "$" + b64(h.Salt) + "$" + hex.EncodeToString(h.Key)
	case SchemeLDAP:
		if len(h.Salt) == 0 {
			return "{SHA}" + base64.StdEncoding.EncodeToString(h.Key)
		}
		return "{SSHA}" + base64.StdEncoding.EncodeToString(append(append([]byte(nil), h.Key...), h.Salt...))
	case SchemeBcrypt:
		return fmt.Sprintf("$%s$%02d$%s%s", h.Variant, h.Cost, bcryptBase64.EncodeToString(h.Salt), bcryptBase64.EncodeToString(h.Key))
	case SchemePHPass:
		if h.Cost >= uint32(len(phpassAlphabet)) {
			return ""
		}
		return "$" + h.Variant + "$" + phpassAlphabet[h.Cost:h.Cost+1] + string(h.Salt) + phpassEncode(h.Key)
	case SchemePBKDF2SHA256:
		return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", h.Cost, h.Salt, base64.StdEncoding.EncodeToString(h.Key))
	}
	return ""
}

// Matches reports whether password matches h. Legacy digests are compared in
// constant time like argon2id keys.
func (h PasswordHash) Matches(password string) bool {
	var got []byte
	switch h.Scheme {
	case SchemeArgon2id:
		got = argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, h.Params.KeyLen)
	case SchemeSHA1:
		d := sha1.Sum([]byte(password))
		got = d[:]
	case SchemeSHA1SaltPassword:
		d := sha1.Sum(append(append([]byte(nil), h.Salt...), password...))
		got = d[:]
	case SchemeSHA1PasswordSalt, SchemeLDAP:
		d := sha1.Sum(append([]byte(password), h.Salt...))
		got = d[:]
	case SchemeBcrypt:
		if h.Cost > maxBcryptCost {
			return false
		}
		// bcrypt reads 72 bytes of the password; the sites that made these hashes
		// dropped the rest, as x/crypto refuses to when hashing.
		pw := []byte(password)
		return bcrypt.CompareHashAndPassword([]byte(h.String()), pw[:min(len(pw), 72)]) == nil
	case SchemePHPass:
		if h.Cost > maxPHPassLog2 {
			return false
		}
		d := md5.Sum(append(append([]byte(nil), h.Salt...), password...))
		buf := append(make([]byte, md5.Size), password...)
		for range 1 << h.Cost {
			copy(buf, d[:])
			d = md5.Sum(buf)
		}
		got = d[:]
	case SchemePBKDF2SHA256:
		if h.Cost == 0 || h.Cost > maxPBKDF2Iter {
			return false
		}
		key, err := pbkdf2.Key(sha256.New, password, h.Salt, int(h.Cost), sha256.Size)
		if err != nil {
			return false
		}
		got = key
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, h.Key) == 1
}

// current reports whether h is argon2id with exactly the parameters p.
func (h PasswordHash) current(p Argon2Params) bool {
	return h.Scheme == SchemeArgon2id && h.Params == p
}

// hasher runs argon2id with a bounded number of hashes at once, so that a flood of
// sign-ins queues for a slot instead of allocating Memory KiB per request.
type hasher struct {
	params Argon2Params
	slots  chan struct{}
	wait   time.Duration
}

func newHasher(p Argon2Params, slots int, wait time.Duration) *hasher {
	return &hasher{params: p, slots: make(chan struct{}, slots), wait: wait}
}

// acquire takes a slot, waiting until ctx's deadline or h.wait, whichever is sooner.
// Returns ErrUnavailable (503, with Retry-After) when none came free in time.
func (h *hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	default:
	}
	wait := h.wait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the server is busy; try again in a moment", RetryAfter: time.Second}
}

// hash returns the PHC string for password at the configured parameters. The
// caller holds a slot.
func (h *hasher) hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return PasswordHash{Scheme: SchemeArgon2id, Params: h.params, Salt: salt, Key: key}.String(), nil
}

// dummy spends one hash at the configured parameters, so that a request about an
// address with no account costs what one about a real account costs.
func (h *hasher) dummy(password string) {
	_ = argon2.IDKey([]byte(password), bytes.Repeat([]byte{0x5a}, int(h.params.SaltLen)), h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
}

// verify checks password against stored and, when it matches but stored is not
// argon2id at the configured parameters, returns the replacement hash. Every call
// costs one hash at the configured parameters whatever stored is, so an imported
// legacy account answers in the same time as any other. The caller holds a slot.
func (h *hasher) verify(stored, password string) (ok bool, rehash string, err error) {
	ph, perr := ParsePasswordHash(stored)
	if perr != nil {
		h.dummy(password)
		return false, "", nil
	}
	ok = ph.Matches(password)
	if ph.current(h.params) {
		return ok, "", nil
	}
	if !ok {
		h.dummy(password)
		return false, "", nil
	}
	rehash, err = h.hash(password)
	return true, rehash, err
}
