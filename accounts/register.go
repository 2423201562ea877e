package accounts

import (
	"context"
	"errors"
	"net/url"

	"github.com/consentkit/consentkit/privacy"
)

// RegisterInput is what the registration form sends.
type RegisterInput struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	BirthDate   string `json:"birth_date"` // free entry; only "13 or over" is kept, never the date
	Newsletter  bool   `json:"newsletter"` // opt-in, unchecked by default
	Promotions  bool   `json:"promotions"` // opt-in, unchecked by default
	ConsentCode string `json:"consent_code"`
}

// Registration field limits.
const (
	MaxDisplayNameLen = 100
	maxCodeLen        = 64
)

// ParseRegistration reads a registration form (as web.Decode returns it). A
// checkbox is on when sent as "on", "true", "yes" or "1" and off when absent, empty,
// "off", "false", "no" or "0". Returns ErrInvalid naming the field for anything
// else or for an unknown field, and the faults of every field whose text is not
// valid UTF-8 or too long, joined.
// It checks form shape only; Register checks the values.
func ParseRegistration(v url.Values) (RegisterInput, error) {
	var in RegisterInput
	for k, vs := range v {
		if len(vs) != 1 {
			return in, privacy.InvalidRule(k, "repeated", "was given more than once")
		}
		val := vs[0]
		switch k {
		case "email":
			in.Email = val
		case "password":
			in.Password = val
		case "display_name":
			in.DisplayName = val
		case "birth_date":
			in.BirthDate = val
		case "consent_code":
			in.ConsentCode = val
		case "newsletter", "promotions":
			on, err := checkbox(k, val)
			if err != nil {
				return in, err
			}
			if k == "newsletter" {
				in.Newsletter = on
			} else {
				in.Promotions = on
			}
		case "ts", "website":
			// the form guards, checked by the handler
		case "":
			return in, privacy.Invalid("body", "a field has no name")
		default:
			return in, privacy.InvalidRule(k, "unknown", "is not a registration field")
		}
	}
	var errs []error // every text fault at once, so a form marks each
	for _, f := range []struct {
		name, val string
		max       int
	}{{"email", in.Email, privacy.MaxEmailLen}, {"password", in.Password, MaxPasswordLen},
		{"display_name", in.DisplayName, MaxDisplayNameLen}, {"birth_date", in.BirthDate, 40}, {"consent_code", in.ConsentCode, maxCodeLen}} {
		errs = append(errs, privacy.CheckText(f.name, f.val, f.max, false))
	}
	return in, errors.Join(errs...)
}

func checkbox(field, v string) (bool, error) {
	switch v {
	case "on", "true", "yes", "1":
		return true, nil
	case "", "off", "false", "no", "0":
		return false, nil
	}
	return false, privacy.InvalidRule(field, "checkbox", "must be checked or left unchecked")
}

// RegisterResult tells the visitor what happens next. It is the same whether or
// not the address already had an account.
type RegisterResult struct {
	// Pending: a message went to the address (a verification link for a new
	// account, a note for an existing one).
	Pending bool `json:"pending"`
	// ParentalConsentRequired: the age screen answered under 13 and no consent code
	// was given. Nothing was stored; ask for a parent's address instead.
	ParentalConsentRequired bool   `json:"parental_consent_required,omitempty"`
	Message                 string `json:"message"`
}

// pending is the result of every registration that mailed the address, worded by
// the template "registered".
func (s *Service) pending() (RegisterResult, error) {
	msg, err := say(s.tpl, "registered", nil)
	return RegisterResult{Pending: true, Message: msg}, err
}

// Register creates an account waiting for verification and mails the verification
// link (P1). Newsletter and promotions opt-ins become consent records in the same
// transaction. An address that already has an account gets a note instead, and the
// result is the same: the answer never tells whether an address is registered, and
// both paths cost one password hash.
//
// For someone under 13 (P5) without a consent code nothing is stored and the
// result asks for a parent's address; with the code of an approved request the
// account is created with the parent recorded.
//
// Returns ErrInvalid naming the field (email, password, display_name, birth_date,
// consent_code) for bad input, every fault of the first four joined (errors.Join:
// privacy.FieldOf names the first), and ErrUnavailable when no hash slot came free
// before ctx's deadline.
func (s *Service) Register(ctx context.Context, in RegisterInput) (RegisterResult, error) {
	now := s.now()
	// Every field is checked, so a form can mark each fault at once.
	email, emailErr := privacy.NormalizeEmail(in.Email)
	birth, birthErr := privacy.ParseBirthDate(in.BirthDate, now)
	if err := errors.Join(emailErr, checkPassword("password", in.Password),
		privacy.CheckText("display_name", in.DisplayName, MaxDisplayNameLen, false), birthErr); err != nil {
		return RegisterResult{}, err
	}
	a := Account{Email: email, DisplayName: in.DisplayName, AgeScreen: AgeOver13, Created: now}
	if privacy.IsChild(birth, now) {
		if in.ConsentCode == "" {
			msg, err := say(s.tpl, "parental-required", nil)
			return RegisterResult{ParentalConsentRequired: true, Message: msg}, err
		}
		req, err := s.approvedRequest(ctx, in.ConsentCode)
		if err != nil {
			return RegisterResult{}, err
		}
		a.AgeScreen, a.ParentEmail, a.ParentalRequest = AgeConsent, req.ParentEmail, req.ID
	}

	release, err := s.hash.acquire(ctx)
	if err != nil {
		return RegisterResult{}, err
	}
	a.PasswordHash, err = s.hash.hash(in.Password)
	release()
	if err != nil {
		return RegisterResult{}, err
	}
	if a.ID, err = s.newID(); err != nil {
		return RegisterResult{}, err
	}
	token, hash, err := s.newToken()
	if err != nil {
		return RegisterResult{}, err
	}
	vt := &Token{Hash: hash, Kind: TokenVerify, AccountID: a.ID, Email: email, PasswordHash: a.PasswordHash, Created: now, Expires: now.Add(s.cfg.VerifyTTL)}
	err = s.store.Do(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAccount(ctx, &a, vt); err != nil {
			return err
		}
		// The mail goes first: it is what the guard may refuse, and a memory consent
		// store, unlike the MySQL one, cannot take a record back.
		if err := s.sendVerify(ctx, email, token); err != nil {
			return err
		}
		for _, o := range []struct {
			on bool
			p  privacy.Purpose
			// The newsletter's purposes: accounts records the consent given at
			// sign-up, and the newsletter, which reads consent records, acts on it.
		}{{in.Newsletter, privacy.Purpose("newsletter")}, {in.Promotions, privacy.Purpose("promotions")}} {
			if o.on {
				if _, err := s.cfg.Consents.Record(ctx, email, o.p, true, "registration"); err != nil {
					return err
				}
			}
		}
		if a.ParentEmail != "" {
			if _, err := s.cfg.Consents.Record(ctx, a.ParentEmail, PurposeParentalConsent, true, "parental-consent-link"); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, privacy.ErrConflict) {
		err = s.registeredAgain(ctx, email, a.PasswordHash)
	}
	if err != nil {
		return RegisterResult{}, err
	}
	return s.pending()
}

// registeredAgain answers a registration for an address that has an account: a
// note when it is verified; otherwise the mail a new registration gets, with a link
// that sets passwordHash, the password of this registration. Whoever registered
// first never gets to choose the password of an address they cannot read.
func (s *Service) registeredAgain(ctx context.Context, email, passwordHash string) error {
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil {
		return err
	}
	if a.Verified {
		return s.send(ctx, PurposeAccount, email, "registered-again", mailData{Link: s.cfg.BaseURL + "/reset"})
	}
	token, hash, err := s.newToken()
	if err != nil {
		return err
	}
	now := s.now()
	return s.tokenMail(ctx, Token{Hash: hash, Kind: TokenVerify, AccountID: a.ID, Email: email, PasswordHash: passwordHash, Created: now, Expires: now.Add(s.cfg.VerifyTTL)},
		func(ctx context.Context) error { return s.sendVerify(ctx, email, token) })
}

// tokenMail stores t and runs mail, which mails its link, in one unit of work: a
// link is stored (and the earlier one of its kind replaced) only if its mail is
// queued.
func (s *Service) tokenMail(ctx context.Context, t Token, mail func(ctx context.Context) error) error {
	return s.store.Do(ctx, func(ctx context.Context) error {
		if err := s.store.CreateToken(ctx, t); err != nil {
			return err
		}
		return mail(ctx)
	})
}

// sendVerify mails a verification link. A first and a repeated registration get
// the same text, so the mail does not tell that the address was registered before.
func (s *Service) sendVerify(ctx context.Context, email, token string) error {
	return s.send(ctx, PurposeAccount, email, "verify",
		mailData{Link: s.link("/verify", token), Valid: spanOf(s.cfg.VerifyTTL), Retention: spanOf(s.cfg.UnverifiedRetention)})
}

// Verify confirms an account's address with the mailed token and the password
// chosen with the registration that token was mailed for, and sets that password:
// each registration of an address not yet verified mails its own link, and only
// the newest works. Asking for the password means the link in the inbox confirms
// nothing for its reader unless they chose it: when someone registered the
// address after its owner, the newest mail is theirs, and the owner following it
// with his own password is refused, so he registers again (audit #13 finding 2).
// Every other link of the account dies once one is used.
//
// A token made before migration 00002 carries no password and confirms without
// one, as it did; such a token expires within Config.VerifyTTL.
//
// Returns ErrInvalid (field "token") for a malformed token, ErrGone for one that
// is unknown, expired or already used, ErrInvalid (field "password") for a
// password other than the registration's, which leaves the token usable, and
// ErrUnavailable when no hash slot came free before ctx's deadline.
func (s *Service) Verify(ctx context.Context, token, password string) error {
	if err := checkToken("token", token); err != nil {
		return err
	}
	hash := hashToken(token)
	t, err := s.store.Token(ctx, hash, TokenVerify, s.now())
	if err != nil {
		return err
	}
	passwordHash := t.PasswordHash
	if passwordHash != "" {
		if passwordHash, err = s.registrationPassword(ctx, passwordHash, password); err != nil {
			return err
		}
	}
	if t, err = s.store.UseToken(ctx, hash, TokenVerify, s.now()); err != nil {
		return err
	}
	if passwordHash != "" {
		// The revocation discards every other pending registration's link.
		err = s.store.SetPassword(ctx, t.AccountID, passwordHash, true)
	}
	if err == nil {
		err = s.store.SetVerified(ctx, t.AccountID, s.now())
	}
	if errors.Is(err, privacy.ErrNotFound) {
		return privacy.Errorf(privacy.ErrGone, "this account no longer exists; register again")
	}
	return err
}

// registrationPassword checks password against stored, the hash a registration
// chose, and returns the hash to keep: stored, or its replacement when the
// argon2 parameters changed since. Returns ErrInvalid (field "password") when it
// does not match, and ErrUnavailable when no hash slot came free.
func (s *Service) registrationPassword(ctx context.Context, stored, password string) (string, error) {
	if password == "" {
		return "", privacy.Invalid("password", "enter the password you chose when you registered")
	}
	if err := privacy.CheckText("password", password, MaxPasswordLen, true); err != nil {
		return "", err
	}
	release, err := s.hash.acquire(ctx)
	if err != nil {
		return "", err
	}
	ok, rehash, err := s.hash.verify(stored, password)
	release()
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", privacy.Invalid("password", "this is not the password chosen with this registration; if you did not register, ignore the mail, or register again")
	case rehash != "":
		return rehash, nil
	}
	return stored, nil
}
