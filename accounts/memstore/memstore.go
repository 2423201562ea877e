package memstore

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// Store implements accounts.Store in memory. It is safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	accounts  map[string]*accounts.Account // by id
	byEmail   map[string]string            // privacy.AddressKey(email) -> id
	tokens    map[string]accounts.Token
	sessions  map[string]accounts.Session
	resources map[string]accounts.Resource
	parental  map[string]accounts.ParentalRequest
	factors   map[string]accounts.Factor    // by id
	recovery  map[string]map[string]bool    // account id -> code hashes
	challenge map[string]accounts.Challenge // by hash
	passkeys  map[string]accounts.Passkey   // by id
	ceremony  map[string]accounts.Ceremony  // by hash
}

var _ accounts.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{accounts: map[string]*accounts.Account{}, byEmail: map[string]string{}, tokens: map[string]accounts.Token{},
		sessions: map[string]accounts.Session{}, resources: map[string]accounts.Resource{}, parental: map[string]accounts.ParentalRequest{},
		factors: map[string]accounts.Factor{}, recovery: map[string]map[string]bool{}, challenge: map[string]accounts.Challenge{},
		passkeys: map[string]accounts.Passkey{}, ceremony: map[string]accounts.Ceremony{}}
}

func sameAddress(a, b string) bool { return privacy.AddressKey(a) == privacy.AddressKey(b) }

func notFound(what string) error { return privacy.Errorf(privacy.ErrNotFound, "no such %s", what) }

func clone(a *accounts.Account) accounts.Account {
	c := *a
	c.Roles = slices.Clone(a.Roles)
	c.ParentalRequest = ""
	return c
}

// Do implements privacy.UnitOfWork.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return privacy.MemoryWork(ctx, fn)
}

// Database implements privacy.UnitOfWork.
func (s *Store) Database() string { return privacy.MemoryDatabase }

// undo is a write's journal (privacy.Undo), kept with s.mu held.
type undo = privacy.Undo

// write runs fn under s.mu, the undo it records taken back with ctx's failed
// unit of work.
func (s *Store) write(ctx context.Context, fn func(u *undo) error) error {
	return privacy.LockedWrite(ctx, &s.mu, fn)
}

// set stores v as m[k], journaling in u how to put back what m held there.
func set[K comparable, V any](u *undo, m map[K]V, k K, v V) {
	prev, had := m[k]
	if u != nil {
		*u = append(*u, func() {
			if had {
				m[k] = prev
			} else {
				delete(m, k)
			}
		})
	}
	m[k] = v
}

// purge is removeWhere as a write of its own in ctx.
func purge[K comparable, V any](ctx context.Context, s *Store, m map[K]V, match func(V) bool) (int, error) {
	n := 0
	err := s.write(ctx, func(u *undo) error {
		n = removeWhere(u, m, match)
		return nil
	})
	return n, err
}

// removeWhere deletes every value of m that match, journaled in u, and returns
// how many.
func removeWhere[K comparable, V any](u *undo, m map[K]V, match func(V) bool) int {
	n := 0
	for k, v := range m {
		if match(v) {
			remove(u, m, k)
			n++
		}
	}
	return n
}

// remove deletes m[k], journaling in u how to put it back.
func remove[K comparable, V any](u *undo, m map[K]V, k K) {
	prev, had := m[k]
	if !had {
		return
	}
	if u != nil {
		*u = append(*u, func() { m[k] = prev })
	}
	delete(m, k)
}

// CreateAccount implements accounts.Store.
func (s *Store) CreateAccount(ctx context.Context, a *accounts.Account, verify *accounts.Token) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.byEmail[privacy.AddressKey(a.Email)]; ok {
			return privacy.Errorf(privacy.ErrConflict, "an account has this address")
		}
		if _, ok := s.accounts[a.ID]; ok {
			return privacy.Errorf(privacy.ErrConflict, "account id taken")
		}
		if a.ParentalRequest != "" {
			req, ok := s.parental[a.ParentalRequest]
			if !ok || req.Approved.IsZero() || req.AccountID != "" {
				return privacy.Errorf(privacy.ErrGone, "the parental consent request is not approved or was used")
			}
			req.AccountID = a.ID
			set(u, s.parental, req.ID, req)
		}
		c := clone(a)
		set(u, s.accounts, a.ID, &c)
		set(u, s.byEmail, privacy.AddressKey(a.Email), a.ID)
		if verify != nil {
			set(u, s.tokens, verify.Hash, *verify)
		}
		return nil
	})
}

// AccountByID implements accounts.Store.
func (s *Store) AccountByID(ctx context.Context, id string) (accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return accounts.Account{}, notFound("account")
	}
	return clone(a), nil
}

// AccountByEmail implements accounts.Store.
func (s *Store) AccountByEmail(ctx context.Context, email string) (accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byEmail[privacy.AddressKey(email)]
	if !ok {
		return accounts.Account{}, notFound("account")
	}
	return clone(s.accounts[id]), nil
}

// update changes a copy of the account with f, under the lock, and stores the
// copy, journaled in the undo: a failed unit of work puts the old one back.
func (s *Store) update(ctx context.Context, id string, f func(u *undo, a *accounts.Account) error) error {
	return s.write(ctx, func(u *undo) error {
		a, ok := s.accounts[id]
		if !ok {
			return notFound("account")
		}
		c := *a
		c.Roles = slices.Clone(a.Roles)
		if err := f(u, &c); err != nil {
			return err
		}
		set(u, s.accounts, id, &c)
		return nil
	})
}

// SetVerified implements accounts.Store.
func (s *Store) SetVerified(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, id, func(_ *undo, a *accounts.Account) error { a.Verified = true; return nil })
}

// SetPassword implements accounts.Store.
func (s *Store) SetPassword(ctx context.Context, id, hash string, revoke bool) error {
	return s.update(ctx, id, func(u *undo, a *accounts.Account) error {
		a.PasswordHash = hash
		if revoke {
			s.deleteSessions(u, id)
			s.deleteTokens(u, id)
		}
		return nil
	})
}

// SetEmail implements accounts.Store.
func (s *Store) SetEmail(ctx context.Context, id, email string) error {
	return s.update(ctx, id, func(u *undo, a *accounts.Account) error {
		if other, ok := s.byEmail[privacy.AddressKey(email)]; ok && other != id {
			return privacy.Errorf(privacy.ErrConflict, "an account has this address")
		}
		remove(u, s.byEmail, privacy.AddressKey(a.Email))
		a.Email = email
		set(u, s.byEmail, privacy.AddressKey(email), id)
		s.deleteSessions(u, id)
		s.deleteTokens(u, id)
		return nil
	})
}

// DeleteAccount implements accounts.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) (int, error) {
	var n int
	err := s.write(ctx, func(u *undo) (err error) {
		n, err = s.deleteAccount(u, id)
		return err
	})
	return n, err
}

// deleteAccount removes the account and everything of it, journaled in u, and
// returns how many records went.
func (s *Store) deleteAccount(u *undo, id string) (int, error) {
	a, ok := s.accounts[id]
	if !ok {
		return 0, notFound("account")
	}
	n := 1 + s.deleteSessions(u, id) + s.deleteTokens(u, id)
	remove(u, s.accounts, id)
	remove(u, s.byEmail, privacy.AddressKey(a.Email))
	n += removeWhere(u, s.resources, func(r accounts.Resource) bool { return r.AccountID == id })
	n += removeWhere(u, s.parental, func(p accounts.ParentalRequest) bool { return p.AccountID == id })
	n += removeWhere(u, s.factors, func(f accounts.Factor) bool { return f.AccountID == id })
	n += len(s.recovery[id])
	remove(u, s.recovery, id)
	n += removeWhere(u, s.challenge, func(c accounts.Challenge) bool { return c.AccountID == id })
	n += removeWhere(u, s.passkeys, func(p accounts.Passkey) bool { return p.AccountID == id })
	n += removeWhere(u, s.ceremony, func(c accounts.Ceremony) bool { return c.AccountID == id })
	return n, nil
}

// AccountsByParent implements accounts.Store.
func (s *Store) AccountsByParent(ctx context.Context, parent string) ([]accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.Account
	for _, a := range s.accounts {
		if sameAddress(a.ParentEmail, parent) {
			out = append(out, clone(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PurgeUnverified implements accounts.Store.
func (s *Store) PurgeUnverified(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(u *undo) error {
		for id, a := range s.accounts {
			if !a.Verified && a.Created.Before(t) {
				_, _ = s.deleteAccount(u, id)
				n++
			}
		}
		return nil
	})
	return n, err
}

// SetRole implements accounts.Store.
func (s *Store) SetRole(ctx context.Context, accountID string, role privacy.Role, granted bool) error {
	return s.update(ctx, accountID, func(_ *undo, a *accounts.Account) error {
		a.Roles = slices.DeleteFunc(a.Roles, func(r privacy.Role) bool { return r == role })
		if granted {
			a.Roles = append(a.Roles, role)
			slices.Sort(a.Roles)
		}
		return nil
	})
}

// Staff implements accounts.Store.
func (s *Store) Staff(ctx context.Context) ([]accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.Account
	for _, a := range s.accounts {
		if len(a.Roles) > 0 {
			out = append(out, clone(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

// CreateToken implements accounts.Store.
func (s *Store) CreateToken(ctx context.Context, t accounts.Token) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[t.AccountID]; !ok {
			return notFound("account")
		}
		if _, ok := s.tokens[t.Hash]; ok {
			return privacy.Errorf(privacy.ErrConflict, "token exists")
		}
		removeWhere(u, s.tokens, func(x accounts.Token) bool { return x.AccountID == t.AccountID && x.Kind == t.Kind })
		set(u, s.tokens, t.Hash, t)
		return nil
	})
}

// Token implements accounts.Store.
func (s *Store) Token(ctx context.Context, hash, kind string, now time.Time) (accounts.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok || t.Kind != kind || !now.Before(t.Expires) {
		return accounts.Token{}, privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
	}
	return t, nil
}

// UseToken implements accounts.Store.
func (s *Store) UseToken(ctx context.Context, hash, kind string, now time.Time) (accounts.Token, error) {
	var t accounts.Token
	err := s.write(ctx, func(u *undo) error {
		var ok bool
		t, ok = s.tokens[hash]
		if !ok || t.Kind != kind {
			return privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
		}
		remove(u, s.tokens, hash)
		if !now.Before(t.Expires) {
			return privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
		}
		return nil
	})
	if err != nil {
		return accounts.Token{}, err
	}
	return t, nil
}

// TokenFor implements accounts.Store.
func (s *Store) TokenFor(ctx context.Context, kind, email string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Kind == kind && sameAddress(t.Email, email) && now.Before(t.Expires) {
			return true, nil
		}
	}
	return false, nil
}

// TokensTo implements accounts.Store.
func (s *Store) TokensTo(ctx context.Context, email string) ([]accounts.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.Token
	for _, t := range s.tokens {
		if sameAddress(t.Email, email) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// DeleteTokensTo implements accounts.Store.
func (s *Store) DeleteTokensTo(ctx context.Context, email string) (int, error) {
	return purge(ctx, s, s.tokens, func(t accounts.Token) bool { return sameAddress(t.Email, email) })
}

// deleteTokens removes every mailed token of the account, journaled in u, and
// returns how many.
func (s *Store) deleteTokens(u *undo, accountID string) int {
	return removeWhere(u, s.tokens, func(t accounts.Token) bool { return t.AccountID == accountID })
}

// PurgeTokens implements accounts.Store.
func (s *Store) PurgeTokens(ctx context.Context, now time.Time) (int, error) {
	return purge(ctx, s, s.tokens, func(t accounts.Token) bool { return !now.Before(t.Expires) })
}

// CreateSession implements accounts.Store.
func (s *Store) CreateSession(ctx context.Context, sess accounts.Session) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[sess.AccountID]; !ok {
			return notFound("account")
		}
		if _, ok := s.sessions[sess.Hash]; ok {
			return privacy.Errorf(privacy.ErrConflict, "session exists")
		}
		set(u, s.sessions, sess.Hash, sess)
		return nil
	})
}

// SessionByHash implements accounts.Store.
func (s *Store) SessionByHash(ctx context.Context, hash string) (accounts.Session, accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return accounts.Session{}, accounts.Account{}, notFound("session")
	}
	a, ok := s.accounts[sess.AccountID]
	if !ok {
		return accounts.Session{}, accounts.Account{}, notFound("session")
	}
	return sess, clone(a), nil
}

// TouchSession implements accounts.Store.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	return s.write(ctx, func(u *undo) error {
		sess, ok := s.sessions[hash]
		if !ok {
			return notFound("session")
		}
		sess.LastSeen = at
		set(u, s.sessions, hash, sess)
		return nil
	})
}

// DeleteSession implements accounts.Store.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	return s.write(ctx, func(u *undo) error {
		remove(u, s.sessions, hash)
		return nil
	})
}

// DeleteSessions implements accounts.Store.
func (s *Store) DeleteSessions(ctx context.Context, accountID string) (int, error) {
	return purge(ctx, s, s.sessions, func(x accounts.Session) bool { return x.AccountID == accountID })
}

// deleteSessions removes every session of the account, journaled in u, and
// returns how many.
func (s *Store) deleteSessions(u *undo, accountID string) int {
	return removeWhere(u, s.sessions, func(x accounts.Session) bool { return x.AccountID == accountID })
}

// Sessions implements accounts.Store.
func (s *Store) Sessions(ctx context.Context, accountID string) ([]accounts.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []accounts.Session{}
	for _, sess := range s.sessions {
		if sess.AccountID == accountID {
			out = append(out, sess)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// PurgeSessions implements accounts.Store.
func (s *Store) PurgeSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	return purge(ctx, s, s.sessions, func(x accounts.Session) bool { return !now.Before(x.Expires) || x.LastSeen.Before(idleBefore) })
}

// AddResource implements accounts.Store.
func (s *Store) AddResource(ctx context.Context, r *accounts.Resource, quota int64) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.accounts[r.AccountID]; !ok {
			return notFound("account")
		}
		if s.usage(r.AccountID)+r.Size > quota {
			return privacy.Invalid("file", "your storage quota of %d MiB is full; delete something first", quota>>20)
		}
		c := *r
		c.Data = slices.Clone(r.Data)
		c.Author = ""
		set(u, s.resources, r.ID, c)
		return nil
	})
}

func (s *Store) usage(accountID string) int64 {
	var n int64
	for _, r := range s.resources {
		if r.AccountID == accountID {
			n += r.Size
		}
	}
	return n
}

func (s *Store) withAuthor(r accounts.Resource) accounts.Resource {
	if a, ok := s.accounts[r.AccountID]; ok {
		r.Author = a.DisplayName
	}
	return r
}

// Resource implements accounts.Store.
func (s *Store) Resource(ctx context.Context, id string) (accounts.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[id]
	if !ok {
		return accounts.Resource{}, notFound("resource")
	}
	r.Data = slices.Clone(r.Data)
	return s.withAuthor(r), nil
}

// Resources implements accounts.Store.
func (s *Store) Resources(ctx context.Context, f accounts.ResourceFilter) ([]accounts.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []accounts.Resource{}
	for _, r := range s.resources {
		if (f.AccountID == "" || r.AccountID == f.AccountID) && (!f.Community || r.Visibility == accounts.Community) {
			r.Data = nil
			out = append(out, s.withAuthor(r))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteResource implements accounts.Store.
func (s *Store) DeleteResource(ctx context.Context, accountID, id string) error {
	return s.write(ctx, func(u *undo) error {
		r, ok := s.resources[id]
		if !ok || r.AccountID != accountID {
			return notFound("resource")
		}
		remove(u, s.resources, id)
		return nil
	})
}

// Usage implements accounts.Store.
func (s *Store) Usage(ctx context.Context, accountID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage(accountID), nil
}

// CreateParental implements accounts.Store.
func (s *Store) CreateParental(ctx context.Context, p accounts.ParentalRequest) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.parental[p.ID]; ok {
			return privacy.Errorf(privacy.ErrConflict, "request exists")
		}
		set(u, s.parental, p.ID, p)
		return nil
	})
}

func (s *Store) parentalBy(match func(p accounts.ParentalRequest) bool) (accounts.ParentalRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parental {
		if match(p) {
			return p, nil
		}
	}
	return accounts.ParentalRequest{}, notFound("request")
}

// ParentalByToken implements accounts.Store.
func (s *Store) ParentalByToken(ctx context.Context, tokenHash string) (accounts.ParentalRequest, error) {
	return s.parentalBy(func(p accounts.ParentalRequest) bool { return p.TokenHash == tokenHash })
}

// ParentalByCode implements accounts.Store.
func (s *Store) ParentalByCode(ctx context.Context, codeHash string) (accounts.ParentalRequest, error) {
	return s.parentalBy(func(p accounts.ParentalRequest) bool { return p.CodeHash == codeHash })
}

// ApproveParental implements accounts.Store.
func (s *Store) ApproveParental(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, func(u *undo) error {
		p, ok := s.parental[id]
		if !ok {
			return notFound("request")
		}
		if p.Approved.IsZero() {
			p.Approved = at
			set(u, s.parental, id, p)
		}
		return nil
	})
}

// DeleteParental implements accounts.Store.
func (s *Store) DeleteParental(ctx context.Context, id string) error {
	return s.write(ctx, func(u *undo) error {
		if _, ok := s.parental[id]; !ok {
			return notFound("request")
		}
		remove(u, s.parental, id)
		return nil
	})
}

// ParentalDue implements accounts.Store.
func (s *Store) ParentalDue(ctx context.Context, t time.Time, limit int) ([]accounts.ParentalRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.ParentalRequest
	for _, p := range s.parental {
		if !p.Approved.IsZero() && p.Confirmed.IsZero() && p.Approved.Before(t) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Approved.Before(out[j].Approved) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ConfirmParental implements accounts.Store.
func (s *Store) ConfirmParental(ctx context.Context, id string, at time.Time, tokenHash string) error {
	return s.write(ctx, func(u *undo) error {
		p, ok := s.parental[id]
		if !ok || !p.Confirmed.IsZero() {
			return privacy.Errorf(privacy.ErrGone, "the request was confirmed or deleted")
		}
		p.Confirmed, p.TokenHash = at, tokenHash
		set(u, s.parental, id, p)
		return nil
	})
}

// ParentalFor implements accounts.Store.
func (s *Store) ParentalFor(ctx context.Context, parent string) ([]accounts.ParentalRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.ParentalRequest
	for _, p := range s.parental {
		if sameAddress(p.ParentEmail, parent) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// PurgeParental implements accounts.Store.
func (s *Store) PurgeParental(ctx context.Context, t time.Time) (int, error) {
	return purge(ctx, s, s.parental, func(p accounts.ParentalRequest) bool { return p.AccountID == "" && p.Created.Before(t) })
}
