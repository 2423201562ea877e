package accounts

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/consentkit/consentkit/privacy"
)

// TOTP parameters: those every authenticator app reads from an otpauth:// link
// without asking (RFC 6238's defaults: SHA-1, 6 digits, 30 seconds).
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew accepts the code of the step before and after the current one, for
	// a phone clock a little off and a code typed as it turned.
	totpSkew = 1
	// RecoveryCodeCount recovery codes are issued when a factor is confirmed.
	RecoveryCodeCount = 10
	// recoveryAlphabet leaves out 0, 1, 8 and 9, which read as O, I, B and g.
	recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	recoveryLen      = 10 // characters, 50 bits
)

// Enrolment is a TOTP key to be confirmed: shown once, to be scanned or typed into
// an authenticator app.
type Enrolment struct {
	ID     string `json:"id"`
	Secret string `json:"secret"` // base32, for typing in
	URL    string `json:"url"`    // otpauth://totp/...
	// QR is the URL as a QR code, a PNG data: URL drawn by this server, so the
	// secret never reaches a third party.
	QR string `json:"qr"`
}

// Factors is what a member sees of their second factors.
type Factors struct {
	Factors       []Factor `json:"factors"`
	RecoveryCodes int      `json:"recovery_codes"` // left unused
}

// MyFactors returns the signed-in member's factors and how many recovery codes are
// left. Returns ErrUnauthorized when no one is signed in.
func (s *Service) MyFactors(ctx context.Context) (Factors, error) {
	a, err := signedIn(ctx)
	if err != nil {
		return Factors{}, err
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return Factors{}, err
	}
	n, err := s.store.RecoveryCodes(ctx, a.ID)
	return Factors{Factors: fs, RecoveryCodes: n}, err
}

func confirmed(fs []Factor) []Factor {
	var out []Factor
	for _, f := range fs {
		if !f.Confirmed.IsZero() {
			out = append(out, f)
		}
	}
	return out
}

// EnrolTOTP starts turning on codes from an authenticator app: it returns a new
// key, which ConfirmTOTP then confirms with a first code; until then sign-in is
// unchanged. Starting again replaces an unconfirmed key. Returns ErrUnauthorized
// when no one is signed in and ErrConflict when codes are already on.
func (s *Service) EnrolTOTP(ctx context.Context) (Enrolment, error) {
	a, err := s.me(ctx)
	if err != nil {
		return Enrolment{}, err
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return Enrolment{}, err
	}
	for _, f := range confirmed(fs) {
		if f.Kind == FactorTOTP {
			return Enrolment{}, privacy.Errorf(privacy.ErrConflict, "codes from an authenticator app are already on; turn them off first")
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer(), AccountName: a.Email, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, Rand: s.cfg.Rand})
	if err != nil {
		return Enrolment{}, fmt.Errorf("accounts: totp key: %w", err)
	}
	id, err := s.newID()
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.seal(id, []byte(key.Secret()))
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.store.AddFactor(ctx, Factor{ID: id, AccountID: a.ID, Kind: FactorTOTP, Secret: sealed, Created: s.now()}); err != nil {
		return Enrolment{}, err
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return Enrolment{}, fmt.Errorf("accounts: qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return Enrolment{}, fmt.Errorf("accounts: qr code: %w", err)
	}
	return Enrolment{ID: id, Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())}, nil
}

// issuer names the site in authenticator apps: its host name.
func (s *Service) issuer() string {
	site := s.policy.SiteURL
	if _, rest, ok := strings.Cut(site, "://"); ok {
		site = rest
	}
	site, _, _ = strings.Cut(site, "/")
	if site == "" {
		return "consentkit"
	}
	return site
}

// ConfirmTOTP confirms the key of EnrolTOTP with a code from the app, turns codes
// on for sign-in, and returns RecoveryCodeCount one-time recovery codes, shown
// this once: only their hashes are kept. Returns ErrUnauthorized when no one is
// signed in, ErrInvalid (field "code") for a wrong code, and ErrGone when the
// enrolment was replaced or already confirmed.
func (s *Service) ConfirmTOTP(ctx context.Context, id, code string) ([]string, error) {
	a, err := s.me(ctx)
	if err != nil {
		return nil, err
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	var f *Factor
	for i := range fs {
		if fs[i].ID == id && fs[i].Kind == FactorTOTP && fs[i].Confirmed.IsZero() {
			f = &fs[i]
		}
	}
	if f == nil {
		return nil, privacy.Errorf(privacy.ErrGone, "this enrolment has expired or was already confirmed; start again")
	}
	step, ok, err := s.checkTOTP(*f, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, privacy.Invalid("code", "the code is wrong; check the time on your phone and type the newest code")
	}
	codes, hashes, err := s.recoveryCodes(a.ID)
	if err != nil {
		return nil, err
	}
	if err := s.store.ConfirmFactor(ctx, a.ID, id, step, s.now(), hashes); err != nil {
		return nil, err
	}
	return codes, s.proved(ctx)
}

// DisableFactor turns a factor off. It needs a current code or a recovery code,
// and a fresh proof in this session (Confirm). Returns ErrUnauthorized when no one
// is signed in, ErrForbidden without a fresh proof, ErrInvalid (field "code") for
// a wrong code, and ErrNotFound when the member has no factor id.
func (s *Service) DisableFactor(ctx context.Context, id, code string) error {
	a, err := s.me(ctx)
	if err != nil {
		return err
	}
	if err := s.fresh(ctx); err != nil {
		return err
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return err
	}
	found := false
	for _, f := range fs {
		found = found || f.ID == id
	}
	if !found {
		return privacy.Errorf(privacy.ErrNotFound, "no such factor")
	}
	if len(confirmed(fs)) > 0 {
		if err := s.proveFactor(ctx, a, fs, code); err != nil {
			return err
		}
	}
	return s.store.DeleteFactor(ctx, a.ID, id)
}

// proveFactor checks a code from one of a's confirmed factors fs, or a recovery
// code, and uses it up. A wrong code counts as a failed sign-in on a's address
// for the throttle (SignIn), so codes cannot be guessed faster than passwords.
// Returns ErrInvalid (field "code") when it is neither, and ErrRateLimited while
// the throttle holds this source back.
func (s *Service) proveFactor(ctx context.Context, a Account, fs []Factor, code string) error {
	key, src := s.throttle.keys(a.Email, clientFrom(ctx))
	if wait := s.throttle.wait(key, src, s.now()); wait > 0 {
		return &privacy.Error{Kind: privacy.ErrRateLimited, RetryAfter: wait, Message: "too many failed attempts; wait a while"}
	}
	err := s.checkCode(ctx, a.ID, fs, code)
	switch {
	case err == nil:
		s.throttle.succeed(key, src)
	case privacy.FieldOf(err) == "code":
		s.throttle.fail(key, src, s.now())
	}
	return err
}

func (s *Service) checkCode(ctx context.Context, accountID string, fs []Factor, code string) error {
	wrong := privacy.Invalid("code", "the code is wrong or was already used")
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	if code == "" {
		return privacy.Invalid("code", "give a code from your authenticator app or a recovery code")
	}
	if len(code) > 64 {
		return wrong
	}
	for _, f := range confirmed(fs) {
		if f.Kind != FactorTOTP {
			continue
		}
		step, ok, err := s.checkTOTP(f, code)
		if err != nil {
			return err
		}
		if ok {
			err := s.store.UseFactor(ctx, accountID, f.ID, step, s.now())
			if errors.Is(err, privacy.ErrGone) {
				return privacy.Invalid("code", "this code was already used; wait for the next one")
			}
			return err
		}
	}
	if len(code) != recoveryLen {
		return wrong
	}
	err := s.store.UseRecoveryCode(ctx, accountID, recoveryHash(accountID, code))
	if errors.Is(err, privacy.ErrGone) {
		return wrong
	}
	return err
}

// checkTOTP reports whether code is f's for a step within totpSkew of now, and
// which step. A step at or before f.Step was used already and does not count.
func (s *Service) checkTOTP(f Factor, code string) (int64, bool, error) {
	if len(code) != int(totpDigits) {
		return 0, false, nil
	}
	secret, err := s.open(f.ID, f.Secret)
	if err != nil {
		return 0, false, err
	}
	now := s.now().Unix() / totpPeriod
	for step := now - totpSkew; step <= now+totpSkew; step++ {
		if step <= f.Step {
			continue
		}
		want, err := hotp.GenerateCodeCustom(string(secret), uint64(step), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("accounts: totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true, nil
		}
	}
	return 0, false, nil
}

// recoveryCodes returns RecoveryCodeCount new codes, as shown (xxxxx-xxxxx) and
// as stored.
func (s *Service) recoveryCodes(accountID string) (codes, hashes []string, err error) {
	b := make([]byte, RecoveryCodeCount*recoveryLen)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, nil, fmt.Errorf("accounts: random recovery codes: %w", err)
	}
	for i := range RecoveryCodeCount {
		c := make([]byte, recoveryLen)
		for j := range c {
			c[j] = recoveryAlphabet[b[i*recoveryLen+j]%byte(len(recoveryAlphabet))]
		}
		codes = append(codes, string(c[:recoveryLen/2])+"-"+string(c[recoveryLen/2:]))
		hashes = append(hashes, recoveryHash(accountID, string(c)))
	}
	return codes, hashes, nil
}

// recoveryHash is the stored form of a recovery code: 50 random bits are too many
// to guess online, and the account id in the hash keeps one table of guesses from
// serving every account.
func recoveryHash(accountID, code string) string {
	h := sha256.Sum256([]byte("recovery\x00" + accountID + "\x00" + code))
	return hex.EncodeToString(h[:])
}

// Sealed secrets start with a byte saying how: sealPlain when no Config.FactorKey
// was set when it was stored, sealGCM under it.
const (
	sealPlain = 0
	sealGCM   = 1
)

func (s *Service) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.cfg.FactorKey)
	if err != nil {
		return nil, fmt.Errorf("accounts: FactorKey: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts a factor's secret under Config.FactorKey, bound to the factor's id
// so a sealed secret copied to another row does not open.
func (s *Service) seal(id string, secret []byte) ([]byte, error) {
	if len(s.cfg.FactorKey) == 0 {
		return append([]byte{sealPlain}, secret...), nil
	}
	g, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(s.cfg.Rand, nonce); err != nil {
		return nil, fmt.Errorf("accounts: random nonce: %w", err)
	}
	return g.Seal(append([]byte{sealGCM}, nonce...), nonce, secret, []byte(id)), nil
}

func (s *Service) open(id string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("accounts: empty factor secret")
	}
	switch sealed[0] {
	case sealPlain:
		return sealed[1:], nil
	case sealGCM:
		g, err := s.aead()
		if err != nil {
			return nil, err
		}
		if len(sealed) < 1+g.NonceSize() {
			return nil, errors.New("accounts: short sealed factor secret")
		}
		out, err := g.Open(nil, sealed[1:1+g.NonceSize()], sealed[1+g.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("accounts: factor %s does not open under Config.FactorKey: %w", id, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("accounts: factor %s: unknown seal %d", id, sealed[0])
}

// SignInWithCode completes a sign-in that SignIn answered with a challenge: code is
// from the authenticator app or a recovery code, which is then used up. The
// challenge works once, right or wrong, and a wrong code counts as a failed
// sign-in for the throttle. Returns ErrInvalid (field "challenge") for a malformed
// one, ErrUnauthorized for a wrong code or an expired or used challenge, and
// ErrRateLimited while the throttle holds this source back.
func (s *Service) SignInWithCode(ctx context.Context, challenge, code string) (SignedIn, error) {
	if err := checkToken("challenge", challenge); err != nil {
		return SignedIn{}, err
	}
	again := privacy.Errorf(privacy.ErrUnauthorized, "the code is wrong, used or too late; sign in again")
	c, err := s.store.UseChallenge(ctx, hashToken(challenge), ChallengeSignIn, s.now())
	if errors.Is(err, privacy.ErrGone) {
		return SignedIn{}, again
	}
	if err != nil {
		return SignedIn{}, err
	}
	a, err := s.store.AccountByID(ctx, c.AccountID)
	if errors.Is(err, privacy.ErrNotFound) {
		return SignedIn{}, again
	}
	if err != nil {
		return SignedIn{}, err
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return SignedIn{}, err
	}
	if err := s.proveFactor(ctx, a, fs, code); err != nil {
		if privacy.FieldOf(err) == "code" {
			return SignedIn{}, again
		}
		return SignedIn{}, err
	}
	return s.openSession(ctx, a.ID)
}

// secondStep answers a right password on an account with a confirmed factor: a
// one-time challenge, valid Config.ChallengeTTL, instead of a session.
// With passkeys on the account, the answer also holds the options for one of
// them (SignInWithPasskey), in place of a code.
func (s *Service) secondStep(ctx context.Context, a Account, fs []Factor) (SignedIn, error) {
	token, hash, err := s.newToken()
	if err != nil {
		return SignedIn{}, err
	}
	now := s.now()
	c := Challenge{Hash: hash, Kind: ChallengeSignIn, AccountID: a.ID, Created: now, Expires: now.Add(s.cfg.ChallengeTTL)}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return SignedIn{}, err
	}
	kinds := []string{}
	for _, f := range confirmed(fs) {
		kinds = append(kinds, f.Kind)
	}
	pk, err := s.passkeyStep(ctx, a, token, hash)
	if err != nil {
		return SignedIn{}, err
	}
	if pk != nil {
		kinds = append(kinds, FactorPasskey)
	}
	return SignedIn{Challenge: token, Factors: kinds, Expires: c.Expires, Passkey: pk}, nil
}
