package memstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

func clonePasskey(p accounts.Passkey) accounts.Passkey {
	p.CredentialID, p.Data = slices.Clone(p.CredentialID), slices.Clone(p.Data)
	return p
}

// AddPasskey implements accounts.Store.
func (s *Store) AddPasskey(ctx context.Context, p accounts.Passkey) error {
	s.mu.Lock()
	if _, ok := s.accounts[p.AccountID]; !ok {
		s.mu.Unlock()
		return notFound("account")
	}
	for id, q := range s.passkeys {
		if id == p.ID || bytes.Equal(q.CredentialID, p.CredentialID) {
			s.mu.Unlock()
			return privacy.Errorf(privacy.ErrConflict, "this passkey is registered already")
		}
	}
	p = clonePasskey(p)
	p.LastUsed = time.Time{}
	s.passkeys[p.ID] = p
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.passkeys, p.ID)
		s.mu.Unlock()
	})
	return nil
}

// Passkeys implements accounts.Store.
func (s *Store) Passkeys(ctx context.Context, accountID string) ([]accounts.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []accounts.Passkey{}
	for _, p := range s.passkeys {
		if p.AccountID == accountID {
			out = append(out, clonePasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b accounts.Passkey) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// PasskeyByCredential implements accounts.Store.
func (s *Store) PasskeyByCredential(ctx context.Context, credentialID []byte) (accounts.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.passkeys {
		if bytes.Equal(p.CredentialID, credentialID) {
			return clonePasskey(p), nil
		}
	}
	return accounts.Passkey{}, notFound("passkey")
}

// UsePasskey implements accounts.Store.
func (s *Store) UsePasskey(ctx context.Context, accountID, id string, data []byte, at time.Time) error {
	s.mu.Lock()
	old, ok := s.passkeys[id]
	if !ok || old.AccountID != accountID {
		s.mu.Unlock()
		return notFound("passkey")
	}
	p := old
	p.Data, p.LastUsed = slices.Clone(data), at
	s.passkeys[id] = p
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		if _, ok := s.passkeys[id]; ok {
			s.passkeys[id] = old
		}
		s.mu.Unlock()
	})
	return nil
}

// DeletePasskey implements accounts.Store.
func (s *Store) DeletePasskey(ctx context.Context, accountID, id string) error {
	s.mu.Lock()
	p, ok := s.passkeys[id]
	if !ok || p.AccountID != accountID {
		s.mu.Unlock()
		return notFound("passkey")
	}
	delete(s.passkeys, id)
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		s.passkeys[id] = p
		s.mu.Unlock()
	})
	return nil
}

// CreateCeremony implements accounts.Store.
func (s *Store) CreateCeremony(ctx context.Context, c accounts.Ceremony) error {
	s.mu.Lock()
	if _, ok := s.accounts[c.AccountID]; c.AccountID != "" && !ok {
		s.mu.Unlock()
		return notFound("account")
	}
	c.Data = slices.Clone(c.Data)
	s.ceremony[c.Hash] = c
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.ceremony, c.Hash)
		s.mu.Unlock()
	})
	return nil
}

// UseCeremony implements accounts.Store.
func (s *Store) UseCeremony(ctx context.Context, hash string, now time.Time) (accounts.Ceremony, error) {
	s.mu.Lock()
	c, ok := s.ceremony[hash]
	if ok {
		delete(s.ceremony, hash)
	}
	s.mu.Unlock()
	if !ok {
		return accounts.Ceremony{}, gone("this passkey request has expired; start again")
	}
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		s.ceremony[hash] = c
		s.mu.Unlock()
	})
	if !now.Before(c.Expires) {
		return accounts.Ceremony{}, gone("this passkey request has expired; start again")
	}
	return c, nil
}

// PurgeCeremonies implements accounts.Store.
func (s *Store) PurgeCeremonies(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, c := range s.ceremony {
		if !now.Before(c.Expires) {
			delete(s.ceremony, h)
			n++
		}
	}
	return n, nil
}
