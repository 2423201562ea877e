package accounts

import (
	"context"
	"errors"
	"slices"

	"github.com/consentkit/consentkit/privacy"
)

// StaffMember is an account holding at least one staff role.
type StaffMember struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	DisplayName string         `json:"display_name"`
	Roles       []privacy.Role `json:"roles"`
}

// Grant gives role to the account of email. The actor in ctx must be an admin.
// Returns ErrUnauthorized or ErrForbidden otherwise, ErrInvalid (field "role" or
// "email") for an unknown role or a malformed address, and ErrNotFound when the
// address has no account.
func (s *Service) Grant(ctx context.Context, email string, role privacy.Role) error {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return err
	}
	return s.GrantRole(ctx, email, role)
}

// GrantRole is Grant without the admin check, for operators: the site's
// command line ("grant EMAIL ROLE") uses it to appoint the first admin. Never call
// it on behalf of a web request.
func (s *Service) GrantRole(ctx context.Context, email string, role privacy.Role) error {
	return s.setRole(ctx, email, role, true)
}

// Revoke takes role from the account of email. The actor in ctx must be an admin,
// and may not take the admin role from themself (another admin must, so a site is
// never left without one by mistake). Errors as Grant, plus ErrConflict for that.
func (s *Service) Revoke(ctx context.Context, email string, role privacy.Role) error {
	if err := privacy.Require(ctx, privacy.RoleAdmin); err != nil {
		return err
	}
	if addr, err := privacy.NormalizeEmail(email); err == nil && role == privacy.RoleAdmin && privacy.AddressKey(addr) == privacy.AddressKey(privacy.ActorFrom(ctx).Email) {
		return privacy.Errorf(privacy.ErrConflict, "another admin must take the admin role from you")
	}
	return s.RevokeRole(ctx, email, role)
}

// RevokeRole is Revoke without the admin check, for operators only.
func (s *Service) RevokeRole(ctx context.Context, email string, role privacy.Role) error {
	return s.setRole(ctx, email, role, false)
}

func (s *Service) setRole(ctx context.Context, email string, role privacy.Role, granted bool) error {
	if !role.Valid() {
		return privacy.Invalid("role", "unknown role %q", role)
	}
	addr, err := privacy.NormalizeEmail(email)
	if err != nil {
		return err
	}
	a, err := s.store.AccountByEmail(ctx, addr)
	if errors.Is(err, privacy.ErrNotFound) {
		return privacy.Errorf(privacy.ErrNotFound, "no account has this address")
	}
	if err != nil {
		return err
	}
	if granted == slices.Contains(a.Roles, role) {
		return nil
	}
	return s.store.SetRole(ctx, a.ID, role, granted)
}

// Staff lists every account holding a staff role. The actor must be an admin; each
// staff member listed is recorded in the access log when Config.Auditor is set.
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
		if s.cfg.Auditor != nil {
			if err := s.cfg.Auditor.Record(ctx, privacy.RoleAdmin, a.Email, "staff roles", "listing staff"); err != nil {
				return nil, err
			}
		}
		out = append(out, StaffMember{ID: a.ID, Email: a.Email, DisplayName: a.DisplayName, Roles: a.Roles})
	}
	return out, nil
}
