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
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[p.AccountID]; !ok {
			return notFound("account")
		}
		for id, q := range s.passkeys {
			if id == p.ID || bytes.Equal(q.CredentialID, p.CredentialID) {
				return privacy.Errorf(privacy.ErrConflict, "this passkey is registered already")
			}
		}
		p = clonePasskey(p)
		p.LastUsed = time.Time{}
		set(u, s.passkeys, p.ID, p)
		return nil
	})
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
	return s.write(ctx, func(u *undo) error {
		p, ok := s.passkeys[id]
		if !ok || p.AccountID != accountID {
			return notFound("passkey")
		}
		p.Data, p.LastUsed = slices.Clone(data), at
		set(u, s.passkeys, id, p)
		return nil
	})
}

// DeletePasskey implements accounts.Store.
func (s *Store) DeletePasskey(ctx context.Context, accountID, id string) error {
	return s.write(ctx, func(u *undo) error {
		p, ok := s.passkeys[id]
		if !ok || p.AccountID != accountID {
			return notFound("passkey")
		}
		remove(u, s.passkeys, id)
		return nil
	})
}

// CreateCeremony implements accounts.Store.
func (s *Store) CreateCeremony(ctx context.Context, c accounts.Ceremony) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[c.AccountID]; c.AccountID != "" && !ok {
			return notFound("account")
		}
		c.Data = slices.Clone(c.Data)
		set(u, s.ceremony, c.Hash, c)
		return nil
	})
}

// UseCeremony implements accounts.Store.
func (s *Store) UseCeremony(ctx context.Context, hash string, now time.Time) (accounts.Ceremony, error) {
	var c accounts.Ceremony
	err := s.write(ctx, func(u *undo) error {
		var ok bool
		if c, ok = s.ceremony[hash]; !ok {
			return gone("this passkey request has expired; start again")
		}
		remove(u, s.ceremony, hash)
		if !now.Before(c.Expires) {
			return gone("this passkey request has expired; start again")
		}
		return nil
	})
	if err != nil {
		return accounts.Ceremony{}, err
	}
	return c, nil
}

// PurgeCeremonies implements accounts.Store.
func (s *Store) PurgeCeremonies(ctx context.Context, now time.Time) (int, error) {
	return purge(ctx, s, s.ceremony, func(c accounts.Ceremony) bool { return !now.Before(c.Expires) })
}
