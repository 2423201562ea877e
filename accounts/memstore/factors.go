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
	return s.write(ctx, func(u *undo) error {
		sess, ok := s.sessions[hash]
		if !ok {
			return notFound("session")
		}
		sess.Proved = at
		set(u, s.sessions, hash, sess)
		return nil
	})
}

// DeleteSessionOf implements accounts.Store.
func (s *Store) DeleteSessionOf(ctx context.Context, accountID, hash string) error {
	return s.write(ctx, func(u *undo) error {
		if sess, ok := s.sessions[hash]; !ok || sess.AccountID != accountID {
			return notFound("session")
		}
		remove(u, s.sessions, hash)
		return nil
	})
}

// DeleteOtherSessions implements accounts.Store.
func (s *Store) DeleteOtherSessions(ctx context.Context, accountID, keep string) (int, error) {
	return purge(ctx, s, s.sessions, func(x accounts.Session) bool { return x.AccountID == accountID && x.Hash != keep })
}

// AddFactor implements accounts.Store.
func (s *Store) AddFactor(ctx context.Context, f accounts.Factor) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[f.AccountID]; !ok {
			return notFound("account")
		}
		if _, ok := s.factors[f.ID]; ok {
			return privacy.Errorf(privacy.ErrConflict, "factor exists")
		}
		for id, g := range s.factors {
			if g.AccountID == f.AccountID && g.Kind == f.Kind && g.Confirmed.IsZero() {
				remove(u, s.factors, id)
			}
		}
		f.Secret = slices.Clone(f.Secret)
		f.Confirmed, f.LastUsed = time.Time{}, time.Time{}
		set(u, s.factors, f.ID, f)
		return nil
	})
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
	return s.write(ctx, func(u *undo) error {
		f, ok := s.factors[id]
		if !ok || f.AccountID != accountID || !f.Confirmed.IsZero() {
			return gone("this enrolment has expired or was already confirmed; start again")
		}
		f.Confirmed, f.LastUsed, f.Step = at, at, step
		set(u, s.factors, id, f)
		codeSet := map[string]bool{}
		for _, c := range codes {
			codeSet[c] = true
		}
		set(u, s.recovery, accountID, codeSet)
		return nil
	})
}

// UseFactor implements accounts.Store.
func (s *Store) UseFactor(ctx context.Context, accountID, id string, step int64, at time.Time) error {
	return s.write(ctx, func(u *undo) error {
		f, ok := s.factors[id]
		if !ok || f.AccountID != accountID || f.Confirmed.IsZero() || step <= f.Step {
			return gone("this code was already used")
		}
		f.Step, f.LastUsed = step, at
		set(u, s.factors, id, f)
		return nil
	})
}

// DeleteFactor implements accounts.Store.
func (s *Store) DeleteFactor(ctx context.Context, accountID, id string) error {
	return s.write(ctx, func(u *undo) error {
		if f, ok := s.factors[id]; !ok || f.AccountID != accountID {
			return notFound("factor")
		}
		remove(u, s.factors, id)
		for _, f := range s.factors {
			if f.AccountID == accountID && !f.Confirmed.IsZero() {
				return nil
			}
		}
		remove(u, s.recovery, accountID)
		return nil
	})
}

// UseRecoveryCode implements accounts.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, accountID, hash string) error {
	return s.write(ctx, func(u *undo) error {
		if !s.recovery[accountID][hash] {
			return gone("this recovery code is wrong or was already used")
		}
		remove(u, s.recovery[accountID], hash)
		return nil
	})
}

// RecoveryCodes implements accounts.Store.
func (s *Store) RecoveryCodes(ctx context.Context, accountID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recovery[accountID]), nil
}

// CreateChallenge implements accounts.Store.
func (s *Store) CreateChallenge(ctx context.Context, c accounts.Challenge) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[c.AccountID]; !ok {
			return notFound("account")
		}
		set(u, s.challenge, c.Hash, c)
		return nil
	})
}

// UseChallenge implements accounts.Store.
func (s *Store) UseChallenge(ctx context.Context, hash, kind string, now time.Time) (accounts.Challenge, error) {
	var c accounts.Challenge
	err := s.write(ctx, func(u *undo) error {
		var ok bool
		c, ok = s.challenge[hash]
		if !ok || c.Kind != kind {
			return gone("this sign-in has expired; sign in again")
		}
		remove(u, s.challenge, hash)
		if !now.Before(c.Expires) {
			return gone("this sign-in has expired; sign in again")
		}
		return nil
	})
	if err != nil {
		return accounts.Challenge{}, err
	}
	return c, nil
}

// PurgeChallenges implements accounts.Store.
func (s *Store) PurgeChallenges(ctx context.Context, now time.Time) (int, error) {
	return purge(ctx, s, s.challenge, func(c accounts.Challenge) bool { return !now.Before(c.Expires) })
}
