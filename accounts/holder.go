package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// The policy categories this package keeps.
const (
	CategoryAccounts        = "accounts"
	CategoryResources       = "member-resources"
	CategoryParentalConsent = "parental-consent"
	CategorySessions        = "sign-in-sessions"
	CategoryFactors         = "second-factors"
	CategoryPasskeys        = "passkeys"
)

// Holder returns the Service as a privacy.Holder (also Exporter, Eraser and Purger)
// for the site's privacy.Registry.
func (s *Service) Holder() privacy.Holder { return holder{s} }

type holder struct{ s *Service }

var (
	_ privacy.Exporter = holder{}
	_ privacy.Eraser   = holder{}
	_ privacy.Purger   = holder{}
)

// holderName names the holder in exports and erasure reports.
const holderName = "accounts"

// Contract is what accounts hold, for the retention Config sets, the account and
// parental-consent purposes with their Allowers, and the policy page's text on
// accounts and on children.
func (h holder) Contract() privacy.Contract {
	cfg := h.s.cfg
	return privacy.Contract{
		Name: holderName,
		Categories: []privacy.Category{
			{Name: CategoryAccounts, Description: "Your account: email address, display name, password hash",
				RetentionOf: fmt.Sprintf("you delete your account (unconfirmed sign-ups: %s)", privacy.HumanDuration(cfg.UnverifiedRetention))},
			{Name: CategorySessions, Description: "Your sign-in sessions: when each began, was last used and last confirmed, and the kind of browser and system it came from (such as \"Firefox on Linux\"); never your IP address",
				Retention: cfg.SessionMax, RetentionOf: fmt.Sprintf("sign-in at most; sooner when unused for %s, or when you sign out or end it", privacy.HumanDuration(cfg.SessionIdle))},
			{Name: CategoryFactors, Description: "Second factors you turn on: an authenticator app's key (encrypted), one-way hashes of your recovery codes, when each was added and last used",
				RetentionOf: "you turn it off or delete your account"},
			{Name: CategoryPasskeys, Description: "Passkeys you add: the name you give each, its credential id and public key from your device (never its private key, which stays on the device), when it was added and last used; while you sign in or add one, for a few minutes, the one-time challenge your device answers",
				RetentionOf: "you remove it or delete your account (a challenge: until answered, at most a few minutes)"},
			{Name: CategoryResources, Description: "Photos, notes and messages you upload", RetentionOf: "you delete them or your account"},
			{Name: CategoryParentalConsent, Description: "A parent's address while we wait for consent",
				Retention: cfg.ParentalRetention, RetentionOf: "the request"},
		},
		Purposes: []privacy.PurposeUse{
			// Anyone can type an address into the sign-up, reset and parental
			// forms: 3 messages a day at most, so no one floods a stranger.
			{Purpose: PurposeAccount, Allower: privacy.AllowFunc(h.s.allowAccount), Limit: 3,
				Description: "to confirm your address when you sign up, and for messages about your account such as password resets"},
			{Purpose: PurposeParentalConsent, Allower: privacy.AllowFunc(h.s.allowParent), Limit: 3,
				Description: fmt.Sprintf("to ask a parent's consent before a child under %d may register", privacy.MinAge)},
		},
		Sections: []privacy.Section{
			{Heading: privacy.SectionCollected, Text: `**Your account.** To give you an account we ask for your email address: one address, one
account. We use it to confirm that the address is yours and for messages about your account,
such as a password reset. A display name is optional. Your password is stored only in a
one-way form (argon2id) that cannot be turned back into the password. As a member you can
upload photos, notes and messages; you decide whether each is private or visible to other
members. We remove location and camera details from photos before we store them.`},
			{Heading: privacy.SectionChildren, Text: fmt.Sprintf(`We do not knowingly collect personal data from children under %[1]d without a parent's
consent. Sign-up asks for a date of birth and keeps only whether you are over %[1]d, never
the date. A child under %[1]d may give a parent's email address, and only that: we ask the
parent for consent, and if no answer comes in time we delete the parent's address.`, privacy.MinAge)},
		},
	}
}

// Export is everything this package holds about one address.
type Export struct {
	Account  *ExportedAccount  `json:"account,omitempty"`
	Pending  []ExportedToken   `json:"pending_email_changes,omitempty"` // changes of another account to this address
	Parental []ExportedRequest `json:"parental_consent_requests,omitempty"`
	Children []string          `json:"children_accounts,omitempty"` // ids of accounts registered with this parent's consent
}

// ExportedAccount is an account with its sessions and resources.
type ExportedAccount struct {
	Account
	Sessions  []Session  `json:"sessions"`
	Resources []Resource `json:"resources"`
	// Factors are the second factors, their kinds and dates: never a secret.
	Factors       []Factor `json:"factors"`
	RecoveryCodes int      `json:"recovery_codes"` // how many are left unused; the codes are kept only hashed
	// Passkeys are their names and dates: never a key.
	Passkeys []Passkey `json:"passkeys"`
}

// ExportedToken is a pending change naming this address.
type ExportedToken struct {
	Kind    string    `json:"kind"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// ExportedRequest is a parental consent request naming this address as a parent's.
type ExportedRequest struct {
	Created  time.Time  `json:"created"`
	Approved *time.Time `json:"approved,omitempty"`
	Used     bool       `json:"used"`
}

// Export returns what is held about subject, or nil when nothing is.
func (h holder) Export(ctx context.Context, subject string) (any, error) {
	st := h.s.store
	var out Export
	a, err := st.AccountByEmail(ctx, subject)
	switch {
	case err == nil:
		ea := &ExportedAccount{Account: a, Sessions: []Session{}, Resources: []Resource{}}
		if ea.Sessions, err = st.Sessions(ctx, a.ID); err != nil {
			return nil, err
		}
		if ea.Factors, err = st.Factors(ctx, a.ID); err != nil {
			return nil, err
		}
		for i := range ea.Factors {
			ea.Factors[i].Secret = nil
		}
		if ea.RecoveryCodes, err = st.RecoveryCodes(ctx, a.ID); err != nil {
			return nil, err
		}
		if ea.Passkeys, err = st.Passkeys(ctx, a.ID); err != nil {
			return nil, err
		}
		for i := range ea.Passkeys {
			ea.Passkeys[i].CredentialID, ea.Passkeys[i].Data = nil, nil
		}
		list, err := st.Resources(ctx, ResourceFilter{AccountID: a.ID, Limit: -1})
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			full, err := st.Resource(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			ea.Resources = append(ea.Resources, full)
		}
		out.Account = ea
	case !errors.Is(err, privacy.ErrNotFound):
		return nil, err
	}
	ts, err := st.TokensTo(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Kind == TokenEmail {
			out.Pending = append(out.Pending, ExportedToken{Kind: t.Kind, Created: t.Created, Expires: t.Expires})
		}
	}
	ps, err := st.ParentalFor(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		r := ExportedRequest{Created: p.Created, Used: p.AccountID != ""}
		if !p.Approved.IsZero() {
			r.Approved = &p.Approved
		}
		out.Parental = append(out.Parental, r)
	}
	kids, err := st.AccountsByParent(ctx, subject)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		out.Children = append(out.Children, k.ID)
	}
	if out.Account == nil && out.Pending == nil && out.Parental == nil && out.Children == nil {
		return nil, nil
	}
	return out, nil
}

// Erase removes subject's account with its sessions, tokens, roles, resources,
// factors and passkeys; tokens sent to the address; the parental requests naming
// it; and the accounts of children registered with its consent, since that
// consent is what allowed them.
func (h holder) Erase(ctx context.Context, subject string) (privacy.Erasure, error) {
	st := h.s.store
	var res privacy.Erasure
	del := func(id string) error {
		n, err := st.DeleteAccount(ctx, id)
		res.Removed += n
		if errors.Is(err, privacy.ErrNotFound) {
			return nil
		}
		return err
	}
	a, err := st.AccountByEmail(ctx, subject)
	switch {
	case err == nil:
		if err := del(a.ID); err != nil {
			return res, err
		}
	case !errors.Is(err, privacy.ErrNotFound):
		return res, err
	}
	kids, err := st.AccountsByParent(ctx, subject)
	if err != nil {
		return res, err
	}
	for _, k := range kids {
		if err := del(k.ID); err != nil {
			return res, err
		}
	}
	ps, err := st.ParentalFor(ctx, subject)
	if err != nil {
		return res, err
	}
	for _, p := range ps {
		if err := st.DeleteParental(ctx, p.ID); err != nil && !errors.Is(err, privacy.ErrNotFound) {
			return res, err
		}
		res.Removed++
	}
	n, err := st.DeleteTokensTo(ctx, subject)
	res.Removed += n
	return res, err
}

// Purge removes unverified accounts past Config.UnverifiedRetention, parental
// requests unanswered or unused past Config.ParentalRetention, and expired
// sessions, tokens, sign-in challenges and passkey ceremonies.
func (h holder) Purge(ctx context.Context, now time.Time) (int, error) {
	s := h.s
	now = now.UTC()
	total := 0
	for _, f := range []func() (int, error){
		func() (int, error) { return s.store.PurgeUnverified(ctx, now.Add(-s.cfg.UnverifiedRetention)) },
		func() (int, error) { return s.store.PurgeParental(ctx, now.Add(-s.cfg.ParentalRetention)) },
		func() (int, error) { return s.store.PurgeSessions(ctx, now, now.Add(-s.cfg.SessionIdle)) },
		func() (int, error) { return s.store.PurgeTokens(ctx, now) },
		func() (int, error) { return s.store.PurgeChallenges(ctx, now) },
		func() (int, error) { return s.store.PurgeCeremonies(ctx, now) },
	} {
		n, err := f()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// DeleteMe erases the signed-in member's account after checking the password, or
// with password "" a fresh proof in the session (Confirm): through
// Config.Registry when set, so every holder on the site (consents, comments, the
// outbox...) forgets the address, and in this package in any case. Returns
// ErrUnauthorized when no one is signed in, ErrInvalid (field "password") for a
// wrong password, ErrForbidden (field "proof") with neither, and ErrUnavailable
// when no hash slot came free.
func (s *Service) DeleteMe(ctx context.Context, password string) ([]privacy.Erasure, error) {
	a, err := s.me(ctx)
	if err != nil {
		return nil, err
	}
	if password == "" {
		err = s.fresh(ctx)
	} else {
		err = s.checkCurrent(ctx, a, "password", password)
	}
	if err != nil {
		return nil, err
	}
	var out []privacy.Erasure
	if s.cfg.Registry != nil {
		if out, err = s.cfg.Registry.Erase(ctx, a.Email); err != nil {
			return out, err
		}
	}
	// In case the host did not register this package's holder.
	own, err := holder{s}.Erase(ctx, a.Email)
	if err != nil {
		return out, err
	}
	if own.Removed > 0 || s.cfg.Registry == nil {
		own.Holder = holderName
		out = append(out, own)
	}
	return out, nil
}

// ExportMe returns everything held about the signed-in member: from every holder
// through Config.Registry when set, else from this package. It needs a fresh
// proof in the session (Confirm; signing in is one). Returns ErrUnauthorized when
// no one is signed in and ErrForbidden (field "proof") without a fresh proof.
func (s *Service) ExportMe(ctx context.Context) (map[string]any, error) {
	a, err := s.me(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	if s.cfg.Registry != nil {
		out, err := s.cfg.Registry.Export(ctx, a.Email)
		if err != nil {
			return nil, err
		}
		if _, ok := out[holderName]; ok {
			return out, nil
		}
		own, err := holder{s}.Export(ctx, a.Email)
		out[holderName] = own
		return out, err
	}
	own, err := holder{s}.Export(ctx, a.Email)
	return map[string]any{holderName: own}, err
}
