package privacy

import (
	"context"
	"slices"
	"time"
)

// A Role is a staff role. Only staff with the right role reach personal data (P11).
type Role string

// The staff roles. An admin holds every permission; each holder documents which
// of its staff pages needs which role.
const (
	RoleAdmin     Role = "admin"     // grants and revokes roles, reads the access log, registers disclosures
	RoleSupport   Role = "support"   // answers people's questions and handles subject requests
	RoleModerator Role = "moderator" // moderates what visitors publish, and may read their addresses
	RoleEditor    Role = "editor"    // writes and sends mail to those who opted in
)

// Roles returns every staff role.
func Roles() []Role { return []Role{RoleAdmin, RoleSupport, RoleModerator, RoleEditor} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Actor is who is acting on a request: a signed-in member or staff member, or, as
// the zero value, an anonymous visitor. The host's sign-in middleware puts it in
// the request context (WithActor); capability handlers read it with ActorFrom, so
// no capability imports the one that signs people in.
type Actor struct {
	ID    string // account id; "" for an anonymous visitor
	Email string
	Roles []Role
}

// Anonymous reports whether no one is signed in.
func (a Actor) Anonymous() bool { return a.ID == "" }

// Has reports whether a holds role r; admins hold every role.
func (a Actor) Has(r Role) bool {
	return slices.Contains(a.Roles, r) || slices.Contains(a.Roles, RoleAdmin)
}

// Staff reports whether a holds any staff role.
func (a Actor) Staff() bool { return len(a.Roles) > 0 }

type actorKey struct{}

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or the anonymous actor.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Require returns ErrUnauthorized if no one is signed in and ErrForbidden if the
// actor lacks role.
func Require(ctx context.Context, role Role) error {
	a := ActorFrom(ctx)
	if a.Anonymous() {
		return Errorf(ErrUnauthorized, "sign in first")
	}
	if !a.Has(role) {
		return Errorf(ErrForbidden, "this needs the %s role", role)
	}
	return nil
}

// Access records one read of a person's data by staff: who read whose data, what,
// when and why. Access records are append-only.
type Access struct {
	ID      int64     `json:"id" db:"id"`
	ActorID string    `json:"actor_id" db:"actor_id"`
	Actor   string    `json:"actor" db:"actor"` // the staff member's address
	Role    Role      `json:"role" db:"role"`   // the role under which the data was read
	Subject string    `json:"subject" db:"subject"`
	What    string    `json:"what" db:"what"` // e.g. "contact request K7Q4-M2XH"
	Why     string    `json:"why" db:"why"`   // e.g. "answering the request"
	At      time.Time `json:"at" db:"at"`
}

// AccessFilter selects access records. Zero fields match everything.
type AccessFilter struct {
	ActorID string
	Subject string
	Since   time.Time
	Until   time.Time
	Limit   int // default 100
}

// AccessLog stores access records. It has no update or delete: the log cannot be
// edited through the library.
type AccessLog interface {
	// RecordAccess appends a.
	RecordAccess(ctx context.Context, a Access) error
	// ListAccess returns matching records, newest first.
	ListAccess(ctx context.Context, f AccessFilter) ([]Access, error)
}

// Auditor writes an access record for every staff read of personal data. Capabilities
// call Record before returning personal data to a staff member.
type Auditor struct {
	Log AccessLog
	Now func() time.Time
}

// Record writes an access record for the actor in ctx reading subject's data under
// role. It returns ErrUnauthorized or ErrForbidden, writing nothing, when the actor
// may not read it; the caller must then not return the data.
func (au *Auditor) Record(ctx context.Context, role Role, subject, what, why string) error {
	if err := Require(ctx, role); err != nil {
		return err
	}
	a := ActorFrom(ctx)
	now := time.Now
	if au.Now != nil {
		now = au.Now
	}
	return au.Log.RecordAccess(ctx, Access{
		ActorID: a.ID, Actor: a.Email, Role: role, Subject: subject, What: what, Why: why, At: now().UTC(),
	})
}
