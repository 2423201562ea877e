package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/consentkit/consentkit/privacy"
)

// SignedIn is the answer to a successful sign-in: the bearer token, shown once.
type SignedIn struct {
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires"` // absolute expiry; the session also ends after Config.SessionIdle unused
	// Challenge, instead of Token, says the password was right and a second factor
	// must follow (SignInWithCode) before Expires; Factors names its kinds.
	Challenge string   `json:"challenge,omitempty"`
	Factors   []string `json:"factors,omitempty"`
	// Passkey, with a Challenge on an account with passkeys, is the options for
	// the browser's navigator.credentials.get: its answer and the Challenge go to
	// SignInWithPasskey in place of a code.
	Passkey *protocol.CredentialAssertion `json:"passkey,omitempty"`
}

// errCredentials is the one answer to a wrong address or a wrong password.
func errCredentials() error {
	return privacy.Errorf(privacy.ErrUnauthorized, "the email address or the password is wrong")
}

// SignIn checks an address and password and opens a session (P12). An unknown
// address, a wrong password and a legacy hash all cost one argon2id hash at the
// configured parameters and the same store reads, with no store write, and the
// first two get the same answer. A stored hash that is legacy sha1 or argon2id at
// other parameters is replaced on success. For an account with a confirmed second
// factor the answer holds a Challenge for SignInWithCode instead of a Token.
//
// Failures are throttled per address, whether or not it has an account, and per
// source: the client address the handler puts in ctx (WithClient). Once an address
// has Config.MaxFailures failures within Config.FailureWindow, a source that has
// failed on it waits a delay that doubles with each further failure, up to
// Config.MaxDelay; a source that has not failed on it is not held back, so the
// owner signs in while someone else guesses.
//
// Returns ErrInvalid (field email or password) for malformed input, ErrUnauthorized
// for a wrong address or password, ErrForbidden for a correct password on an
// address not yet verified, ErrRateLimited (with RetryAfter) while the throttle
// holds this source back, and ErrUnavailable (503, with RetryAfter) when no hash
// slot came free before ctx's deadline.
func (s *Service) SignIn(ctx context.Context, email, password string) (SignedIn, error) {
	addr, err := privacy.NormalizeEmail(email)
	if err != nil {
		return SignedIn{}, err
	}
	if err := privacy.CheckText("password", password, MaxPasswordLen, true); err != nil {
		return SignedIn{}, err
	}
	key, src := s.throttle.keys(addr, clientFrom(ctx))
	if wait := s.throttle.wait(key, src, s.now()); wait > 0 {
		return SignedIn{}, &privacy.Error{Kind: privacy.ErrRateLimited, RetryAfter: wait,
			Message: "too many failed attempts; wait a while or reset your password"}
	}
	a, err := s.store.AccountByEmail(ctx, addr)
	known := err == nil
	if err != nil && !errors.Is(err, privacy.ErrNotFound) {
		return SignedIn{}, err
	}
	release, err := s.hash.acquire(ctx)
	if err != nil {
		return SignedIn{}, err
	}
	ok, rehash := false, ""
	if known {
		ok, rehash, err = s.hash.verify(a.PasswordHash, password)
	} else {
		s.hash.dummy(password)
	}
	release()
	if err != nil {
		return SignedIn{}, err
	}
	if !ok {
		s.throttle.fail(key, src, s.now())
		return SignedIn{}, errCredentials()
	}
	if rehash != "" {
		if err := s.store.SetPassword(ctx, a.ID, rehash, false); err != nil {
			return SignedIn{}, err
		}
	}
	if !a.Verified {
		return SignedIn{}, privacy.Errorf(privacy.ErrForbidden, "confirm your address first: follow the link we sent you")
	}
	fs, err := s.store.Factors(ctx, a.ID)
	if err != nil {
		return SignedIn{}, err
	}
	if len(confirmed(fs)) > 0 {
		// The failures are forgotten only once the code is right too, so that the
		// password cannot reset the count of wrong codes.
		return s.secondStep(ctx, a, fs)
	}
	s.throttle.succeed(key, src)
	return s.openSession(ctx, a.ID)
}

type clientKey struct{}

// WithClient returns ctx carrying the client address a sign-in comes from, which
// the sign-in throttle tells sources apart by. The Handler sets it from the
// connection or HandlerConfig.TrustedHeader; a host calling SignIn itself should
// set it too, or every sign-in counts as one source. The address is held in
// memory only, as a keyed hash, and never stored or logged.
func WithClient(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

func clientFrom(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientKey{}).(netip.Addr)
	if a.Is6() && !a.Is4In6() {
		// One IPv6 client usually holds a whole /64.
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// Bounds on the throttle's memory.
const (
	throttleAddrs   = 100_000 // addresses tracked; past this the idlest half is forgotten
	throttleSources = 16      // failed sources tracked per address; past this every source counts as failed
)

type throttleKey [16]byte

// throttle counts failed sign-ins per address and, within an address, per source,
// in memory only. Addresses and sources are keyed by an HMAC under a key drawn
// when the Service starts, so the table holds neither, and an address without an
// account is counted exactly like one with.
type throttle struct {
	secret           []byte
	max              int
	window, maxDelay time.Duration
	mu               sync.Mutex
	addrs            map[throttleKey]*failures
}

type failures struct {
	n           int // within the window, from every source
	since, last time.Time
	sources     map[throttleKey]int
}

func newThrottle(secret []byte, max int, window, maxDelay time.Duration) *throttle {
	return &throttle{secret: secret, max: max, window: window, maxDelay: maxDelay, addrs: map[throttleKey]*failures{}}
}

// keys returns the keys of an address and a source. The address is keyed by
// privacy.AddressKey, as accounts are, so no spelling of it escapes the throttle.
func (t *throttle) keys(addr string, src netip.Addr) (key, source throttleKey) {
	sum := func(kind byte, b []byte) (k throttleKey) {
		m := hmac.New(sha256.New, t.secret)
		m.Write([]byte{kind})
		m.Write(b)
		copy(k[:], m.Sum(nil))
		return k
	}
	b, _ := src.MarshalBinary()
	return sum('a', []byte(privacy.AddressKey(addr))), sum('s', b)
}

// wait returns how long src must wait before trying the address of key again:
// nothing until max failures in the window, nothing for a source that has not
// failed on it (while fewer than throttleSources have), and otherwise one second
// doubled for each failure past max, up to maxDelay, from the last failure.
func (t *throttle) wait(key, src throttleKey, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[key]
	if f == nil {
		return 0
	}
	if now.Sub(f.since) > t.window {
		delete(t.addrs, key)
		return 0
	}
	if f.n < t.max || f.sources[src] == 0 && len(f.sources) < throttleSources {
		return 0
	}
	delay := time.Second
	for i := t.max; i < f.n && delay < t.maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, t.maxDelay)
	if until := f.last.Add(delay); until.After(now) {
		return until.Sub(now)
	}
	return 0
}

// fail counts a failure of src on the address of key at now.
func (t *throttle) fail(key, src throttleKey, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[key]
	if f != nil && now.Sub(f.since) > t.window {
		f = nil
	}
	if f == nil {
		if len(t.addrs) >= throttleAddrs {
			t.evict(now)
		}
		f = &failures{since: now, sources: map[throttleKey]int{}}
		t.addrs[key] = f
	}
	f.n++
	f.last = now
	if _, ok := f.sources[src]; ok || len(f.sources) < throttleSources {
		f.sources[src]++
	}
}

// evict forgets addresses whose window has passed and, if that is not enough,
// those whose last failure is older than the median. The caller holds t.mu.
func (t *throttle) evict(now time.Time) {
	var lasts []time.Time
	for k, f := range t.addrs {
		if now.Sub(f.since) > t.window {
			delete(t.addrs, k)
		} else {
			lasts = append(lasts, f.last)
		}
	}
	if len(t.addrs) < throttleAddrs/2 {
		return
	}
	slices.SortFunc(lasts, time.Time.Compare)
	median := lasts[len(lasts)/2]
	for k, f := range t.addrs {
		if !f.last.After(median) {
			delete(t.addrs, k)
		}
	}
}

// succeed forgets the failures src made on the address of key: the owner's own
// typos do not add up over time, while other sources' failures still count.
func (t *throttle) succeed(key, src throttleKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[key]
	if f == nil {
		return
	}
	f.n -= f.sources[src]
	delete(f.sources, src)
	if f.n <= 0 {
		delete(t.addrs, key)
	}
}

// clear forgets every failure on addr: the owner proved it owns the address.
func (t *throttle) clear(addr string) {
	key, _ := t.keys(addr, netip.Addr{})
	t.mu.Lock()
	delete(t.addrs, key)
	t.mu.Unlock()
}

func (s *Service) openSession(ctx context.Context, accountID string) (SignedIn, error) {
	token, hash, err := s.newToken()
	if err != nil {
		return SignedIn{}, err
	}
	now := s.now()
	// The credentials that open a session are a fresh proof of who the member is.
	sess := Session{Hash: hash, AccountID: accountID, Created: now, LastSeen: now, Expires: now.Add(s.cfg.SessionMax),
		Device: deviceFrom(ctx), Proved: now}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{Token: token, Expires: sess.Expires}, nil
}

// touchEvery limits last-use writes to one per session per minute.
const touchEvery = time.Minute

// Actor returns the actor a bearer token stands for. Returns ErrUnauthorized for a
// token that is malformed, unknown, idle longer than Config.SessionIdle or past its
// absolute expiry.
func (s *Service) Actor(ctx context.Context, token string) (privacy.Actor, error) {
	_, actor, err := s.session(ctx, token)
	return actor, err
}

// WithSession returns ctx signed in with token: carrying the member's
// privacy.Actor and the session, which the session list marks as current and
// step-up (Confirm) reads and records proofs in. Errors as Actor.
func (s *Service) WithSession(ctx context.Context, token string) (context.Context, error) {
	sess, actor, err := s.session(ctx, token)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(privacy.WithActor(ctx, actor), sessionKey{}, sess), nil
}

type sessionKey struct{}

// current returns the session ctx was signed in with by WithSession, if the
// actor is still its member.
func current(ctx context.Context) (Session, bool) {
	sess, ok := ctx.Value(sessionKey{}).(Session)
	return sess, ok && sess.AccountID == privacy.ActorFrom(ctx).ID
}

func (s *Service) session(ctx context.Context, token string) (Session, privacy.Actor, error) {
	unauth := privacy.Errorf(privacy.ErrUnauthorized, "your session has ended; sign in again")
	if checkToken("token", token) != nil {
		return Session{}, privacy.Actor{}, unauth
	}
	hash := hashToken(token)
	sess, a, err := s.store.SessionByHash(ctx, hash)
	if errors.Is(err, privacy.ErrNotFound) {
		return Session{}, privacy.Actor{}, unauth
	}
	if err != nil {
		return Session{}, privacy.Actor{}, err
	}
	now := s.now()
	if !now.Before(sess.Expires) || now.Sub(sess.LastSeen) > s.cfg.SessionIdle {
		_ = s.store.DeleteSession(ctx, hash)
		return Session{}, privacy.Actor{}, unauth
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := s.store.TouchSession(ctx, hash, now); err != nil {
			return Session{}, privacy.Actor{}, err
		}
		sess.LastSeen = now
	}
	return sess, privacy.Actor{ID: a.ID, Email: a.Email, Roles: a.Roles}, nil
}

// SignOut ends the session of token. Ending a session that already ended is not an error.
func (s *Service) SignOut(ctx context.Context, token string) error {
	if checkToken("token", token) != nil {
		return nil
	}
	return s.store.DeleteSession(ctx, hashToken(token))
}

// SignOutEverywhere ends every session of the signed-in member and returns how many.
// Returns ErrUnauthorized when no one is signed in.
func (s *Service) SignOutEverywhere(ctx context.Context) (int, error) {
	a, err := signedIn(ctx)
	if err != nil {
		return 0, err
	}
	return s.store.DeleteSessions(ctx, a.ID)
}

func signedIn(ctx context.Context) (privacy.Actor, error) {
	a := privacy.ActorFrom(ctx)
	if a.Anonymous() {
		return a, privacy.Errorf(privacy.ErrUnauthorized, "sign in first")
	}
	return a, nil
}

// me returns the signed-in member's account.
func (s *Service) me(ctx context.Context) (Account, error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return Account{}, err
	}
	a, err := s.store.AccountByID(ctx, actor.ID)
	if errors.Is(err, privacy.ErrNotFound) {
		return Account{}, privacy.Errorf(privacy.ErrUnauthorized, "sign in first")
	}
	return a, err
}

// Me returns the signed-in member's account. Returns ErrUnauthorized when no one is signed in.
func (s *Service) Me(ctx context.Context) (Account, error) { return s.me(ctx) }

// checkCurrent verifies the signed-in member's password (one hash). Returns
// ErrInvalid naming field when it is wrong.
func (s *Service) checkCurrent(ctx context.Context, a Account, field, password string) error {
	if err := privacy.CheckText(field, password, MaxPasswordLen, true); err != nil {
		return err
	}
	release, err := s.hash.acquire(ctx)
	if err != nil {
		return err
	}
	ok, _, err := s.hash.verify(a.PasswordHash, password)
	release()
	if err != nil {
		return err
	}
	if !ok {
		return privacy.Invalid(field, "the password is wrong")
	}
	return nil
}

// ChangePassword replaces the signed-in member's password after checking the
// current one, ends every session, and returns a new one. Returns ErrUnauthorized
// when no one is signed in, ErrInvalid naming "current_password" or "new_password",
// and ErrUnavailable when no hash slot came free.
func (s *Service) ChangePassword(ctx context.Context, current, next string) (SignedIn, error) {
	a, err := s.me(ctx)
	if err != nil {
		return SignedIn{}, err
	}
	if err := checkPassword("new_password", next); err != nil {
		return SignedIn{}, err
	}
	if err := s.checkCurrent(ctx, a, "current_password", current); err != nil {
		return SignedIn{}, err
	}
	if err := s.setPassword(ctx, a.ID, next); err != nil {
		return SignedIn{}, err
	}
	return s.openSession(ctx, a.ID)
}

func (s *Service) setPassword(ctx context.Context, id, password string) error {
	release, err := s.hash.acquire(ctx)
	if err != nil {
		return err
	}
	h, err := s.hash.hash(password)
	release()
	if err != nil {
		return err
	}
	return s.store.SetPassword(ctx, id, h, true)
}

// RequestReset mails a single-use password reset link, valid Config.ResetTTL, to
// an address with an account. The answer and its cost (one hash) are the same for
// an address without one, which gets nothing. Returns ErrInvalid (field "email")
// for a malformed address and ErrUnavailable when no hash slot came free.
func (s *Service) RequestReset(ctx context.Context, email string) error {
	addr, err := privacy.NormalizeEmail(email)
	if err != nil {
		return err
	}
	// The hash paces the answer so that it takes as long with an account as without.
	release, err := s.hash.acquire(ctx)
	if err != nil {
		return err
	}
	s.hash.dummy(addr)
	release()
	a, err := s.store.AccountByEmail(ctx, addr)
	if errors.Is(err, privacy.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	token, hash, err := s.newToken()
	if err != nil {
		return err
	}
	now := s.now()
	return s.tokenMail(ctx, Token{Hash: hash, Kind: TokenReset, AccountID: a.ID, Email: addr, Created: now, Expires: now.Add(s.cfg.ResetTTL)},
		func(ctx context.Context) error {
			return s.send(ctx, PurposeAccount, addr, "reset",
				mailData{Link: s.link("/reset/confirm", token), Valid: spanOf(s.cfg.ResetTTL)})
		})
}

// ResetPassword sets a new password with a mailed reset token, ends every session
// and verifies the address (the mail reached it). It also forgets the address's
// failed sign-ins, so an owner can always get back in. Returns ErrInvalid (field token or
// password), ErrGone for an unknown, used or expired token, and ErrUnavailable
// when no hash slot came free.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	if err := checkToken("token", token); err != nil {
		return err
	}
	if err := checkPassword("password", password); err != nil {
		return err
	}
	t, err := s.store.UseToken(ctx, hashToken(token), TokenReset, s.now())
	if err != nil {
		return err
	}
	if err := s.setPassword(ctx, t.AccountID, password); err != nil {
		return err
	}
	s.throttle.clear(t.Email)
	return s.store.SetVerified(ctx, t.AccountID, s.now())
}

// RequestEmailChange starts moving the signed-in member to a new address: a link
// goes to the new address and a note to the old one. Nothing changes until the
// link is followed. When the new address already has an account, its owner gets a
// note instead of a link and the answer is the same, so the form cannot be used to
// learn which addresses have accounts. Returns ErrUnauthorized when no one is
// signed in, ErrInvalid naming "email" or "password", and ErrUnavailable when no
// hash slot came free.
func (s *Service) RequestEmailChange(ctx context.Context, newEmail, password string) error {
	a, err := s.me(ctx)
	if err != nil {
		return err
	}
	addr, err := privacy.NormalizeEmail(newEmail)
	if err != nil {
		return err
	}
	if privacy.AddressKey(addr) == privacy.AddressKey(a.Email) {
		return privacy.Invalid("email", "this is already your address")
	}
	if err := s.checkCurrent(ctx, a, "password", password); err != nil {
		return err
	}
	if _, err := s.store.AccountByEmail(ctx, addr); err == nil {
		return s.send(ctx, PurposeAccount, addr, "email-taken", mailData{})
	} else if !errors.Is(err, privacy.ErrNotFound) {
		return err
	}
	token, hash, err := s.newToken()
	if err != nil {
		return err
	}
	now := s.now()
	return s.tokenMail(ctx, Token{Hash: hash, Kind: TokenEmail, AccountID: a.ID, Email: addr, Created: now, Expires: now.Add(s.cfg.EmailChangeTTL)},
		func(ctx context.Context) error {
			if err := s.send(ctx, PurposeAccount, addr, "email-confirm",
				mailData{Link: s.link("/email/confirm", token), Valid: spanOf(s.cfg.EmailChangeTTL)}); err != nil {
				return err
			}
			return s.send(ctx, PurposeAccount, a.Email, "email-changing", mailData{})
		})
}

// ConfirmEmailChange moves the account to the address the token was sent to, ends
// every session and returns a new one. Returns ErrInvalid (field "token"), ErrGone
// for an unknown, used or expired token, and ErrConflict when the address was
// taken meanwhile.
func (s *Service) ConfirmEmailChange(ctx context.Context, token string) (SignedIn, error) {
	if err := checkToken("token", token); err != nil {
		return SignedIn{}, err
	}
	t, err := s.store.UseToken(ctx, hashToken(token), TokenEmail, s.now())
	if err != nil {
		return SignedIn{}, err
	}
	if err := s.store.SetEmail(ctx, t.AccountID, t.Email); err != nil {
		if errors.Is(err, privacy.ErrNotFound) {
			return SignedIn{}, privacy.Errorf(privacy.ErrGone, "this account no longer exists")
		}
		return SignedIn{}, err
	}
	return s.openSession(ctx, t.AccountID)
}
