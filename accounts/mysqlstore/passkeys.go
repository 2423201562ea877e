package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

type passkeyRow struct {
	ID           string       `db:"id"`
	AccountID    string       `db:"account_id"`
	Name         string       `db:"name"`
	CredentialID []byte       `db:"credential_id"`
	Data         []byte       `db:"data"`
	Created      time.Time    `db:"created_at"`
	LastUsed     sql.NullTime `db:"last_used_at"`
}

func (r passkeyRow) passkey() accounts.Passkey {
	return accounts.Passkey{ID: r.ID, AccountID: r.AccountID, Name: r.Name, CredentialID: r.CredentialID, Data: r.Data,
		Created: r.Created.UTC(), LastUsed: timeOf(r.LastUsed)}
}

const passkeyCols = `id, account_id, name, credential_id, data, created_at, last_used_at`

// AddPasskey implements accounts.Store.
func (s *Store) AddPasskey(ctx context.Context, p accounts.Passkey) error {
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT INTO accounts_passkeys (id, account_id, name, credential_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		p.ID, p.AccountID, p.Name, p.CredentialID, p.Data, p.Created.UTC())
	if isFK(err) {
		return notFound("account")
	}
	if err = tr(err); errors.Is(err, privacy.ErrConflict) {
		return privacy.Errorf(privacy.ErrConflict, "this passkey is registered already")
	}
	return err
}

// Passkeys implements accounts.Store.
func (s *Store) Passkeys(ctx context.Context, accountID string) ([]accounts.Passkey, error) {
	var rows []passkeyRow
	err := sqlx.SelectContext(ctx, s.ext(ctx), &rows, `SELECT `+passkeyCols+` FROM accounts_passkeys WHERE account_id = ? ORDER BY created_at, id`, accountID)
	out := make([]accounts.Passkey, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.passkey())
	}
	return out, tr(err)
}

// PasskeyByCredential implements accounts.Store.
func (s *Store) PasskeyByCredential(ctx context.Context, credentialID []byte) (accounts.Passkey, error) {
	var r passkeyRow
	err := sqlx.GetContext(ctx, s.ext(ctx), &r, `SELECT `+passkeyCols+` FROM accounts_passkeys WHERE credential_id = ?`, credentialID)
	if errors.Is(err, sql.ErrNoRows) {
		return accounts.Passkey{}, notFound("passkey")
	}
	if err != nil {
		return accounts.Passkey{}, tr(err)
	}
	return r.passkey(), nil
}

// UsePasskey implements accounts.Store.
func (s *Store) UsePasskey(ctx context.Context, accountID, id string, data []byte, at time.Time) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_passkeys SET data = ?, last_used_at = ? WHERE id = ? AND account_id = ?`,
		data, at.UTC(), id, accountID))
	return s.updated(ctx, n, err, "passkey", `SELECT 1 FROM accounts_passkeys WHERE id = ? AND account_id = ?`, id, accountID)
}

// DeletePasskey implements accounts.Store.
func (s *Store) DeletePasskey(ctx context.Context, accountID, id string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_passkeys WHERE id = ? AND account_id = ?`, id, accountID))
	if err == nil && n == 0 {
		return notFound("passkey")
	}
	return err
}

// CreateCeremony implements accounts.Store.
func (s *Store) CreateCeremony(ctx context.Context, c accounts.Ceremony) error {
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT INTO accounts_ceremonies (hash, kind, account_id, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Hash, c.Kind, sql.NullString{String: c.AccountID, Valid: c.AccountID != ""}, c.Data, c.Created.UTC(), c.Expires.UTC())
	if isFK(err) {
		return notFound("account")
	}
	return tr(err)
}

// UseCeremony implements accounts.Store.
func (s *Store) UseCeremony(ctx context.Context, hash string, now time.Time) (accounts.Ceremony, error) {
	expired := privacy.Errorf(privacy.ErrGone, "this passkey request has expired; start again")
	var r struct {
		accounts.Ceremony
		Account sql.NullString `db:"account"`
	}
	// The DELETE is what makes it one-time: of two requests with one id, only one
	// deletes the row, and only that one goes on.
	err := sqlx.GetContext(ctx, s.ext(ctx), &r, `SELECT hash, kind, account_id AS account, data, created_at, expires_at FROM accounts_ceremonies WHERE hash = ?`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return accounts.Ceremony{}, expired
	}
	if err != nil {
		return accounts.Ceremony{}, tr(err)
	}
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_ceremonies WHERE hash = ?`, hash))
	if err != nil {
		return accounts.Ceremony{}, err
	}
	c := r.Ceremony
	c.AccountID, c.Created, c.Expires = r.Account.String, c.Created.UTC(), c.Expires.UTC()
	if n == 0 || !now.Before(c.Expires) {
		return accounts.Ceremony{}, expired
	}
	return c, nil
}

// PurgeCeremonies implements accounts.Store.
func (s *Store) PurgeCeremonies(ctx context.Context, now time.Time) (int, error) {
	return affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_ceremonies WHERE expires_at <= ?`, now.UTC()))
}
