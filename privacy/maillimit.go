package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"time"
)

// LimitedRecipient is the Refusals reason under which Send counts a message it
// dropped because its recipient had already had MailLimits.PerPurpose messages of
// its purpose in the window.
const LimitedRecipient = "limit"

// MailLimits bounds the mail anyone can make the site send to one address, so that a
// form that mails whatever address it is given (sign-up, password reset, a parent's
// consent, a data request, an address change) cannot be used to flood a stranger's
// inbox, however many client addresses the requests come from and however many
// processes serve them.
//
// For each limited purpose, at most its limit of messages is queued to one
// recipient in one Window, which starts with the first of them. A purpose's limit is
// the one its holder declares in its Contract (PurposeUse.Limit), unless PerPurpose
// sets them all. A message over the
// limit is not queued, and Send answers as if it were, so the visitor who caused it
// learns nothing about the address; it is counted in Refusals under
// LimitedRecipient and logged without the address. A message of a limited purpose
// to a suppressed address is dropped the same way (counted as RefusedSuppressed). Mail to operator addresses is
// never limited, and neither are the purposes a person opted in to and that stop
// when they leave (newsletter, promotions, comment follow-up, whose confirmations
// are sent once by their capability) or support answers, which staff write.
//
// The counters are kept in the outbox store (CountMail), shared by every process on
// it, as keyed hashes of purpose and address that are removed by the kernel holder's
// Purge once their window ended. The count joins the transaction ctx carries, as the
// message does.
type MailLimits struct {
	// PerPurpose, when not nil, replaces the limits the holders declare
	// (PurposeUse.Limit): the most messages a purpose may queue to one address in
	// one Window; purposes not in it are not limited.
	PerPurpose map[Purpose]int
	// Window is how long a counter runs (default 24h).
	Window time.Duration
	// Key keys the hash under which a counter is stored: at least 32 random bytes,
	// the same in every process. Without it the counter is stored under an unkeyed
	// SHA-256, as the suppression list is.
	Key []byte
	// Now is the clock windows are measured by (default time.Now).
	Now func() time.Time
}

// SetLimits replaces the mailer's limits (by default the holders' per 24 hours,
// unkeyed). A nil PerPurpose keeps the holders' limits; an empty one limits nothing.
func (m *Mailer) SetLimits(l MailLimits) {
	l.PerPurpose = maps.Clone(l.PerPurpose)
	if l.Window <= 0 {
		l.Window = 24 * time.Hour
	}
	m.mu.Lock()
	m.limits = l
	m.mu.Unlock()
}

// MailLimitKey is the form in which the counter of purpose p's mail to addr is
// stored: HMAC-SHA-256 under key, or SHA-256 without one, in hex, of p and
// AddressKey(addr), so every spelling of an address shares one count.
func MailLimitKey(key []byte, p Purpose, addr string) string {
	var sum []byte
	msg := []byte(string(p) + "\x00" + AddressKey(addr))
	if len(key) > 0 {
		h := hmac.New(sha256.New, key)
		h.Write(msg)
		sum = h.Sum(nil)
	} else {
		s := sha256.Sum256(append([]byte("consentkit mail limit\x00"), msg...))
		sum = s[:]
	}
	return hex.EncodeToString(sum)
}

// limited reports whether p is a limited purpose: one a visitor can make the site
// send to any address, so Send answers alike whatever becomes of the message.
func (m *Mailer) limited(p Purpose) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.limitOf(p)
	return ok
}

// limitOf returns purpose p's limit and whether it has one; m.mu is held.
func (m *Mailer) limitOf(p Purpose) (int, bool) {
	if m.limits.PerPurpose != nil {
		n, ok := m.limits.PerPurpose[p]
		return n, ok
	}
	n, ok := m.declared[p]
	return n, ok
}

// overLimit counts msg against its recipient's limit and reports whether it is over.
func (m *Mailer) overLimit(ctx context.Context, msg *Message) (bool, error) {
	m.mu.RLock()
	l := m.limits
	limit, ok := m.limitOf(msg.Purpose)
	m.mu.RUnlock()
	if !ok || m.policy.IsOperatorAddress(msg.To.Email) {
		return false, nil
	}
	n, err := m.store.CountMail(ctx, MailLimitKey(l.Key, msg.Purpose, msg.To.Email), nowOr(l.Now), l.Window)
	if err != nil {
		return false, err
	}
	return n > limit, nil
}
