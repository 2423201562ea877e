package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Store is every store the privacy kernel needs, as memstore and mysqlstore provide.
type Store interface {
	UnitOfWork
	OutboxStore
	ConsentStore
	AccessLog
	RightsStore
	DisclosureStore
	// Pseudonymize replaces the address subject by pseudonym in the access log and
	// the disclosure register, which are kept for accountability after an erasure,
	// wherever it names the person read about and wherever it names the staff member
	// who read, and returns how many records it changed.
	Pseudonymize(ctx context.Context, subject, pseudonym string) (int, error)
}

// KernelHolder is the privacy kernel's own holder of personal data: consent records
// and the mail outbox, and the subject references in the access log and the
// disclosure register.
type KernelHolder struct {
	Store Store
	// Key keys the pseudonym that replaces an erased address in the access log and
	// disclosure register, so that records about one person stay linked to each
	// other without naming them.
	Key []byte
	// MailRetention is how long sent and failed messages are kept (default 30 days).
	MailRetention time.Duration
}

// The categories the kernel holder keeps.
const (
	CategoryConsents = "consents" // consent records
	CategoryMailLog  = "mail-log" // queued, sent and failed mail
)

// Contract implements Holder: consent records, kept until erasure, and the mail
// log, kept for MailRetention.
func (k *KernelHolder) Contract() Contract {
	return Contract{
		Name: "privacy",
		Categories: []Category{
			{Name: CategoryConsents, Description: "The record of what you agreed to and when", RetentionOf: "you ask us to erase your data"},
			{Name: CategoryMailLog, Description: "Messages we sent you", Retention: k.mailRetention(), RetentionOf: "sending"},
		},
	}
}

func (k *KernelHolder) mailRetention() time.Duration {
	if k.MailRetention > 0 {
		return k.MailRetention
	}
	return 30 * 24 * time.Hour
}

// Export implements Exporter: the person's consent history and the record of staff
// reads of their data.
func (k *KernelHolder) Export(ctx context.Context, subject string) (any, error) {
	consents, err := k.Store.ConsentHistory(ctx, subject)
	if err != nil {
		return nil, err
	}
	access, err := k.Store.ListAccess(ctx, AccessFilter{Subject: subject, Limit: 10000})
	if err != nil {
		return nil, err
	}
	if len(consents) == 0 && len(access) == 0 {
		return nil, nil
	}
	return map[string]any{"consents": consents, "staff_reads": access}, nil
}

// Erase implements Eraser: consent records and queued or logged mail are removed; the
// access log and disclosure register keep their entries with the address replaced
// by a pseudonym, both where the person was read about and where they, as staff,
// did the reading.
func (k *KernelHolder) Erase(ctx context.Context, subject string) (Erasure, error) {
	var e Erasure
	n, err := k.Store.EraseConsents(ctx, subject)
	if err != nil {
		return e, err
	}
	e.Removed += n
	if n, err = k.Store.EraseOutbox(ctx, subject); err != nil {
		return e, err
	}
	e.Removed += n
	if n, err = k.Store.Pseudonymize(ctx, subject, k.Pseudonym(subject)); err != nil {
		return e, err
	}
	if n > 0 {
		e.Retained = append(e.Retained, "staff access and disclosure records, with your address replaced by a pseudonym: the law requires us to account for them")
	}
	return e, nil
}

// Pseudonym returns the stand-in for an erased address.
func (k *KernelHolder) Pseudonym(subject string) string {
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte(subject))
	return "erased-" + hex.EncodeToString(m.Sum(nil)[:12])
}

// Purge implements Purger: sent and failed mail older than MailRetention is removed,
// and so are the mail limit counters whose window has ended.
func (k *KernelHolder) Purge(ctx context.Context, now time.Time) (int, error) {
	n, err := k.Store.PurgeOutbox(ctx, now.Add(-k.mailRetention()))
	if err != nil {
		return n, err
	}
	c, err := k.Store.PurgeMailCounts(ctx, now)
	return n + c, err
}
