package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/consentkit/consentkit/privacy"
)

// MaxPasskeyName bounds the name a member gives a passkey, in characters.
const MaxPasskeyName = 100

// newWebAuthn returns the relying party of cfg's PasskeyRPID and PasskeyOrigins,
// by default the host name and origin of the site's URL, or nil when passkeys are
// off: a site reached at an IP address cannot have them, since browsers take
// only a domain name (localhost included) as a relying party.
func newWebAuthn(cfg *Config, site string) (*webauthn.WebAuthn, error) {
	explicit := cfg.PasskeyRPID != ""
	if !explicit {
		u, err := url.Parse(site)
		if err != nil || u.Host == "" {
			return nil, nil
		}
		cfg.PasskeyRPID = u.Hostname()
		if len(cfg.PasskeyOrigins) == 0 {
			cfg.PasskeyOrigins = []string{u.Scheme + "://" + u.Host}
		}
	}
	name := cfg.PasskeyRPID
	wa, err := webauthn.New(&webauthn.Config{RPID: cfg.PasskeyRPID, RPDisplayName: name, RPOrigins: cfg.PasskeyOrigins})
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("accounts: PasskeyRPID %q, PasskeyOrigins %v: %w", cfg.PasskeyRPID, cfg.PasskeyOrigins, err)
		}
		cfg.PasskeyRPID, cfg.PasskeyOrigins = "", nil
		return nil, nil
	}
	return wa, nil
}

// PasskeyStart is the first half of a WebAuthn exchange: Options for the
// browser's navigator.credentials.create or .get, and the one-time Ceremony id
// the answer goes back with before Expires.
type PasskeyStart struct {
	Ceremony string    `json:"ceremony"`
	Options  any       `json:"options"`
	Expires  time.Time `json:"expires"`
}

// passkeyUser is an account as go-webauthn sees it. Its user handle is the
// account id, random and not personal, which the authenticator keeps and hands
// back in a sign-in with a passkey alone.
type passkeyUser struct {
	a     Account
	keys  []Passkey
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte   { return []byte(u.a.ID) }
func (u *passkeyUser) WebAuthnName() string { return u.a.Email }
func (u *passkeyUser) WebAuthnDisplayName() string {
	if u.a.DisplayName != "" {
		return u.a.DisplayName
	}
	return u.a.Email
}
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) passkeyUser(ctx context.Context, a Account) (*passkeyUser, error) {
	keys, err := s.store.Passkeys(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{a: a, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Data, &c); err != nil {
			return nil, fmt.Errorf("accounts: passkey %s: %w", k.ID, err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

func errNoPasskeys() error {
	return privacy.Errorf(privacy.ErrUnavailable, "passkeys need the site at a domain name (for development, http://localhost)")
}

// ceremony stores sd under a new one-time id of kind, for accountID ("" for none).
func (s *Service) ceremony(ctx context.Context, kind, accountID string, sd *webauthn.SessionData, options any) (PasskeyStart, error) {
	token, hash, err := s.newToken()
	if err != nil {
		return PasskeyStart{}, err
	}
	return s.ceremonyAt(ctx, token, hash, kind, accountID, sd, options)
}

func (s *Service) ceremonyAt(ctx context.Context, token, hash, kind, accountID string, sd *webauthn.SessionData, options any) (PasskeyStart, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return PasskeyStart{}, fmt.Errorf("accounts: ceremony: %w", err)
	}
	now := s.now()
	c := Ceremony{Hash: hash, Kind: kind, AccountID: accountID, Data: data, Created: now, Expires: now.Add(s.cfg.ChallengeTTL)}
	if err := s.store.CreateCeremony(ctx, c); err != nil {
		return PasskeyStart{}, err
	}
	return PasskeyStart{Ceremony: token, Options: options, Expires: c.Expires}, nil
}

// useCeremony uses up the ceremony of id, which must be of kind and, unless
// accountID is "", of that account. Returns ErrGone otherwise.
func (s *Service) useCeremony(ctx context.Context, id, kind, accountID string) (Ceremony, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if err := checkToken("ceremony", id); err != nil {
		return Ceremony{}, sd, err
	}
	c, err := s.store.UseCeremony(ctx, hashToken(id), s.now())
	if err != nil {
		return Ceremony{}, sd, err
	}
	if c.Kind != kind || accountID != "" && c.AccountID != accountID {
		return Ceremony{}, sd, privacy.Errorf(privacy.ErrGone, "this passkey request has expired; start again")
	}
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return Ceremony{}, sd, fmt.Errorf("accounts: ceremony: %w", err)
	}
	return c, sd, nil
}

// The options every ceremony asks for: a passkey the browser can offer without
// a name typed first (a discoverable credential), unlocked by the member (user
// verification), so that it is two factors in itself and signs in alone.
var (
	passkeySelection = protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
		RequireResidentKey: protocol.ResidentKeyRequired(), UserVerification: protocol.VerificationRequired}
	passkeyVerify = webauthn.WithUserVerification(protocol.VerificationRequired)
)

// BeginPasskey starts adding a passkey to the signed-in member's account: it needs
// a fresh proof in the session (Confirm), since a passkey signs in alone. Returns
// ErrUnauthorized when no one is signed in, ErrForbidden (field "proof") without
// a fresh proof and ErrUnavailable when the site has no passkeys.
func (s *Service) BeginPasskey(ctx context.Context) (PasskeyStart, error) {
	a, err := s.me(ctx)
	if err != nil {
		return PasskeyStart{}, err
	}
	if s.wa == nil {
		return PasskeyStart{}, errNoPasskeys()
	}
	if err := s.fresh(ctx); err != nil {
		return PasskeyStart{}, err
	}
	u, err := s.passkeyUser(ctx, a)
	if err != nil {
		return PasskeyStart{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := s.wa.BeginRegistration(u, webauthn.WithAuthenticatorSelection(passkeySelection), webauthn.WithExclusions(exclude))
	if err != nil {
		return PasskeyStart{}, fmt.Errorf("accounts: passkey registration: %w", err)
	}
	return s.ceremony(ctx, CeremonyRegister, a.ID, sd, opts)
}

// FinishPasskey adds the passkey of credential, the browser's answer to
// BeginPasskey's options in JSON, under name. Only what checks a sign-in is kept:
// the public key, flags and counter, never the attestation or the authenticator's
// model. Returns ErrUnauthorized when no one is signed in, ErrInvalid naming
// "ceremony", "name" or "credential", ErrGone when the ceremony was used or
// expired, and ErrConflict when the passkey is registered already.
func (s *Service) FinishPasskey(ctx context.Context, ceremony, name, credential string) (Passkey, error) {
	a, err := s.me(ctx)
	if err != nil {
		return Passkey{}, err
	}
	if s.wa == nil {
		return Passkey{}, errNoPasskeys()
	}
	name = strings.TrimSpace(name)
	if err := privacy.CheckText("name", name, MaxPasskeyName, false); err != nil {
		return Passkey{}, err
	}
	if name == "" {
		name = "Passkey added " + s.now().Format("2 January 2006")
	}
	_, sd, err := s.useCeremony(ctx, ceremony, CeremonyRegister, a.ID)
	if err != nil {
		return Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(credential))
	if err != nil {
		return Passkey{}, privacy.Invalid("credential", "the passkey's answer could not be read; try again")
	}
	u, err := s.passkeyUser(ctx, a)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := s.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "passkey refused", "step", "register", "err", err)
		return Passkey{}, privacy.Invalid("credential", "the passkey's answer does not match this request; try again")
	}
	cred.Attestation = webauthn.CredentialAttestation{}
	cred.Authenticator.AAGUID = nil
	data, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, fmt.Errorf("accounts: passkey: %w", err)
	}
	id, err := s.newID()
	if err != nil {
		return Passkey{}, err
	}
	p := Passkey{ID: id, AccountID: a.ID, Name: name, CredentialID: cred.ID, Data: data, Created: s.now()}
	if err := s.store.AddPasskey(ctx, p); err != nil {
		return Passkey{}, err
	}
	return p, nil
}

// MyPasskeys lists the signed-in member's passkeys, oldest first. Returns
// ErrUnauthorized when no one is signed in.
func (s *Service) MyPasskeys(ctx context.Context) ([]Passkey, error) {
	a, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.Passkeys(ctx, a.ID)
}

// RemovePasskey removes one of the signed-in member's passkeys. It needs a fresh
// proof in the session (Confirm). Returns ErrUnauthorized when no one is signed
// in, ErrForbidden (field "proof") without a fresh proof, and ErrNotFound when the
// member has no passkey id.
func (s *Service) RemovePasskey(ctx context.Context, id string) error {
	a, err := s.me(ctx)
	if err != nil {
		return err
	}
	if err := s.fresh(ctx); err != nil {
		return err
	}
	return s.store.DeletePasskey(ctx, a.ID, id)
}

// BeginPasskeySignIn starts a sign-in with a passkey alone: the browser offers
// the passkeys it holds for the site, and no address is asked for. Returns
// ErrUnavailable when the site has no passkeys.
func (s *Service) BeginPasskeySignIn(ctx context.Context) (PasskeyStart, error) {
	if s.wa == nil {
		return PasskeyStart{}, errNoPasskeys()
	}
	opts, sd, err := s.wa.BeginDiscoverableLogin(passkeyVerify)
	if err != nil {
		return PasskeyStart{}, fmt.Errorf("accounts: passkey sign-in: %w", err)
	}
	return s.ceremony(ctx, CeremonySignIn, "", sd, opts)
}

// errPasskey is the one answer to a passkey sign-in that fails, whatever failed.
func errPasskey() error {
	return privacy.Errorf(privacy.ErrUnauthorized, "the passkey was not accepted; sign in again")
}

// SignInWithPasskey completes a sign-in with the browser's answer (credential, in
// JSON) to the options of BeginPasskeySignIn, or, after a right password, to the
// Passkey options of SignIn's answer, whose Challenge is then the ceremony. The
// ceremony works once, right or wrong. Returns ErrInvalid (field "ceremony") for a
// malformed id, ErrUnauthorized when the passkey is not accepted or the ceremony
// was used or expired, and ErrForbidden for an address not yet verified.
func (s *Service) SignInWithPasskey(ctx context.Context, ceremony, credential string) (SignedIn, error) {
	if s.wa == nil {
		return SignedIn{}, errNoPasskeys()
	}
	if err := checkToken("ceremony", ceremony); err != nil {
		return SignedIn{}, err
	}
	c, err := s.store.UseCeremony(ctx, hashToken(ceremony), s.now())
	if errors.Is(err, privacy.ErrGone) || err == nil && c.Kind != CeremonySignIn && c.Kind != CeremonySecond {
		return SignedIn{}, errPasskey()
	}
	if err != nil {
		return SignedIn{}, err
	}
	if c.Kind == CeremonySecond {
		// The password's challenge goes with it, so that neither serves again.
		if _, err := s.store.UseChallenge(ctx, c.Hash, ChallengeSignIn, s.now()); errors.Is(err, privacy.ErrGone) {
			return SignedIn{}, errPasskey()
		} else if err != nil {
			return SignedIn{}, err
		}
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return SignedIn{}, fmt.Errorf("accounts: ceremony: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credential))
	if err != nil {
		return SignedIn{}, errPasskey()
	}
	var a Account
	if c.Kind == CeremonySecond {
		if a, err = s.store.AccountByID(ctx, c.AccountID); err != nil {
			if errors.Is(err, privacy.ErrNotFound) {
				return SignedIn{}, errPasskey()
			}
			return SignedIn{}, err
		}
		if err := s.checkAssertion(ctx, a, sd, parsed); err != nil {
			return SignedIn{}, err
		}
		key, src := s.throttle.keys(a.Email, clientFrom(ctx))
		s.throttle.succeed(key, src)
	} else {
		if a, err = s.checkDiscoverable(ctx, sd, parsed); err != nil {
			return SignedIn{}, err
		}
		if !a.Verified {
			return SignedIn{}, privacy.Errorf(privacy.ErrForbidden, "confirm your address first: follow the link we sent you")
		}
	}
	return s.openSession(ctx, a.ID)
}

// checkAssertion checks parsed, an answer to sd, against a's passkeys and records
// the passkey's use. Returns ErrUnauthorized when it is not accepted.
func (s *Service) checkAssertion(ctx context.Context, a Account, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) error {
	u, err := s.passkeyUser(ctx, a)
	if err != nil {
		return err
	}
	cred, err := s.wa.ValidateLogin(u, sd, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "passkey refused", "step", "assert", "err", err)
		return errPasskey()
	}
	return s.usePasskey(ctx, u, cred)
}

// checkDiscoverable checks parsed, an answer to sd that names its account only by
// the user handle the authenticator kept, and records the passkey's use.
func (s *Service) checkDiscoverable(ctx context.Context, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (Account, error) {
	var u *passkeyUser
	var lookErr error
	_, cred, err := s.wa.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
		p, err := s.store.PasskeyByCredential(ctx, rawID)
		if err != nil {
			lookErr = err
			return nil, err
		}
		// The handle is the account's id: a passkey of one account cannot speak
		// for another.
		if string(handle) != p.AccountID {
			return nil, errors.New("the user handle is not the passkey's account")
		}
		a, err := s.store.AccountByID(ctx, p.AccountID)
		if err != nil {
			lookErr = err
			return nil, err
		}
		if u, err = s.passkeyUser(ctx, a); err != nil {
			lookErr = err
			return nil, err
		}
		return u, nil
	}, sd, parsed)
	if lookErr != nil && !errors.Is(lookErr, privacy.ErrNotFound) {
		return Account{}, lookErr
	}
	if err != nil {
		s.log.InfoContext(ctx, "passkey refused", "step", "sign-in", "err", err)
		return Account{}, errPasskey()
	}
	return u.a, s.usePasskey(ctx, u, cred)
}

// usePasskey records a sign-in with cred, one of u's: its counter and flags as
// the authenticator reported them, and when. A counter that did not move on
// where it counts means a copy of the key may be in use, and is refused.
func (s *Service) usePasskey(ctx context.Context, u *passkeyUser, cred *webauthn.Credential) error {
	if cred.Authenticator.CloneWarning {
		s.log.WarnContext(ctx, "passkey counter went back; refused")
		return errPasskey()
	}
	for _, k := range u.keys {
		if !bytes.Equal(k.CredentialID, cred.ID) {
			continue
		}
		data, err := json.Marshal(cred)
		if err != nil {
			return fmt.Errorf("accounts: passkey: %w", err)
		}
		return s.store.UsePasskey(ctx, u.a.ID, k.ID, data, s.now())
	}
	return errPasskey()
}

// passkeyStep adds to a second step of sign-in, when the account has passkeys,
// the options for one of them: a ceremony stored under the challenge's own hash,
// so the challenge is its id.
func (s *Service) passkeyStep(ctx context.Context, a Account, token, hash string) (*protocol.CredentialAssertion, error) {
	if s.wa == nil {
		return nil, nil
	}
	u, err := s.passkeyUser(ctx, a)
	if err != nil || len(u.creds) == 0 {
		return nil, err
	}
	opts, sd, err := s.wa.BeginLogin(u, passkeyVerify)
	if err != nil {
		return nil, fmt.Errorf("accounts: passkey sign-in: %w", err)
	}
	if _, err := s.ceremonyAt(ctx, token, hash, CeremonySecond, a.ID, sd, opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// BeginPasskeyConfirm starts a proof of who the signed-in member is with one of
// their passkeys (ConfirmWithPasskey). Returns ErrUnauthorized when no one is
// signed in or the context has no session, and ErrInvalid (field "passkey") when
// the member has no passkey.
func (s *Service) BeginPasskeyConfirm(ctx context.Context) (PasskeyStart, error) {
	a, err := s.me(ctx)
	if err != nil {
		return PasskeyStart{}, err
	}
	if _, ok := current(ctx); !ok {
		return PasskeyStart{}, privacy.Errorf(privacy.ErrUnauthorized, "sign in first")
	}
	if s.wa == nil {
		return PasskeyStart{}, errNoPasskeys()
	}
	u, err := s.passkeyUser(ctx, a)
	if err != nil {
		return PasskeyStart{}, err
	}
	if len(u.creds) == 0 {
		return PasskeyStart{}, privacy.Invalid("passkey", "you have no passkey; give your password")
	}
	opts, sd, err := s.wa.BeginLogin(u, passkeyVerify)
	if err != nil {
		return PasskeyStart{}, fmt.Errorf("accounts: passkey confirm: %w", err)
	}
	return s.ceremony(ctx, CeremonyConfirm, a.ID, sd, opts)
}

// ConfirmWithPasskey records a fresh proof in this session (as Confirm does) with
// the browser's answer to BeginPasskeyConfirm's options. Returns ErrUnauthorized
// when no one is signed in or the passkey is not accepted, ErrInvalid (field
// "ceremony") for a malformed id, and ErrGone when the ceremony was used or
// expired.
func (s *Service) ConfirmWithPasskey(ctx context.Context, ceremony, credential string) error {
	a, err := s.me(ctx)
	if err != nil {
		return err
	}
	if _, ok := current(ctx); !ok {
		return privacy.Errorf(privacy.ErrUnauthorized, "sign in first")
	}
	if s.wa == nil {
		return errNoPasskeys()
	}
	_, sd, err := s.useCeremony(ctx, ceremony, CeremonyConfirm, a.ID)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credential))
	if err != nil {
		return privacy.Invalid("credential", "the passkey's answer could not be read; try again")
	}
	if err := s.checkAssertion(ctx, a, sd, parsed); err != nil {
		if errors.Is(err, privacy.ErrUnauthorized) {
			// Not a 401: the session is fine, only this proof failed.
			return privacy.Invalid("credential", "the passkey was not accepted; try again")
		}
		return err
	}
	return s.proved(ctx)
}
