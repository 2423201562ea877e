package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Basis is the ground on which one person's data may be disclosed (P10).
type Basis string

// The only grounds the policy allows.
const (
	BasisLaw          Basis = "law"           // to comply with applicable law
	BasisLegalProcess Basis = "legal-process" // a valid subpoena, warrant or court order
	BasisSafety       Basis = "safety"        // to protect the personal safety of users or the public
)

// Valid reports whether b is one of the allowed grounds.
func (b Basis) Valid() bool {
	return slices.Contains([]Basis{BasisLaw, BasisLegalProcess, BasisSafety}, b)
}

// Disclosure is one recorded disclosure of a person's data to someone outside the site.
type Disclosure struct {
	ID        int64     `json:"id" db:"id"`
	Subject   string    `json:"subject" db:"subject"`
	Basis     Basis     `json:"basis" db:"basis"`
	Reference string    `json:"reference" db:"reference"` // e.g. the court order's number
	Requester string    `json:"requester" db:"requester"` // who asked: an authority, a court
	Note      string    `json:"note,omitempty" db:"note"`
	ActorID   string    `json:"actor_id" db:"actor_id"` // the admin who disclosed
	Actor     string    `json:"actor" db:"actor"`
	Holders   int       `json:"holders" db:"holders"` // holders whose data was in the export
	At        time.Time `json:"at" db:"at"`
}

// DisclosureStore keeps the disclosure register. It has no update or delete.
type DisclosureStore interface {
	// AppendDisclosure stores d and sets its ID.
	AppendDisclosure(ctx context.Context, d *Disclosure) error
	// ListDisclosures returns disclosures, newest first; subject "" lists all.
	ListDisclosures(ctx context.Context, subject string, limit int) ([]Disclosure, error)
}

// Disclosures is the disclosure register: the only way the library hands one
// person's data to an outsider, and never without a basis, a reference and a requester.
// Store, Registry and Auditor are required: without an Auditor, Disclose and List
// fail, so no admin reads anyone's data off the record (P11).
type Disclosures struct {
	Store    DisclosureStore
	Registry *Registry
	Auditor  *Auditor
	Now      func() time.Time
}

// Check returns an error naming what ds lacks; a handler that serves ds calls it
// when it is built, so that a missing Auditor stops the site from starting rather
// than the first disclosure.
func (ds *Disclosures) Check() error {
	switch {
	case ds == nil || ds.Store == nil || ds.Registry == nil:
		return errors.New("privacy: Disclosures needs a Store and a Registry")
	case ds.Auditor == nil || ds.Auditor.Log == nil:
		return errors.New("privacy: Disclosures needs an Auditor with a Log: every disclosure is an admin's read of a person's data")
	}
	return nil
}

// Disclose records the disclosure of subject's data and returns the export to hand
// over. The actor in ctx must be an admin. Returns ErrUnauthorized or ErrForbidden for
// anyone else, and ErrInvalid (naming the field) without a valid basis, a reference or
// a requester; nothing is exported or recorded then. Without an Auditor (see Check)
// it returns an internal error and exports nothing.
func (ds *Disclosures) Disclose(ctx context.Context, d Disclosure) (json.RawMessage, error) {
	if err := Require(ctx, RoleAdmin); err != nil {
		return nil, err
	}
	if err := ds.Check(); err != nil {
		return nil, err
	}
	addr, err := NormalizeEmail(d.Subject)
	if err != nil {
		return nil, Invalid("subject", "the data subject's email address is required")
	}
	d.Subject = addr
	if !d.Basis.Valid() {
		return nil, Invalid("basis", "choose law, legal-process or safety")
	}
	if err := CheckText("reference", d.Reference, 200, true); err != nil {
		return nil, err
	}
	if err := CheckText("requester", d.Requester, 200, true); err != nil {
		return nil, err
	}
	if err := CheckMultiline("note", d.Note, 2000, false); err != nil {
		return nil, err
	}
	data, err := ds.Registry.Export(ctx, addr)
	if err != nil {
		return nil, err
	}
	a := ActorFrom(ctx)
	d.ActorID, d.Actor, d.At, d.ID = a.ID, a.Email, nowOr(ds.Now), 0
	for _, v := range data {
		if v != nil {
			d.Holders++
		}
	}
	if err := ds.Store.AppendDisclosure(ctx, &d); err != nil {
		return nil, err
	}
	if err := ds.Auditor.Record(ctx, RoleAdmin, addr, "export for disclosure", string(d.Basis)+": "+d.Reference); err != nil {
		return nil, err
	}
	return json.MarshalIndent(data, "", "  ")
}

// List returns the register, newest first (admins only). The register names people,
// so List records one read of "disclosure register" for every address it returns
// before returning any. Returns ErrUnauthorized or ErrForbidden for anyone but an
// admin, and an internal error without an Auditor (see Check).
func (ds *Disclosures) List(ctx context.Context, subject string, limit int) ([]Disclosure, error) {
	if err := Require(ctx, RoleAdmin); err != nil {
		return nil, err
	}
	if err := ds.Check(); err != nil {
		return nil, err
	}
	list, err := ds.Store.ListDisclosures(ctx, subject, limit)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range list {
		if d.Subject == "" || seen[d.Subject] {
			continue
		}
		seen[d.Subject] = true
		if err := ds.Auditor.Record(ctx, RoleAdmin, d.Subject, "disclosure register", "admin review"); err != nil {
			return nil, err
		}
	}
	return list, nil
}
