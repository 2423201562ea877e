package accounts

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// The purposes accounts mail addresses for (P8).
const (
	// PurposeAccount is sign-up and account service: the address confirmation,
	// password resets, address changes.
	PurposeAccount privacy.Purpose = "account"
	// PurposeParentalConsent is asking a parent's consent for a child under 13 (P5).
	PurposeParentalConsent privacy.Purpose = "parental-consent"
)

// Age screen outcomes: the only thing kept about a member's age (P5), never the date.
const (
	AgeOver13  = "13-or-over"       // the member said they were 13 or over
	AgeConsent = "parental-consent" // under 13, registered after a parent approved
	AgeUnknown = "imported"         // imported from a legacy site that did not ask
)

// Account is a member: one account per email address (P1), addresses compared by
// privacy.AddressKey, so Zed@example.org and zed@example.org are one account.
type Account struct {
	ID           string    `json:"id" db:"id"`
	Email        string    `json:"email" db:"email"`
	DisplayName  string    `json:"display_name" db:"display_name"`
	PasswordHash string    `json:"-" db:"password_hash"` // argon2id PHC string, or an imported legacy form
	Verified     bool      `json:"verified" db:"verified"`
	AgeScreen    string    `json:"age_screen" db:"age_screen"`
	ParentEmail  string    `json:"parent_email,omitempty" db:"parent_email"` // the consenting parent, for AgeConsent
	Created      time.Time `json:"created" db:"created_at"`

	// ParentalRequest, when set on CreateAccount, is the approved parental consent
	// request this registration uses up; the store refuses it with ErrGone if that
	// request is not approved and unused.
	ParentalRequest string `json:"-" db:"-"`

	Roles []privacy.Role `json:"roles,omitempty" db:"-"`
}

// Token kinds.
const (
	TokenVerify = "verify"       // confirms a new account's address
	TokenReset  = "reset"        // resets a forgotten password
	TokenEmail  = "email-change" // confirms a new address; Email is the new address
)

// Token is a single-use mailed token. Only the SHA-256 of its value is stored.
type Token struct {
	Hash      string `db:"hash"`
	Kind      string `db:"kind"`
	AccountID string `db:"account_id"`
	Email     string `db:"email"` // the address the token was sent to
	// PasswordHash, on a verification token, is the password chosen with the
	// registration it was mailed for: following the link sets it.
	PasswordHash string    `db:"password_hash"`
	Created      time.Time `db:"created_at"`
	Expires      time.Time `db:"expires_at"`
}

// Session is a signed-in session. Only the SHA-256 of its bearer token is stored.
type Session struct {
	Hash      string    `json:"-" db:"hash"`
	AccountID string    `json:"-" db:"account_id"`
	Created   time.Time `json:"created" db:"created_at"`
	LastSeen  time.Time `json:"last_seen" db:"last_seen"`
	Expires   time.Time `json:"expires" db:"expires_at"` // absolute expiry
	// Device is a coarse label of the browser and system that signed in ("Firefox
	// on Linux"), from the user agent then; the string itself is not kept.
	Device string `json:"device" db:"device"`
	// Proved is when the member last proved who they are in this session (a
	// password, a code or a passkey): changing a credential, exporting or deleting
	// needs a recent one (Config.StepUpWindow).
	Proved time.Time `json:"proved" db:"proved_at"`
}

// Factor kinds.
const (
	FactorTOTP = "totp" // RFC 6238 time-based codes from an authenticator app
	// FactorPasskey, in SignedIn.Factors, says a passkey may follow the password in
	// place of a code. Passkeys are not Factors: they are kept as Passkey.
	FactorPasskey = "passkey"
)

// Factor is a second factor of an account. Exports show its kind and dates,
// never its secret.
type Factor struct {
	ID        string `json:"id" db:"id"`
	AccountID string `json:"-" db:"account_id"`
	Kind      string `json:"kind" db:"kind"`
	// Secret checks a proof: for TOTP the key, sealed under Config.FactorKey.
	Secret    []byte    `json:"-" db:"secret"`
	Created   time.Time `json:"created" db:"created_at"`
	Confirmed time.Time `json:"confirmed,omitzero" db:"confirmed_at"` // zero until a first code confirms it
	LastUsed  time.Time `json:"last_used,omitzero" db:"last_used_at"`
	// Step is the last TOTP time step accepted: no code of it or of an earlier
	// step is accepted again.
	Step int64 `json:"-" db:"step"`
}

// Challenge kinds.
const (
	ChallengeSignIn = "signin" // a password was right; a second factor must follow
)

// Challenge is a one-time, expiring step of a sign-in, held server-side under a
// random id the client gets instead of a session. Only the SHA-256 of the id is
// stored.
type Challenge struct {
	Hash      string    `db:"hash"`
	Kind      string    `db:"kind"`
	AccountID string    `db:"account_id"`
	Created   time.Time `db:"created_at"`
	Expires   time.Time `db:"expires_at"`
}

// Passkey is a WebAuthn credential a member registered: it signs in alone, or
// after the password in place of a code, and proves who the member is for
// step-up. Exports show its name and dates, never its key.
type Passkey struct {
	ID        string `json:"id" db:"id"`
	AccountID string `json:"-" db:"account_id"`
	Name      string `json:"name" db:"name"` // the member's, to tell their passkeys apart
	// CredentialID is the authenticator's id of the credential, unique on the site.
	CredentialID []byte `json:"-" db:"credential_id"`
	// Data is what checks a sign-in with it: the public key, its flags and
	// signature counter, as go-webauthn's Credential in JSON; never an attestation.
	Data     []byte    `json:"-" db:"data"`
	Created  time.Time `json:"created" db:"created_at"`
	LastUsed time.Time `json:"last_used,omitzero" db:"last_used_at"`
}

// Ceremony kinds: the WebAuthn exchanges a passkey takes part in.
const (
	CeremonyRegister = "passkey-register" // a signed-in member adds a passkey
	CeremonySignIn   = "passkey-signin"   // anyone signs in with a passkey alone
	CeremonySecond   = "passkey-second"   // a passkey after a right password, in place of a code
	CeremonyConfirm  = "passkey-confirm"  // a signed-in member proves who they are (step-up)
)

// Ceremony is the server's half of one WebAuthn exchange, held under a random
// one-time id the client gets, never in a cookie, until Expires. Only the SHA-256
// of the id is stored.
type Ceremony struct {
	Hash      string `db:"hash"`
	Kind      string `db:"kind"`
	AccountID string `db:"account_id"` // "" for a sign-in with a passkey alone: no one is known yet
	// Data is go-webauthn's SessionData in JSON: the challenge and what the
	// answer must match.
	Data    []byte    `db:"data"`
	Created time.Time `db:"created_at"`
	Expires time.Time `db:"expires_at"`
}

// Resource kinds and visibilities (P2).
const (
	KindPhoto   = "photo"
	KindNote    = "note"
	KindMessage = "message"

	Private   = "private"   // only the owner sees it
	Community = "community" // every signed-in member sees it
)

// Resource is something a member stored: a photo (Data, ContentType) or a text
// note or message (Body).
type Resource struct {
	ID          string    `json:"id" db:"id"`
	AccountID   string    `json:"-" db:"account_id"`
	Kind        string    `json:"kind" db:"kind"`
	Title       string    `json:"title" db:"title"`
	Body        string    `json:"body,omitempty" db:"body"`
	ContentType string    `json:"content_type,omitempty" db:"content_type"`
	Data        []byte    `json:"data,omitempty" db:"data"`
	Size        int64     `json:"size" db:"size"` // bytes counted against the quota
	Visibility  string    `json:"visibility" db:"visibility"`
	Created     time.Time `json:"created" db:"created_at"`
	Author      string    `json:"author,omitempty" db:"author"` // the owner's display name, filled by listings
}

// ResourceFilter selects resources for a listing. Listings leave Data empty.
type ResourceFilter struct {
	AccountID string // only this member's resources
	Community bool   // only resources visible to the community
	Limit     int    // 0 means 50; negative means no limit
}

// ParentalRequest asks a parent's consent for a child under 13 (P5). It holds the
// parent's address and nothing about the child.
type ParentalRequest struct {
	ID          string    `db:"id"`
	ParentEmail string    `db:"parent_email"`
	TokenHash   string    `db:"token_hash"` // the parent's link
	CodeHash    string    `db:"code_hash"`  // the code shown to the child
	Created     time.Time `db:"created_at"`
	Approved    time.Time `db:"approved_at"`  // zero until the parent approves
	Confirmed   time.Time `db:"confirmed_at"` // when the delayed confirmation mail was sent
	AccountID   string    `db:"account_id"`   // the account registered under it, once used
}

// Store keeps accounts, sessions, tokens, resources and parental consent requests.
// It is a privacy.UnitOfWork: the Service runs a change and the mail it causes in
// one Do, on the same database as the Mailer's store, so that if the mail cannot be
// queued nothing the change did is kept.
//
// Every look-up by address compares privacy.AddressKey (case-insensitively), and
// an account's address is unique under it; addresses are kept as given.
//
// Unless stated otherwise, a missing row is ErrNotFound.
type Store interface {
	privacy.UnitOfWork
	// CreateAccount stores a, its roles, and verify when not nil.
	// Returns ErrConflict when the address already has an account, and ErrGone when
	// a.ParentalRequest is set but not an approved, unused request (it is marked used).
	CreateAccount(ctx context.Context, a *Account, verify *Token) error
	// AccountByID and AccountByEmail return an account with its roles.
	AccountByID(ctx context.Context, id string) (Account, error)
	AccountByEmail(ctx context.Context, email string) (Account, error)
	// SetVerified marks the account verified.
	SetVerified(ctx context.Context, id string, at time.Time) error
	// SetPassword replaces the password hash. With revoke (a password change, not a
	// rehash) it also ends every session and deletes every mailed token of the
	// account, whatever its kind: a link sent before the change must not outlive it.
	SetPassword(ctx context.Context, id, hash string, revoke bool) error
	// SetEmail changes the address, ends every session and deletes every mailed
	// token of the account. ErrConflict when taken.
	SetEmail(ctx context.Context, id, email string) error
	// DeleteAccount removes the account with its sessions, tokens, roles, resources,
	// factors, recovery codes, challenges, passkeys, ceremonies and the parental
	// request it used, and returns how many records went.
	DeleteAccount(ctx context.Context, id string) (int, error)
	// AccountsByParent returns the accounts registered with parent's consent.
	AccountsByParent(ctx context.Context, parent string) ([]Account, error)
	// PurgeUnverified removes accounts never verified and created before t (with
	// what DeleteAccount removes) and returns how many accounts went.
	PurgeUnverified(ctx context.Context, t time.Time) (int, error)

	// SetRole grants (or, with granted false, revokes) role.
	SetRole(ctx context.Context, accountID string, role privacy.Role, granted bool) error
	// Staff returns every account holding a role, by email.
	Staff(ctx context.Context) ([]Account, error)

	// CreateToken stores t, deleting the account's earlier tokens of t's kind (only
	// the newest reset, verification or address-change link works).
	CreateToken(ctx context.Context, t Token) error
	// Token returns the token of that hash and kind without using it. ErrGone when
	// there is none or it expired before now.
	Token(ctx context.Context, hash, kind string, now time.Time) (Token, error)
	// UseToken deletes and returns the token of that hash and kind. ErrGone when
	// there is none or it expired before now.
	UseToken(ctx context.Context, hash, kind string, now time.Time) (Token, error)
	// TokenFor reports whether a live token of kind was sent to email (a pending
	// email change targets it).
	TokenFor(ctx context.Context, kind, email string, now time.Time) (bool, error)
	// TokensTo returns the tokens sent to email.
	TokensTo(ctx context.Context, email string) ([]Token, error)
	// DeleteTokensTo removes the tokens sent to email and returns how many.
	DeleteTokensTo(ctx context.Context, email string) (int, error)
	// PurgeTokens removes tokens expired before now.
	PurgeTokens(ctx context.Context, now time.Time) (int, error)

	// CreateSession stores s.
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash returns the session and its account (with roles).
	SessionByHash(ctx context.Context, hash string) (Session, Account, error)
	// TouchSession sets the session's last use.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	// DeleteSession ends one session; ending a missing one is not an error.
	DeleteSession(ctx context.Context, hash string) error
	// DeleteSessions ends every session of the account and returns how many.
	DeleteSessions(ctx context.Context, accountID string) (int, error)
	// Sessions returns the account's sessions.
	Sessions(ctx context.Context, accountID string) ([]Session, error)
	// PurgeSessions removes sessions past their absolute expiry at now or idle since
	// before idleBefore.
	PurgeSessions(ctx context.Context, now, idleBefore time.Time) (int, error)
	// SetSessionProved records a fresh proof of identity in the session at at.
	SetSessionProved(ctx context.Context, hash string, at time.Time) error
	// DeleteSessionOf ends the account's session of hash; ErrNotFound when the
	// account has none, so a member cannot end another's.
	DeleteSessionOf(ctx context.Context, accountID, hash string) error
	// DeleteOtherSessions ends every session of the account but keep's and returns
	// how many.
	DeleteOtherSessions(ctx context.Context, accountID, keep string) (int, error)

	// AddFactor stores f, unconfirmed, deleting the account's unconfirmed factors of
	// its kind: only the newest enrolment can be confirmed. ErrNotFound when the
	// account is missing.
	AddFactor(ctx context.Context, f Factor) error
	// Factors returns the account's factors, oldest first.
	Factors(ctx context.Context, accountID string) ([]Factor, error)
	// ConfirmFactor marks the account's unconfirmed factor id confirmed at at, its
	// Step step, and replaces the account's recovery codes with codes (hashes).
	// ErrGone when there is no such unconfirmed factor.
	ConfirmFactor(ctx context.Context, accountID, id string, step int64, at time.Time, codes []string) error
	// UseFactor records a proof by the account's confirmed factor id at step: Step
	// becomes step and LastUsed at. ErrGone when step is not above Step (a replayed
	// code) or there is no such confirmed factor.
	UseFactor(ctx context.Context, accountID, id string, step int64, at time.Time) error
	// DeleteFactor removes the account's factor id and, when no confirmed factor is
	// left, its recovery codes. ErrNotFound when the account has no such factor.
	DeleteFactor(ctx context.Context, accountID, id string) error
	// UseRecoveryCode deletes the account's recovery code of hash. ErrGone when it
	// has none.
	UseRecoveryCode(ctx context.Context, accountID, hash string) error
	// RecoveryCodes returns how many recovery codes the account has left.
	RecoveryCodes(ctx context.Context, accountID string) (int, error)

	// CreateChallenge stores c. ErrNotFound when its account is missing.
	CreateChallenge(ctx context.Context, c Challenge) error
	// UseChallenge deletes and returns the challenge of hash and kind. ErrGone when
	// there is none or it expired before now.
	UseChallenge(ctx context.Context, hash, kind string, now time.Time) (Challenge, error)
	// PurgeChallenges removes challenges expired before now.
	PurgeChallenges(ctx context.Context, now time.Time) (int, error)

	// AddPasskey stores p. ErrNotFound when its account is missing, ErrConflict
	// when its credential id is registered already (to any account).
	AddPasskey(ctx context.Context, p Passkey) error
	// Passkeys returns the account's passkeys, oldest first.
	Passkeys(ctx context.Context, accountID string) ([]Passkey, error)
	// PasskeyByCredential returns the passkey of a credential id.
	PasskeyByCredential(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records a sign-in with the account's passkey id: Data becomes data
	// (its signature counter moved) and LastUsed at.
	UsePasskey(ctx context.Context, accountID, id string, data []byte, at time.Time) error
	// DeletePasskey removes the account's passkey id.
	DeletePasskey(ctx context.Context, accountID, id string) error
	// CreateCeremony stores c. ErrNotFound when c names an account that is missing.
	CreateCeremony(ctx context.Context, c Ceremony) error
	// UseCeremony deletes and returns the ceremony of hash, whatever its kind.
	// ErrGone when there is none or it expired before now.
	UseCeremony(ctx context.Context, hash string, now time.Time) (Ceremony, error)
	// PurgeCeremonies removes ceremonies expired before now.
	PurgeCeremonies(ctx context.Context, now time.Time) (int, error)

	// AddResource stores r unless the account's resources would then exceed quota
	// bytes, which is ErrInvalid naming the field "file".
	AddResource(ctx context.Context, r *Resource, quota int64) error
	// Resource returns one resource with its data.
	Resource(ctx context.Context, id string) (Resource, error)
	// Resources lists resources, newest first, without their data.
	Resources(ctx context.Context, f ResourceFilter) ([]Resource, error)
	// DeleteResource deletes the account's resource; ErrNotFound when the account has none with id.
	DeleteResource(ctx context.Context, accountID, id string) error
	// Usage returns the bytes the account's resources take.
	Usage(ctx context.Context, accountID string) (int64, error)

	// CreateParental stores p.
	CreateParental(ctx context.Context, p ParentalRequest) error
	// ParentalByToken and ParentalByCode find a request by its parent link or child code.
	ParentalByToken(ctx context.Context, tokenHash string) (ParentalRequest, error)
	ParentalByCode(ctx context.Context, codeHash string) (ParentalRequest, error)
	// ApproveParental records the parent's approval at; approving again keeps the
	// first time.
	ApproveParental(ctx context.Context, id string, at time.Time) error
	// DeleteParental removes the request.
	DeleteParental(ctx context.Context, id string) error
	// ParentalDue returns approved requests not yet confirmed, approved before t.
	ParentalDue(ctx context.Context, t time.Time, limit int) ([]ParentalRequest, error)
	// ConfirmParental marks the request confirmed at and replaces its token hash
	// (the confirmation mail carries a fresh link). ErrGone if it was confirmed or
	// deleted meanwhile.
	ConfirmParental(ctx context.Context, id string, at time.Time, tokenHash string) error
	// ParentalFor returns the requests naming parent.
	ParentalFor(ctx context.Context, parent string) ([]ParentalRequest, error)
	// PurgeParental removes requests not used to register and created before t.
	PurgeParental(ctx context.Context, t time.Time) (int, error)
}
