package privacy

import (
	"context"
	"time"
)

// Consent is one consent event: a person agreeing to (Granted) or withdrawing from
// a purpose, under a policy version. Records are append-only: a withdrawal is a new
// record, so the history of every choice is kept.
type Consent struct {
	ID            int64     `json:"id" db:"id"`
	Subject       string    `json:"subject" db:"subject"` // normalised email address
	Purpose       Purpose   `json:"purpose" db:"purpose"`
	Granted       bool      `json:"granted" db:"granted"`
	PolicyVersion string    `json:"policy_version" db:"policy_version"`
	Source        string    `json:"source" db:"source"` // e.g. "newsletter-form", "registration", "unsubscribe-link"
	At            time.Time `json:"at" db:"at"`
}

// ConsentStore keeps consent records.
type ConsentStore interface {
	// AppendConsent stores c and sets its ID. When ctx carries a transaction of the
	// same database (see a capability's mysqlstore), the record joins it.
	AppendConsent(ctx context.Context, c *Consent) error
	// ConsentHistory returns subject's records, oldest first.
	ConsentHistory(ctx context.Context, subject string) ([]Consent, error)
	// ConsentsAfter returns up to limit records with ID > after, oldest first, so a
	// capability can act on consents recorded elsewhere (an opt-in at registration).
	ConsentsAfter(ctx context.Context, after int64, limit int) ([]Consent, error)
	// EraseConsents removes subject's records and returns how many.
	EraseConsents(ctx context.Context, subject string) (int, error)
}

// Consents records consent under the current policy version.
type Consents struct {
	Store  ConsentStore
	Policy *Policy
	Now    func() time.Time
}

// Record appends a consent record for subject, stamped with the current policy
// version and time. Returns ErrInvalid for an unknown purpose or a bad address.
func (c *Consents) Record(ctx context.Context, subject string, p Purpose, granted bool, source string) (Consent, error) {
	addr, err := NormalizeEmail(subject)
	if err != nil {
		return Consent{}, err
	}
	if !p.Valid() {
		return Consent{}, Invalid("purpose", "unknown purpose %q", p)
	}
	if err := CheckText("source", source, 64, true); err != nil {
		return Consent{}, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	rec := Consent{Subject: addr, Purpose: p, Granted: granted, PolicyVersion: c.Policy.Version, Source: source, At: now().UTC()}
	if err := c.Store.AppendConsent(ctx, &rec); err != nil {
		return Consent{}, err
	}
	return rec, nil
}

// Current reports whether subject's latest record for p grants it.
func (c *Consents) Current(ctx context.Context, subject string, p Purpose) (bool, error) {
	hist, err := c.Store.ConsentHistory(ctx, subject)
	if err != nil {
		return false, err
	}
	granted := false
	for _, r := range hist {
		if r.Purpose == p {
			granted = r.Granted
		}
	}
	return granted, nil
}
