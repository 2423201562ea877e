package accounts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// StaffMember is an account holding at least one staff role.
type StaffMember struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	DisplayName string         `json:"display_name"`
	Roles       []privacy.Role `json:"roles"`
	Created     time.Time      `json:"created"` // when the account was made; when a role was granted is not kept
}

// Grant gives role to the account of email. The actor in ctx must be an admin, and
// the account found is recorded in the access log before its roles change. Returns
// ErrUnauthorized or ErrForbidden otherwise, ErrInvalid (field "role", "email" or
// both, joined) for a missing or unknown role or a malformed address, ErrNotFound
// (field "email") when the address has no account, and ErrConflict (field "email")
// when its owner has not confirmed it: a role goes only to an address someone has
// proved they read.
func (s *Service) Grant(ctx context.Context, email string, role privacy.Role) error {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return err
	}
	return s.setRole(ctx, email, role, true, "granting a staff role")
}

// GrantRole is Grant without the admin check, for operators: the site's
// command line ("grant EMAIL ROLE") uses it to appoint the first admin. Never call
// it on behalf of a web request.
func (s *Service) GrantRole(ctx context.Context, email string, role privacy.Role) error {
	return s.setRole(ctx, email, role, true, "")
}

// Revoke takes role from the account of email. The actor in ctx must be an admin,
// and may not take the admin role from themself (another admin must, so a site is
// never left without one by mistake). The account found is recorded in the access
// log as Grant records it. Errors as Grant, plus ErrConflict for that.
func (s *Service) Revoke(ctx context.Context, email string, role privacy.Role) error {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return err
	}
	if addr, err := privacy.NormalizeEmail(email); err == nil && role == privacy.RoleAdmin && privacy.AddressKey(addr) == privacy.AddressKey(privacy.ActorFrom(ctx).Email) {
		return privacy.Errorf(privacy.ErrConflict, "another admin must take the admin role from you")
	}
	return s.setRole(ctx, email, role, false, "revoking a staff role")
}

// RevokeRole is Revoke without the admin check, for operators only.
func (s *Service) RevokeRole(ctx context.Context, email string, role privacy.Role) error {
	return s.setRole(ctx, email, role, false, "")
}

// setRole records, when why is set, the admin's look-up of the account in the access
// log: the answer tells whether the address has an account, and the change is made
// on that person's account. The operator's commands (why "") act without an actor.
func (s *Service) setRole(ctx context.Context, email string, role privacy.Role, granted bool, why string) error {
	var faults []error
	switch {
	case role == "":
		faults = append(faults, privacy.InvalidRule("role", "required", "is required"))
	case !role.Valid():
		faults = append(faults, privacy.Invalid("role", "unknown role %q", role))
	}
	addr, err := privacy.NormalizeEmail(email)
	if err != nil {
		faults = append(faults, err)
	}
	if err := errors.Join(faults...); err != nil {
		return err
	}
	a, err := s.store.AccountByEmail(ctx, addr)
	if errors.Is(err, privacy.ErrNotFound) {
		return &privacy.Error{Kind: privacy.ErrNotFound, Field: "email", Message: "no member has an account with this email address"}
	}
	if err != nil {
		return err
	}
	if why != "" {
		if err := s.cfg.Auditor.Record(ctx, privacy.RoleAdmin, a.Email, "staff roles of the account", why+" ("+string(role)+")"); err != nil {
			return err
		}
	}
	if granted && !a.Verified {
		return &privacy.Error{Kind: privacy.ErrConflict, Field: "email",
			Message: "the member has not confirmed this email address yet: a role can be granted once they have"}
	}
	if granted == slices.Contains(a.Roles, role) {
		return nil
	}
	return s.store.SetRole(ctx, a.ID, role, granted)
}

// Staff lists every account holding a staff role. The actor must be an admin; each
// staff member listed is recorded in the access log before the list is returned.
// Returns ErrUnauthorized or ErrForbidden otherwise.
func (s *Service) Staff(ctx context.Context) ([]StaffMember, error) {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return nil, err
	}
	as, err := s.store.Staff(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StaffMember, 0, len(as))
	for _, a := range as {
		if err := s.cfg.Auditor.Record(ctx, privacy.RoleAdmin, a.Email, "staff roles", "listing staff"); err != nil {
			return nil, err
		}
		out = append(out, StaffMember{ID: a.ID, Email: a.Email, DisplayName: a.DisplayName, Roles: a.Roles, Created: a.Created})
	}
	return out, nil
}
