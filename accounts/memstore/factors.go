package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// SetSessionProved implements accounts.Store.
func (s *Store) SetSessionProved(ctx context.Context, hash string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return notFound("session")
	}
	sess.Proved = at
	s.sessions[hash] = sess
	return nil
}

// DeleteSessionOf implements accounts.Store.
func (s *Store) DeleteSessionOf(ctx context.Context, accountID, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[hash]; !ok || sess.AccountID != accountID {
		return notFound("session")
	}
	delete(s.sessions, hash)
	return nil
}

// DeleteOtherSessions implements accounts.Store.
func (s *Store) DeleteOtherSessions(ctx context.Context, accountID, keep string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, sess := range s.sessions {
		if sess.AccountID == accountID && h != keep {
			delete(s.sessions, h)
			n++
		}
	}
	return n, nil
}

// AddFactor implements accounts.Store.
func (s *Store) AddFactor(ctx context.Context, f accounts.Factor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[f.AccountID]; !ok {
		return notFound("account")
	}
	if _, ok := s.factors[f.ID]; ok {
		return privacy.Errorf(privacy.ErrConflict, "factor exists")
	}
	for id, g := range s.factors {
		if g.AccountID == f.AccountID && g.Kind == f.Kind && g.Confirmed.IsZero() {
			delete(s.factors, id)
		}
	}
	f.Secret = slices.Clone(f.Secret)
	f.Confirmed, f.LastUsed = time.Time{}, time.Time{}
	s.factors[f.ID] = f
	return nil
}

// Factors implements accounts.Store.
func (s *Store) Factors(ctx context.Context, accountID string) ([]accounts.Factor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []accounts.Factor{}
	for _, f := range s.factors {
		if f.AccountID == accountID {
			f.Secret = slices.Clone(f.Secret)
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b accounts.Factor) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

func gone(msg string) error { return privacy.Errorf(privacy.ErrGone, "%s", msg) }

// ConfirmFactor implements accounts.Store.
func (s *Store) ConfirmFactor(ctx context.Context, accountID, id string, step int64, at time.Time, codes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.factors[id]
	if !ok || f.AccountID != accountID || !f.Confirmed.IsZero() {
		return gone("this enrolment has expired or was already confirmed; start again")
	}
	f.Confirmed, f.LastUsed, f.Step = at, at, step
	s.factors[id] = f
	set := map[string]bool{}
	for _, c := range codes {
		set[c] = true
	}
	s.recovery[accountID] = set
	return nil
}

// UseFactor implements accounts.Store.
func (s *Store) UseFactor(ctx context.Context, accountID, id string, step int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.factors[id]
	if !ok || f.AccountID != accountID || f.Confirmed.IsZero() || step <= f.Step {
		return gone("this code was already used")
	}
	f.Step, f.LastUsed = step, at
	s.factors[id] = f
	return nil
}

// DeleteFactor implements accounts.Store.
func (s *Store) DeleteFactor(ctx context.Context, accountID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.factors[id]; !ok || f.AccountID != accountID {
		return notFound("factor")
	}
	delete(s.factors, id)
	for _, f := range s.factors {
		if f.AccountID == accountID && !f.Confirmed.IsZero() {
			return nil
		}
	}
	delete(s.recovery, accountID)
	return nil
}

// UseRecoveryCode implements accounts.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, accountID, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recovery[accountID][hash] {
		return gone("this recovery code is wrong or was already used")
	}
	delete(s.recovery[accountID], hash)
	return nil
}

// RecoveryCodes implements accounts.Store.
func (s *Store) RecoveryCodes(ctx context.Context, accountID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recovery[accountID]), nil
}

// CreateChallenge implements accounts.Store.
func (s *Store) CreateChallenge(ctx context.Context, c accounts.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[c.AccountID]; !ok {
		return notFound("account")
	}
	s.challenge[c.Hash] = c
	return nil
}

// UseChallenge implements accounts.Store.
func (s *Store) UseChallenge(ctx context.Context, hash, kind string, now time.Time) (accounts.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.challenge[hash]
	if !ok || c.Kind != kind {
		return accounts.Challenge{}, gone("this sign-in has expired; sign in again")
	}
	delete(s.challenge, hash)
	if !now.Before(c.Expires) {
		return accounts.Challenge{}, gone("this sign-in has expired; sign in again")
	}
	return c, nil
}

// PurgeChallenges implements accounts.Store.
func (s *Store) PurgeChallenges(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, c := range s.challenge {
		if !now.Before(c.Expires) {
			delete(s.challenge, h)
			n++
		}
	}
	return n, nil
}
