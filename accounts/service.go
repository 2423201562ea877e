package accounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/consentkit/consentkit/privacy"
)

// Config configures a Service. Store, Mailer, Consents and Auditor are required;
// every other zero field takes the default in its comment.
type Config struct {
	Store    Store
	Mailer   *privacy.Mailer   // account and parental-consent mail
	Consents *privacy.Consents // registration opt-ins become consent records
	Policy   *privacy.Policy   // default Mailer.Policy()
	// Registry, when set, makes "delete my account" and "export my data" reach every
	// holder of personal data on the site, not only this package.
	Registry *privacy.Registry
	// Auditor records staff reads of personal data: the staff list, and the account
	// a role is granted to or taken from. Required (P11).
	Auditor *privacy.Auditor
	Log     *slog.Logger
	Now     func() time.Time
	Rand    io.Reader // crypto/rand.Reader: tokens and ids

	// Templates is the host's overrides of DefaultTemplates; nil for the defaults.
	// The Service words its mail and RegisterResult.Message with them, and the
	// Handler its pages unless HandlerConfig.Templates has its own.
	Templates fs.FS

	// BaseURL is where the Handler is mounted: links in mail start with it, and the
	// Handler routes on the path after its path and links its pages under it. Default:
	// Policy.SiteURL + "/accounts".
	BaseURL string

	Argon2    Argon2Params  // DefaultArgon2
	HashSlots int           // hashes run at once; runtime.GOMAXPROCS(0)
	HashWait  time.Duration // 3s: the longest a request waits for a hash slot when its deadline is later

	VerifyTTL      time.Duration // 24h
	ResetTTL       time.Duration // 1h
	EmailChangeTTL time.Duration // 24h
	SessionIdle    time.Duration // 24h: a session unused this long ends
	SessionMax     time.Duration // 30 days: a session ends this long after sign-in, used or not
	// StepUpWindow is how recent a proof of identity in the session must be to
	// change the address or password, delete the account, export its data or turn
	// a factor off. Default: 5m.
	StepUpWindow time.Duration
	ChallengeTTL time.Duration // 5m: the time between a right password and the second factor
	// FactorKey, 32 bytes, seals the TOTP keys of authenticator apps (AES-256-GCM)
	// in the store. Without it they are stored as they are, though never exported;
	// keys stored before it was set still work after.
	FactorKey []byte
	// PasskeyRPID is the domain passkeys are bound to, and PasskeyOrigins the
	// origins a browser may ask from. Default: the host name and the origin of
	// Policy.SiteURL. A site at an IP address has no passkeys, since browsers
	// take only a domain name (localhost is one).
	PasskeyRPID    string
	PasskeyOrigins []string

	// Sign-in throttle, per address and source, in memory (see SignIn):
	MaxFailures   int           // 10 failed sign-ins on one address ...
	FailureWindow time.Duration // ... within 15m start a delay, for the sources that failed, that doubles with each further failure
	MaxDelay      time.Duration // 15m: the delay's ceiling; there is no permanent lockout

	UnverifiedRetention  time.Duration // 7 days
	ParentalRetention    time.Duration // 14 days: an unanswered (or unused) parental request is then deleted
	ParentalConfirmDelay time.Duration // 24h: the "email plus" confirmation follows an approval after this

	PhotoMaxBytes int64 // 5 MiB
	// PhotoMaxPixels bounds a photo's size in pixels (all frames of an animated GIF
	// together). Default: 16 megapixels, more than a phone camera's default 12 MP
	// (4032 x 3024) and a 4K screen; one decode then takes at most 64 MiB.
	PhotoMaxPixels int64
	PhotoSlots     int           // photos decoded at once, each up to 4 x PhotoMaxPixels bytes; 2
	PhotoWait      time.Duration // 3s: the longest an upload waits for a decode slot
	Quota          int64         // 50 MiB of resources per account
	NoteMaxLen     int           // 20,000 characters
	MessageMaxLen  int           // 2,000 characters
}

// Service keeps every rule about accounts, sessions, resources and parental consent.
type Service struct {
	cfg       Config
	store     Store
	mailer    *privacy.Mailer
	policy    *privacy.Policy
	log       *slog.Logger
	tpl       *privacy.Templates
	hash      *hasher
	photos    chan struct{}
	photoHook func() // tests: runs in the slot before each decode
	throttle  *throttle
	wa        *webauthn.WebAuthn // nil when the site has no passkeys
}

// New returns a Service and registers its Allowers on cfg.Mailer: PurposeAccount for
// any address with an account (verified or not) or targeted by a pending email
// change, and PurposeParentalConsent for a parent with a request on file.
// Returns an error when a required field is missing or Config.Templates does not
// parse or defines a template DefaultTemplates does not.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Mailer == nil || cfg.Consents == nil {
		return nil, errors.New("accounts: Config needs Store, Mailer and Consents")
	}
	if cfg.Auditor == nil || cfg.Auditor.Log == nil {
		return nil, errors.New("accounts: Config.Auditor with a Log is required: the staff pages read members' data")
	}
	if err := privacy.SameDatabase("accounts", cfg.Store, cfg.Mailer.Work()); err != nil {
		return nil, err
	}
	if cfg.Policy == nil {
		cfg.Policy = cfg.Mailer.Policy()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = strings.TrimRight(cfg.Policy.SiteURL, "/") + "/accounts"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.Argon2.SaltLen == 0 {
		cfg.Argon2.SaltLen = 16
	}
	if cfg.Argon2.KeyLen == 0 {
		cfg.Argon2.KeyLen = 32
	}
	if cfg.Argon2.Memory == 0 || cfg.Argon2.Time == 0 || cfg.Argon2.Threads == 0 {
		return nil, errors.New("accounts: Argon2 needs Memory, Time and Threads")
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	num := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	num64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	num(&cfg.HashSlots, runtime.GOMAXPROCS(0))
	num(&cfg.PhotoSlots, 2)
	dur(&cfg.PhotoWait, 3*time.Second)
	dur(&cfg.HashWait, 3*time.Second)
	dur(&cfg.VerifyTTL, 24*time.Hour)
	dur(&cfg.ResetTTL, time.Hour)
	dur(&cfg.EmailChangeTTL, 24*time.Hour)
	dur(&cfg.SessionIdle, 24*time.Hour)
	dur(&cfg.SessionMax, 30*24*time.Hour)
	dur(&cfg.StepUpWindow, 5*time.Minute)
	dur(&cfg.ChallengeTTL, 5*time.Minute)
	if n := len(cfg.FactorKey); n != 0 && n != 32 {
		return nil, fmt.Errorf("accounts: FactorKey has %d bytes; it needs 32", n)
	}
	num(&cfg.MaxFailures, 10)
	dur(&cfg.FailureWindow, 15*time.Minute)
	dur(&cfg.MaxDelay, 15*time.Minute)
	dur(&cfg.UnverifiedRetention, 7*24*time.Hour)
	dur(&cfg.ParentalRetention, 14*24*time.Hour)
	dur(&cfg.ParentalConfirmDelay, 24*time.Hour)
	num64(&cfg.PhotoMaxBytes, 5<<20)
	num64(&cfg.PhotoMaxPixels, 16_000_000)
	num64(&cfg.Quota, 50<<20)
	num(&cfg.NoteMaxLen, 20_000)
	num(&cfg.MessageMaxLen, 2_000)

	wa, err := newWebAuthn(&cfg, cfg.Policy.SiteURL)
	if err != nil {
		return nil, err
	}
	tpl, err := parseTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(cfg.Rand, secret); err != nil {
		return nil, fmt.Errorf("accounts: random throttle key: %w", err)
	}
	s := &Service{cfg: cfg, store: cfg.Store, mailer: cfg.Mailer, policy: cfg.Policy, log: cfg.Log, tpl: tpl,
		hash: newHasher(cfg.Argon2, cfg.HashSlots, cfg.HashWait), photos: make(chan struct{}, cfg.PhotoSlots),
		throttle: newThrottle(secret, cfg.MaxFailures, cfg.FailureWindow, cfg.MaxDelay), wa: wa}
	cfg.Mailer.AllowContract(holder{s}.Contract())
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// allowAccount lets account mail go to an address with an account, verified or
// not, or to the new address of a pending email change.
func (s *Service) allowAccount(ctx context.Context, _ privacy.Purpose, subject string) (bool, error) {
	_, err := s.store.AccountByEmail(ctx, subject)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, privacy.ErrNotFound):
		return false, err
	}
	return s.store.TokenFor(ctx, TokenEmail, subject, s.now())
}

// allowParent lets parental-consent mail go to a parent with a request on file.
func (s *Service) allowParent(ctx context.Context, _ privacy.Purpose, subject string) (bool, error) {
	ps, err := s.store.ParentalFor(ctx, subject)
	return len(ps) > 0, err
}

// newToken returns a random bearer or mail token (256 bits) and its stored hash,
// made by the kernel's TokenMaker over Config.Rand.
func (s *Service) newToken() (token, hash string, err error) {
	token, h, err := privacy.TokenMaker{Rand: s.cfg.Rand}.New()
	if err != nil {
		return "", "", fmt.Errorf("accounts: %w", err)
	}
	return token, hex.EncodeToString(h), nil
}

// hashToken is the stored form of a token, and only this reaches the database:
// privacy.HashToken, hex-encoded for the text columns accounts has always kept it in.
func hashToken(token string) string {
	return hex.EncodeToString(privacy.HashToken(token))
}

func (s *Service) newID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("accounts: random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkToken rejects a token that cannot be one of ours before any store look-up.
func checkToken(field, token string) error {
	if _, ok := (privacy.TokenMaker{}).Hash(token); !ok {
		return privacy.Invalid(field, "the link is incomplete; copy the whole link from the message")
	}
	return nil
}

func checkPassword(field, pw string) error {
	if err := privacy.CheckText(field, pw, MaxPasswordLen, true); err != nil {
		return err
	}
	if n := len([]rune(pw)); n < MinPasswordLen {
		return privacy.Invalid(field, "use at least %d characters", MinPasswordLen)
	}
	return nil
}

// send enqueues the mail of the templates name+".subject" and name+".body", signed,
// to one address, with the address as data subject.
func (s *Service) send(ctx context.Context, p privacy.Purpose, to, name string, d mailData) error {
	d.Site, d.Operator = s.policy.SiteURL, s.policy.Operator
	var parts [3]string
	for i, n := range []string{name + ".subject", name + ".body", "signature"} {
		var err error
		if parts[i], err = say(s.tpl, n, d); err != nil {
			return err
		}
	}
	_, err := s.mailer.Send(ctx, privacy.Message{Purpose: p, DataSubject: to, To: privacy.Address{Email: to},
		Subject: strings.TrimSpace(parts[0]), Text: parts[1] + parts[2]})
	return err
}

func (s *Service) link(path, token string) string { return s.cfg.BaseURL + path + "?token=" + token }
