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
	s.mu.Lock()
	if _, ok := s.byEmail[privacy.AddressKey(a.Email)]; ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "an account has this address")
	}
	if _, ok := s.accounts[a.ID]; ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "account id taken")
	}
	var req accounts.ParentalRequest
	if a.ParentalRequest != "" {
		var ok bool
		req, ok = s.parental[a.ParentalRequest]
		if !ok || req.Approved.IsZero() || req.AccountID != "" {
			s.mu.Unlock()
			return privacy.Errorf(privacy.ErrGone, "the parental consent request is not approved or was used")
		}
		used := req
		used.AccountID = a.ID
		s.parental[req.ID] = used
	}
	c := *a
	c.Roles = slices.Clone(a.Roles)
	c.ParentalRequest = ""
	s.accounts[a.ID] = &c
	s.byEmail[privacy.AddressKey(a.Email)] = a.ID
	if verify != nil {
		s.tokens[verify.Hash] = *verify
	}
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.accounts, a.ID)
		delete(s.byEmail, privacy.AddressKey(a.Email))
		if verify != nil {
			delete(s.tokens, verify.Hash)
		}
		if a.ParentalRequest != "" {
			if _, ok := s.parental[req.ID]; ok {
				s.parental[req.ID] = req
			}
		}
		s.mu.Unlock()
	})
	return nil
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

func (s *Store) update(id string, f func(a *accounts.Account) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return notFound("account")
	}
	return f(a)
}

// SetVerified implements accounts.Store.
func (s *Store) SetVerified(ctx context.Context, id string, at time.Time) error {
	return s.update(id, func(a *accounts.Account) error { a.Verified = true; return nil })
}

// SetPassword implements accounts.Store.
func (s *Store) SetPassword(ctx context.Context, id, hash string, revoke bool) error {
	return s.update(id, func(a *accounts.Account) error {
		a.PasswordHash = hash
		if revoke {
			s.deleteSessions(nil, id)
			s.deleteTokens(id)
		}
		return nil
	})
}

// SetEmail implements accounts.Store.
func (s *Store) SetEmail(ctx context.Context, id, email string) error {
	return s.update(id, func(a *accounts.Account) error {
		if other, ok := s.byEmail[privacy.AddressKey(email)]; ok && other != id {
			return privacy.Errorf(privacy.ErrConflict, "an account has this address")
		}
		delete(s.byEmail, privacy.AddressKey(a.Email))
		a.Email = email
		s.byEmail[privacy.AddressKey(email)] = id
		s.deleteSessions(nil, id)
		s.deleteTokens(id)
		return nil
	})
}

// DeleteAccount implements accounts.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteAccount(id)
}

func (s *Store) deleteAccount(id string) (int, error) {
	a, ok := s.accounts[id]
	if !ok {
		return 0, notFound("account")
	}
	n := 1 + s.deleteSessions(nil, id) + s.deleteTokens(id)
	delete(s.accounts, id)
	delete(s.byEmail, privacy.AddressKey(a.Email))
	for rid, r := range s.resources {
		if r.AccountID == id {
			delete(s.resources, rid)
			n++
		}
	}
	for pid, p := range s.parental {
		if p.AccountID == id {
			delete(s.parental, pid)
			n++
		}
	}
	for fid, f := range s.factors {
		if f.AccountID == id {
			delete(s.factors, fid)
			n++
		}
	}
	n += len(s.recovery[id])
	delete(s.recovery, id)
	for h, c := range s.challenge {
		if c.AccountID == id {
			delete(s.challenge, h)
			n++
		}
	}
	for pid, p := range s.passkeys {
		if p.AccountID == id {
			delete(s.passkeys, pid)
			n++
		}
	}
	for h, c := range s.ceremony {
		if c.AccountID == id {
			delete(s.ceremony, h)
			n++
		}
	}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, a := range s.accounts {
		if !a.Verified && a.Created.Before(t) {
			_, _ = s.deleteAccount(id)
			n++
		}
	}
	return n, nil
}

// SetRole implements accounts.Store.
func (s *Store) SetRole(ctx context.Context, accountID string, role privacy.Role, granted bool) error {
	return s.update(accountID, func(a *accounts.Account) error {
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
	s.mu.Lock()
	if _, ok := s.accounts[t.AccountID]; !ok {
		s.mu.Unlock()
		return notFound("account")
	}
	if _, ok := s.tokens[t.Hash]; ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "token exists")
	}
	var replaced []accounts.Token
	for h, x := range s.tokens {
		if x.AccountID == t.AccountID && x.Kind == t.Kind {
			replaced = append(replaced, x)
			delete(s.tokens, h)
		}
	}
	s.tokens[t.Hash] = t
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.tokens, t.Hash)
		if _, ok := s.accounts[t.AccountID]; ok {
			for _, x := range replaced {
				s.tokens[x.Hash] = x
			}
		}
		s.mu.Unlock()
	})
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok || t.Kind != kind {
		return accounts.Token{}, privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
	}
	delete(s.tokens, hash)
	if !now.Before(t.Expires) {
		return accounts.Token{}, privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
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
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, t := range s.tokens {
		if sameAddress(t.Email, email) {
			delete(s.tokens, h)
			n++
		}
	}
	return n, nil
}

// deleteTokens removes every mailed token of the account and returns how many.
func (s *Store) deleteTokens(accountID string) int {
	n := 0
	for h, t := range s.tokens {
		if t.AccountID == accountID {
			delete(s.tokens, h)
			n++
		}
	}
	return n
}

// PurgeTokens implements accounts.Store.
func (s *Store) PurgeTokens(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, t := range s.tokens {
		if !now.Before(t.Expires) {
			delete(s.tokens, h)
			n++
		}
	}
	return n, nil
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
	n := 0
	err := s.write(ctx, func(u *undo) error {
		n = s.deleteSessions(u, accountID)
		return nil
	})
	return n, err
}

// deleteSessions removes every session of the account, journaled in u, and
// returns how many.
func (s *Store) deleteSessions(u *undo, accountID string) int {
	n := 0
	for h, sess := range s.sessions {
		if sess.AccountID == accountID {
			remove(u, s.sessions, h)
			n++
		}
	}
	return n
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
	n := 0
	err := s.write(ctx, func(u *undo) error {
		for h, sess := range s.sessions {
			if !now.Before(sess.Expires) || sess.LastSeen.Before(idleBefore) {
				remove(u, s.sessions, h)
				n++
			}
		}
		return nil
	})
	return n, err
}

// AddResource implements accounts.Store.
func (s *Store) AddResource(ctx context.Context, r *accounts.Resource, quota int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[r.AccountID]; !ok {
		return notFound("account")
	}
	if s.usage(r.AccountID)+r.Size > quota {
		return privacy.Invalid("file", "your storage quota of %d MiB is full; delete something first", quota>>20)
	}
	c := *r
	c.Data = slices.Clone(r.Data)
	c.Author = ""
	s.resources[r.ID] = c
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[id]
	if !ok || r.AccountID != accountID {
		return notFound("resource")
	}
	delete(s.resources, id)
	return nil
}

// Usage implements accounts.Store.
func (s *Store) Usage(ctx context.Context, accountID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage(accountID), nil
}

// CreateParental implements accounts.Store.
func (s *Store) CreateParental(ctx context.Context, p accounts.ParentalRequest) error {
	s.mu.Lock()
	if _, ok := s.parental[p.ID]; ok {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrConflict, "request exists")
	}
	s.parental[p.ID] = p
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		delete(s.parental, p.ID)
		s.mu.Unlock()
	})
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.parental[id]
	if !ok {
		return notFound("request")
	}
	if p.Approved.IsZero() {
		p.Approved = at
		s.parental[id] = p
	}
	return nil
}

// DeleteParental implements accounts.Store.
func (s *Store) DeleteParental(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.parental[id]; !ok {
		return notFound("request")
	}
	delete(s.parental, id)
	return nil
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
	s.mu.Lock()
	p, ok := s.parental[id]
	if !ok || !p.Confirmed.IsZero() {
		s.mu.Unlock()
		return privacy.Errorf(privacy.ErrGone, "the request was confirmed or deleted")
	}
	before := p
	p.Confirmed, p.TokenHash = at, tokenHash
	s.parental[id] = p
	s.mu.Unlock()
	privacy.OnUndo(ctx, func() {
		s.mu.Lock()
		if _, ok := s.parental[id]; ok {
			s.parental[id] = before
		}
		s.mu.Unlock()
	})
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, p := range s.parental {
		if p.AccountID == "" && p.Created.Before(t) {
			delete(s.parental, id)
			n++
		}
	}
	return n, nil
}
