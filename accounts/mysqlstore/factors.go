package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

// SetSessionProved implements accounts.Store.
func (s *Store) SetSessionProved(ctx context.Context, hash string, at time.Time) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_sessions SET proved_at = ? WHERE hash = ?`, at.UTC(), hash))
	return s.updated(ctx, n, err, "session", `SELECT 1 FROM accounts_sessions WHERE hash = ?`, hash)
}

// DeleteSessionOf implements accounts.Store.
func (s *Store) DeleteSessionOf(ctx context.Context, accountID, hash string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_sessions WHERE hash = ? AND account_id = ?`, hash, accountID))
	if err == nil && n == 0 {
		return notFound("session")
	}
	return err
}

// DeleteOtherSessions implements accounts.Store.
func (s *Store) DeleteOtherSessions(ctx context.Context, accountID, keep string) (int, error) {
	return affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_sessions WHERE account_id = ? AND hash <> ?`, accountID, keep))
}

type factorRow struct {
	ID        string       `db:"id"`
	AccountID string       `db:"account_id"`
	Kind      string       `db:"kind"`
	Secret    []byte       `db:"secret"`
	Created   time.Time    `db:"created_at"`
	Confirmed sql.NullTime `db:"confirmed_at"`
	LastUsed  sql.NullTime `db:"last_used_at"`
	Step      int64        `db:"step"`
}

// AddFactor implements accounts.Store.
func (s *Store) AddFactor(ctx context.Context, f accounts.Factor) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_factors WHERE account_id = ? AND kind = ? AND confirmed_at IS NULL`, f.AccountID, f.Kind); err != nil {
			return tr(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts_factors (id, account_id, kind, secret, created_at, step) VALUES (?, ?, ?, ?, ?, ?)`,
			f.ID, f.AccountID, f.Kind, f.Secret, f.Created.UTC(), f.Step)
		if isFK(err) {
			return notFound("account")
		}
		return tr(err)
	}))
}

// Factors implements accounts.Store.
func (s *Store) Factors(ctx context.Context, accountID string) ([]accounts.Factor, error) {
	var rows []factorRow
	err := sqlx.SelectContext(ctx, s.ext(ctx), &rows, `SELECT id, account_id, kind, secret, created_at, confirmed_at, last_used_at, step
		FROM accounts_factors WHERE account_id = ? ORDER BY created_at, id`, accountID)
	out := make([]accounts.Factor, 0, len(rows))
	for _, r := range rows {
		out = append(out, accounts.Factor{ID: r.ID, AccountID: r.AccountID, Kind: r.Kind, Secret: r.Secret, Created: r.Created.UTC(),
			Confirmed: timeOf(r.Confirmed), LastUsed: timeOf(r.LastUsed), Step: r.Step})
	}
	return out, tr(err)
}

// ConfirmFactor implements accounts.Store.
func (s *Store) ConfirmFactor(ctx context.Context, accountID, id string, step int64, at time.Time, codes []string) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `UPDATE accounts_factors SET confirmed_at = ?, last_used_at = ?, step = ?
			WHERE id = ? AND account_id = ? AND confirmed_at IS NULL`, at.UTC(), at.UTC(), step, id, accountID))
		if err != nil {
			return err
		}
		if n == 0 {
			return privacy.Errorf(privacy.ErrGone, "this enrolment has expired or was already confirmed; start again")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_recovery_codes WHERE account_id = ?`, accountID); err != nil {
			return tr(err)
		}
		for _, c := range codes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_recovery_codes (account_id, hash) VALUES (?, ?)`, accountID, c); err != nil {
				return tr(err)
			}
		}
		return nil
	}))
}

// UseFactor implements accounts.Store.
func (s *Store) UseFactor(ctx context.Context, accountID, id string, step int64, at time.Time) error {
	// One conditional UPDATE: of two requests with the same code, only one sees
	// the step still below it.
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_factors SET step = ?, last_used_at = ?
		WHERE id = ? AND account_id = ? AND confirmed_at IS NOT NULL AND step < ?`, step, at.UTC(), id, accountID, step))
	if err == nil && n == 0 {
		return privacy.Errorf(privacy.ErrGone, "this code was already used")
	}
	return err
}

// DeleteFactor implements accounts.Store.
func (s *Store) DeleteFactor(ctx context.Context, accountID, id string) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `DELETE FROM accounts_factors WHERE id = ? AND account_id = ?`, id, accountID))
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("factor")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM accounts_recovery_codes WHERE account_id = ?
			AND NOT EXISTS (SELECT 1 FROM accounts_factors WHERE account_id = ? AND confirmed_at IS NOT NULL)`, accountID, accountID)
		return tr(err)
	}))
}

// UseRecoveryCode implements accounts.Store.
func (s *Store) UseRecoveryCode(ctx context.Context, accountID, hash string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_recovery_codes WHERE account_id = ? AND hash = ?`, accountID, hash))
	if err == nil && n == 0 {
		return privacy.Errorf(privacy.ErrGone, "this recovery code is wrong or was already used")
	}
	return err
}

// RecoveryCodes implements accounts.Store.
func (s *Store) RecoveryCodes(ctx context.Context, accountID string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, s.ext(ctx), &n, `SELECT COUNT(*) FROM accounts_recovery_codes WHERE account_id = ?`, accountID)
	return n, tr(err)
}

// CreateChallenge implements accounts.Store.
func (s *Store) CreateChallenge(ctx context.Context, c accounts.Challenge) error {
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT INTO accounts_challenges (hash, kind, account_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		c.Hash, c.Kind, c.AccountID, c.Created.UTC(), c.Expires.UTC())
	if isFK(err) {
		return notFound("account")
	}
	return tr(err)
}

// UseChallenge implements accounts.Store.
func (s *Store) UseChallenge(ctx context.Context, hash, kind string, now time.Time) (accounts.Challenge, error) {
	expired := privacy.Errorf(privacy.ErrGone, "this sign-in has expired; sign in again")
	var c accounts.Challenge
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &c, `SELECT hash, kind, account_id, created_at, expires_at FROM accounts_challenges WHERE hash = ? AND kind = ? FOR UPDATE`, hash, kind)
		if errors.Is(err, sql.ErrNoRows) {
			return expired
		}
		if err != nil {
			return tr(err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM accounts_challenges WHERE hash = ?`, hash)
		return tr(err)
	})
	if err != nil {
		return accounts.Challenge{}, tr(err)
	}
	c.Created, c.Expires = c.Created.UTC(), c.Expires.UTC()
	if !now.Before(c.Expires) {
		return accounts.Challenge{}, expired
	}
	return c, nil
}

// PurgeChallenges implements accounts.Store.
func (s *Store) PurgeChallenges(ctx context.Context, now time.Time) (int, error) {
	return affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_challenges WHERE expires_at <= ?`, now.UTC()))
}
