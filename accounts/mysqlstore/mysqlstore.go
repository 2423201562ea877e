package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements accounts.Store on MySQL.
type Store struct {
	db *sqlx.DB
}

var _ accounts.Store = (*Store)(nil)

// New returns a store on db (opened with privacy/mysqlstore.Open). Call Migrate
// before first use.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// Do implements privacy.UnitOfWork over one transaction of the store's pool.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return sqltx.Do(ctx, s.db, func(ctx context.Context, _ *sqlx.Tx) error { return fn(ctx) })
}

// Database implements privacy.UnitOfWork: the pool, since one transaction is one
// connection of one pool.
func (s *Store) Database() string { return sqltx.Name(s.db) }

// Migrate creates or updates the store's tables. It is safe to call from several
// processes at once. It refuses, naming their account ids, while accounts exist
// whose addresses differ only in case: one of each must be merged into the other
// or deleted before addresses can compare case-insensitively (migration 00003).
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.checkCaseDuplicates(ctx); err != nil {
		return err
	}
	sub, _ := fs.Sub(migrations, "migrations")
	return migrate.Up(ctx, s.db.DB, sub, "accounts_migrations")
}

// checkCaseDuplicates fails when accounts_accounts predates migration 00003 and
// holds addresses that differ only in case. It names ids, never addresses, since
// the error is likely to be logged.
func (s *Store) checkCaseDuplicates(ctx context.Context) error {
	var n int
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &n, `SELECT COUNT(*) FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = 'accounts_accounts' AND column_name IN ('id', 'email_key')`)
	if err != nil || n != 1 {
		return tr(err) // no table yet, or already migrated
	}
	var groups []string
	err = sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &groups, `SELECT GROUP_CONCAT(id ORDER BY created_at, id SEPARATOR ' ') FROM accounts_accounts
		GROUP BY LOWER(email) HAVING COUNT(*) > 1 ORDER BY MIN(created_at)`)
	if err != nil {
		return tr(err)
	}
	if len(groups) > 0 {
		return fmt.Errorf("migrate accounts_migrations: addresses now compare case-insensitively, and %d of them have more than one account, differing only in case; "+
			"merge or delete all but one account of each, then migrate again. Account ids, one group per address, oldest first: [%s]",
			len(groups), strings.Join(groups, "] ["))
	}
	return nil
}

func tr(err error) error { return mysqldb.Translate(err) }

func (s *Store) ext(ctx context.Context) sqlx.ExtContext { return sqltx.Ext(ctx, s.db) }

// nullable stores the zero time as NULL.
func nullable(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func timeOf(n sql.NullTime) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return n.Time.UTC()
}

func notFound(what string) error { return privacy.Errorf(privacy.ErrNotFound, "no such %s", what) }

// updated completes an UPDATE that changed n rows: none changed is also what
// MySQL reports for rows already as set, so a row that is not there is looked
// for with exists (a SELECT 1 ... of args) and reported as no such what.
func (s *Store) updated(ctx context.Context, n int, err error, what, exists string, args ...any) error {
	if err == nil && n == 0 {
		var one int
		if e := sqlx.GetContext(ctx, s.ext(ctx), &one, exists, args...); errors.Is(e, sql.ErrNoRows) {
			return notFound(what)
		}
	}
	return err
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

type accountRow struct {
	ID           string    `db:"id"`
	Email        string    `db:"email"`
	DisplayName  string    `db:"display_name"`
	PasswordHash string    `db:"password_hash"`
	Verified     bool      `db:"verified"`
	AgeScreen    string    `db:"age_screen"`
	ParentEmail  string    `db:"parent_email"`
	Created      time.Time `db:"created_at"`
}

const accountCols = `a.id, a.email, a.display_name, a.password_hash, a.verified, a.age_screen, a.parent_email, a.created_at`

func (r accountRow) account() accounts.Account {
	return accounts.Account{ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, PasswordHash: r.PasswordHash, Verified: r.Verified,
		AgeScreen: r.AgeScreen, ParentEmail: r.ParentEmail, Created: r.Created.UTC()}
}

func (s *Store) roles(ctx context.Context, id string) ([]privacy.Role, error) {
	var roles []privacy.Role
	err := sqlx.SelectContext(ctx, s.ext(ctx), &roles, `SELECT role FROM accounts_roles WHERE account_id = ? ORDER BY role`, id)
	return roles, tr(err)
}

func (s *Store) accountWhere(ctx context.Context, where string, arg any) (accounts.Account, error) {
	var row accountRow
	err := sqlx.GetContext(ctx, s.ext(ctx), &row, `SELECT `+accountCols+` FROM accounts_accounts a WHERE `+where, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return accounts.Account{}, notFound("account")
	}
	if err != nil {
		return accounts.Account{}, tr(err)
	}
	a := row.account()
	a.Roles, err = s.roles(ctx, a.ID)
	return a, err
}

// CreateAccount implements accounts.Store.
func (s *Store) CreateAccount(ctx context.Context, a *accounts.Account, verify *accounts.Token) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts_accounts (id, email, display_name, password_hash, verified, age_screen, parent_email, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Email, a.DisplayName, a.PasswordHash, a.Verified, a.AgeScreen, a.ParentEmail, a.Created.UTC())
		if err != nil {
			return tr(err)
		}
		for _, r := range a.Roles {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts_roles (account_id, role) VALUES (?, ?)`, a.ID, r); err != nil {
				return tr(err)
			}
		}
		if a.ParentalRequest != "" {
			n, err := affected(tx.ExecContext(ctx, `UPDATE accounts_parental SET account_id = ? WHERE id = ? AND approved_at IS NOT NULL AND account_id IS NULL`,
				a.ID, a.ParentalRequest))
			if err != nil {
				return err
			}
			if n == 0 {
				return privacy.Errorf(privacy.ErrGone, "the parental consent request is not approved or was used")
			}
		}
		if verify != nil {
			if err := insertToken(ctx, tx, *verify); err != nil {
				return err
			}
		}
		return nil
	}))
}

func insertToken(ctx context.Context, x sqlx.ExtContext, t accounts.Token) error {
	_, err := x.ExecContext(ctx, `INSERT INTO accounts_tokens (hash, kind, account_id, email, password_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.AccountID, t.Email, t.PasswordHash, t.Created.UTC(), t.Expires.UTC())
	if isFK(err) {
		return notFound("account")
	}
	return tr(err)
}

// isFK reports a foreign key violation: the account the row points to is gone.
func isFK(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1452
}

// AccountByID implements accounts.Store.
func (s *Store) AccountByID(ctx context.Context, id string) (accounts.Account, error) {
	return s.accountWhere(ctx, `a.id = ?`, id)
}

// AccountByEmail implements accounts.Store.
func (s *Store) AccountByEmail(ctx context.Context, email string) (accounts.Account, error) {
	return s.accountWhere(ctx, `a.email_key = LOWER(?)`, email)
}

func (s *Store) exec1(ctx context.Context, what, q string, args ...any) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, q, args...))
	if err != nil {
		return err
	}
	if n == 0 {
		// MySQL counts changed rows: tell "no such row" from "nothing to change".
		var one int
		err := sqlx.GetContext(ctx, s.ext(ctx), &one, `SELECT 1 FROM accounts_accounts WHERE id = ?`, args[len(args)-1])
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		return tr(err)
	}
	return nil
}

// SetVerified implements accounts.Store.
func (s *Store) SetVerified(ctx context.Context, id string, at time.Time) error {
	return s.exec1(ctx, "account", `UPDATE accounts_accounts SET verified = TRUE, verified_at = COALESCE(verified_at, ?) WHERE id = ?`, at.UTC(), id)
}

// SetPassword implements accounts.Store.
func (s *Store) SetPassword(ctx context.Context, id, hash string, revoke bool) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		if err := s.exec1(ctx, "account", `UPDATE accounts_accounts SET password_hash = ? WHERE id = ?`, hash, id); err != nil {
			return err
		}
		if revoke {
			return revokeAll(ctx, tx, id)
		}
		return nil
	}))
}

// SetEmail implements accounts.Store.
func (s *Store) SetEmail(ctx context.Context, id, email string) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		if err := s.exec1(ctx, "account", `UPDATE accounts_accounts SET email = ? WHERE id = ?`, email, id); err != nil {
			return err
		}
		return revokeAll(ctx, tx, id)
	}))
}

// revokeAll ends every session and deletes every mailed token of the account:
// what a change of its credentials must leave behind.
func revokeAll(ctx context.Context, tx *sqlx.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_sessions WHERE account_id = ?`, id); err != nil {
		return tr(err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM accounts_tokens WHERE account_id = ?`, id)
	return tr(err)
}

// DeleteAccount implements accounts.Store.
func (s *Store) DeleteAccount(ctx context.Context, id string) (int, error) {
	total := 0
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		var one int
		err := tx.GetContext(ctx, &one, `SELECT 1 FROM accounts_accounts WHERE id = ? FOR UPDATE`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account")
		}
		if err != nil {
			return tr(err)
		}
		// Nullable, as contact's reply count: a Galera node that aborts this read for
		// a replicated write can send the sum NULL and then error 1213, which sqltx
		// runs the transaction again for; scanned into an int, the NULL would fail
		// first and hide it.
		var n sql.NullInt64
		err = tx.GetContext(ctx, &n, `SELECT
			(SELECT COUNT(*) FROM accounts_sessions WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_tokens WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_resources WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_parental WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_factors WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_recovery_codes WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_challenges WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_passkeys WHERE account_id = ?) +
			(SELECT COUNT(*) FROM accounts_ceremonies WHERE account_id = ?)`, id, id, id, id, id, id, id, id, id)
		if err != nil {
			return tr(err)
		}
		// The foreign keys cascade to sessions, tokens, roles, resources, factors,
		// recovery codes, challenges, passkeys, ceremonies and the parental request.
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_accounts WHERE id = ?`, id); err != nil {
			return tr(err)
		}
		total = int(n.Int64) + 1
		return nil
	})
	return total, tr(err)
}

func (s *Store) accountsWhere(ctx context.Context, q string, args ...any) ([]accounts.Account, error) {
	var rows []accountRow
	if err := sqlx.SelectContext(ctx, s.ext(ctx), &rows, q, args...); err != nil {
		return nil, tr(err)
	}
	out := make([]accounts.Account, 0, len(rows))
	for _, r := range rows {
		a := r.account()
		var err error
		if a.Roles, err = s.roles(ctx, a.ID); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// AccountsByParent implements accounts.Store.
func (s *Store) AccountsByParent(ctx context.Context, parent string) ([]accounts.Account, error) {
	return s.accountsWhere(ctx, `SELECT `+accountCols+` FROM accounts_accounts a WHERE a.parent_key = LOWER(?) ORDER BY a.id`, parent)
}

// PurgeUnverified implements accounts.Store.
func (s *Store) PurgeUnverified(ctx context.Context, t time.Time) (int, error) {
	return affected(sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM accounts_accounts WHERE verified = FALSE AND created_at < ?`, t.UTC()))
}

// SetRole implements accounts.Store.
func (s *Store) SetRole(ctx context.Context, accountID string, role privacy.Role, granted bool) error {
	if !granted {
		_, err := s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_roles WHERE account_id = ? AND role = ?`, accountID, role)
		return tr(err)
	}
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT IGNORE INTO accounts_roles (account_id, role) VALUES (?, ?)`, accountID, role)
	if isFK(err) {
		return notFound("account")
	}
	return tr(err)
}

// Staff implements accounts.Store.
func (s *Store) Staff(ctx context.Context) ([]accounts.Account, error) {
	return s.accountsWhere(ctx, `SELECT `+accountCols+` FROM accounts_accounts a
		WHERE EXISTS (SELECT 1 FROM accounts_roles r WHERE r.account_id = a.id) ORDER BY a.email`)
}

// CreateToken implements accounts.Store.
func (s *Store) CreateToken(ctx context.Context, t accounts.Token) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_tokens WHERE account_id = ? AND kind = ?`, t.AccountID, t.Kind); err != nil {
			return tr(err)
		}
		if err := insertToken(ctx, tx, t); err != nil {
			return err
		}
		return nil
	}))
}

const tokenCols = `hash, kind, account_id, email, password_hash, created_at, expires_at`

func gone() error {
	return privacy.Errorf(privacy.ErrGone, "this link has expired or was already used")
}

// Token implements accounts.Store.
func (s *Store) Token(ctx context.Context, hash, kind string, now time.Time) (accounts.Token, error) {
	var t accounts.Token
	err := sqlx.GetContext(ctx, s.ext(ctx), &t, `SELECT `+tokenCols+` FROM accounts_tokens WHERE hash = ? AND kind = ?`, hash, kind)
	if errors.Is(err, sql.ErrNoRows) {
		return accounts.Token{}, gone()
	}
	if err != nil {
		return accounts.Token{}, tr(err)
	}
	t.Created, t.Expires = t.Created.UTC(), t.Expires.UTC()
	if !now.Before(t.Expires) {
		return accounts.Token{}, gone()
	}
	return t, nil
}

// UseToken implements accounts.Store.
func (s *Store) UseToken(ctx context.Context, hash, kind string, now time.Time) (accounts.Token, error) {
	var t accounts.Token
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &t, `SELECT `+tokenCols+` FROM accounts_tokens WHERE hash = ? AND kind = ? FOR UPDATE`, hash, kind)
		if errors.Is(err, sql.ErrNoRows) {
			return gone()
		}
		if err != nil {
			return tr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts_tokens WHERE hash = ?`, hash); err != nil {
			return tr(err)
		}
		return nil
	})
	if err != nil {
		return accounts.Token{}, tr(err)
	}
	t.Created, t.Expires = t.Created.UTC(), t.Expires.UTC()
	if !now.Before(t.Expires) {
		return accounts.Token{}, gone()
	}
	return t, nil
}

// TokenFor implements accounts.Store.
func (s *Store) TokenFor(ctx context.Context, kind, email string, now time.Time) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, s.ext(ctx), &n, `SELECT COUNT(*) FROM accounts_tokens WHERE email_key = LOWER(?) AND kind = ? AND expires_at > ?`, email, kind, now.UTC())
	return n > 0, tr(err)
}

// TokensTo implements accounts.Store.
func (s *Store) TokensTo(ctx context.Context, email string) ([]accounts.Token, error) {
	var out []accounts.Token
	err := sqlx.SelectContext(ctx, s.ext(ctx), &out, `SELECT `+tokenCols+` FROM accounts_tokens WHERE email_key = LOWER(?) ORDER BY created_at`, email)
	for i := range out {
		out[i].Created, out[i].Expires = out[i].Created.UTC(), out[i].Expires.UTC()
	}
	return out, tr(err)
}

// DeleteTokensTo implements accounts.Store.
func (s *Store) DeleteTokensTo(ctx context.Context, email string) (int, error) {
	return affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_tokens WHERE email_key = LOWER(?)`, email))
}

// PurgeTokens implements accounts.Store.
func (s *Store) PurgeTokens(ctx context.Context, now time.Time) (int, error) {
	return affected(sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM accounts_tokens WHERE expires_at <= ?`, now.UTC()))
}

// CreateSession implements accounts.Store.
func (s *Store) CreateSession(ctx context.Context, sess accounts.Session) error {
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT INTO accounts_sessions (hash, account_id, created_at, last_seen, expires_at, device, proved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, sess.Hash, sess.AccountID, sess.Created.UTC(), sess.LastSeen.UTC(), sess.Expires.UTC(), sess.Device, nullable(sess.Proved))
	if isFK(err) {
		return notFound("account")
	}
	return tr(err)
}

// SessionByHash implements accounts.Store.
func (s *Store) SessionByHash(ctx context.Context, hash string) (accounts.Session, accounts.Account, error) {
	var row struct {
		sessionRow
		accountRow
	}
	err := sqlx.GetContext(ctx, s.ext(ctx), &row, `SELECT `+sessionCols+`, `+accountCols+`
		FROM accounts_sessions s JOIN accounts_accounts a ON a.id = s.account_id WHERE s.hash = ?`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return accounts.Session{}, accounts.Account{}, notFound("session")
	}
	if err != nil {
		return accounts.Session{}, accounts.Account{}, tr(err)
	}
	a := row.account()
	if a.Roles, err = s.roles(ctx, a.ID); err != nil {
		return accounts.Session{}, accounts.Account{}, err
	}
	return row.session(), a, nil
}

type sessionRow struct {
	Hash      string       `db:"hash"`
	AccountID string       `db:"account_id"`
	Created   time.Time    `db:"s_created"`
	LastSeen  time.Time    `db:"last_seen"`
	Expires   time.Time    `db:"expires_at"`
	Device    string       `db:"device"`
	Proved    sql.NullTime `db:"proved_at"`
}

const sessionCols = `s.hash, s.account_id, s.created_at AS s_created, s.last_seen, s.expires_at, s.device, s.proved_at`

func (r sessionRow) session() accounts.Session {
	return accounts.Session{Hash: r.Hash, AccountID: r.AccountID, Created: r.Created.UTC(), LastSeen: r.LastSeen.UTC(), Expires: r.Expires.UTC(),
		Device: r.Device, Proved: timeOf(r.Proved)}
}

// TouchSession implements accounts.Store.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_sessions SET last_seen = ? WHERE hash = ?`, at.UTC(), hash))
	return s.updated(ctx, n, err, "session", `SELECT 1 FROM accounts_sessions WHERE hash = ?`, hash)
}

// DeleteSession implements accounts.Store.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_sessions WHERE hash = ?`, hash)
	return tr(err)
}

// DeleteSessions implements accounts.Store.
func (s *Store) DeleteSessions(ctx context.Context, accountID string) (int, error) {
	return affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_sessions WHERE account_id = ?`, accountID))
}

// Sessions implements accounts.Store.
func (s *Store) Sessions(ctx context.Context, accountID string) ([]accounts.Session, error) {
	var rows []sessionRow
	err := sqlx.SelectContext(ctx, s.ext(ctx), &rows, `SELECT `+sessionCols+` FROM accounts_sessions s WHERE s.account_id = ? ORDER BY s.created_at, s.hash`, accountID)
	out := make([]accounts.Session, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.session())
	}
	return out, tr(err)
}

// PurgeSessions implements accounts.Store.
func (s *Store) PurgeSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	return affected(sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM accounts_sessions WHERE expires_at <= ? OR last_seen < ?`, now.UTC(), idleBefore.UTC()))
}

// AddResource implements accounts.Store.
func (s *Store) AddResource(ctx context.Context, r *accounts.Resource, quota int64) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		// Locking the account row serialises one member's uploads, so two at once
		// cannot both fit under the quota.
		var one int
		err := tx.GetContext(ctx, &one, `SELECT 1 FROM accounts_accounts WHERE id = ? FOR UPDATE`, r.AccountID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account")
		}
		if err != nil {
			return tr(err)
		}
		var used int64
		if err := tx.GetContext(ctx, &used, `SELECT COALESCE(SUM(size), 0) FROM accounts_resources WHERE account_id = ?`, r.AccountID); err != nil {
			return tr(err)
		}
		if used+r.Size > quota {
			return privacy.Invalid("file", "your storage quota of %d MiB is full; delete something first", quota>>20)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO accounts_resources (id, account_id, kind, title, body, content_type, data, size, visibility, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.AccountID, r.Kind, r.Title, r.Body, r.ContentType, r.Data, r.Size, r.Visibility, r.Created.UTC())
		return tr(err)
	}))
}

const resourceCols = `r.id, r.account_id, r.kind, r.title, r.body, r.content_type, r.size, r.visibility, r.created_at, a.display_name AS author`

// Resource implements accounts.Store.
func (s *Store) Resource(ctx context.Context, id string) (accounts.Resource, error) {
	var r accounts.Resource
	err := sqlx.GetContext(ctx, s.ext(ctx), &r, `SELECT `+resourceCols+`, r.data FROM accounts_resources r JOIN accounts_accounts a ON a.id = r.account_id WHERE r.id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("resource")
	}
	r.Created = r.Created.UTC()
	return r, tr(err)
}

// Resources implements accounts.Store.
func (s *Store) Resources(ctx context.Context, f accounts.ResourceFilter) ([]accounts.Resource, error) {
	q := `SELECT ` + resourceCols + ` FROM accounts_resources r JOIN accounts_accounts a ON a.id = r.account_id WHERE 1=1`
	var args []any
	if f.AccountID != "" {
		q, args = q+` AND r.account_id = ?`, append(args, f.AccountID)
	}
	if f.Community {
		q, args = q+` AND r.visibility = ?`, append(args, accounts.Community)
	}
	q += ` ORDER BY r.created_at DESC, r.id DESC`
	limit := f.Limit
	if limit == 0 {
		limit = 50
	}
	if limit > 0 {
		q, args = q+` LIMIT ?`, append(args, limit)
	}
	out := []accounts.Resource{}
	err := sqlx.SelectContext(ctx, s.ext(ctx), &out, q, args...)
	for i := range out {
		out[i].Created = out[i].Created.UTC()
	}
	return out, tr(err)
}

// DeleteResource implements accounts.Store.
func (s *Store) DeleteResource(ctx context.Context, accountID, id string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_resources WHERE id = ? AND account_id = ?`, id, accountID))
	if err == nil && n == 0 {
		return notFound("resource")
	}
	return err
}

// Usage implements accounts.Store.
func (s *Store) Usage(ctx context.Context, accountID string) (int64, error) {
	var n int64
	err := sqlx.GetContext(ctx, s.ext(ctx), &n, `SELECT COALESCE(SUM(size), 0) FROM accounts_resources WHERE account_id = ?`, accountID)
	return n, tr(err)
}

type parentalRow struct {
	ID          string         `db:"id"`
	ParentEmail string         `db:"parent_email"`
	TokenHash   string         `db:"token_hash"`
	CodeHash    string         `db:"code_hash"`
	Created     time.Time      `db:"created_at"`
	Approved    sql.NullTime   `db:"approved_at"`
	Confirmed   sql.NullTime   `db:"confirmed_at"`
	AccountID   sql.NullString `db:"account_id"`
}

func (r parentalRow) request() accounts.ParentalRequest {
	return accounts.ParentalRequest{ID: r.ID, ParentEmail: r.ParentEmail, TokenHash: r.TokenHash, CodeHash: r.CodeHash,
		Created: r.Created.UTC(), Approved: timeOf(r.Approved), Confirmed: timeOf(r.Confirmed), AccountID: r.AccountID.String}
}

const parentalCols = `SELECT id, parent_email, token_hash, code_hash, created_at, approved_at, confirmed_at, account_id FROM accounts_parental`

func (s *Store) parentals(ctx context.Context, q string, args ...any) ([]accounts.ParentalRequest, error) {
	var rows []parentalRow
	if err := sqlx.SelectContext(ctx, s.ext(ctx), &rows, parentalCols+` `+q, args...); err != nil {
		return nil, tr(err)
	}
	out := make([]accounts.ParentalRequest, len(rows))
	for i, r := range rows {
		out[i] = r.request()
	}
	return out, nil
}

func (s *Store) parental(ctx context.Context, where string, arg any) (accounts.ParentalRequest, error) {
	ps, err := s.parentals(ctx, `WHERE `+where, arg)
	if err != nil {
		return accounts.ParentalRequest{}, err
	}
	if len(ps) == 0 {
		return accounts.ParentalRequest{}, notFound("request")
	}
	return ps[0], nil
}

// CreateParental implements accounts.Store.
func (s *Store) CreateParental(ctx context.Context, p accounts.ParentalRequest) error {
	_, err := s.ext(ctx).ExecContext(ctx, `INSERT INTO accounts_parental (id, parent_email, token_hash, code_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.ParentEmail, p.TokenHash, p.CodeHash, p.Created.UTC())
	return tr(err)
}

// ParentalByToken implements accounts.Store.
func (s *Store) ParentalByToken(ctx context.Context, tokenHash string) (accounts.ParentalRequest, error) {
	return s.parental(ctx, `token_hash = ?`, tokenHash)
}

// ParentalByCode implements accounts.Store.
func (s *Store) ParentalByCode(ctx context.Context, codeHash string) (accounts.ParentalRequest, error) {
	return s.parental(ctx, `code_hash = ?`, codeHash)
}

// ApproveParental implements accounts.Store.
func (s *Store) ApproveParental(ctx context.Context, id string, at time.Time) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_parental SET approved_at = COALESCE(approved_at, ?) WHERE id = ?`, at.UTC(), id))
	if err == nil && n == 0 {
		_, err = s.parental(ctx, `id = ?`, id)
	}
	return err
}

// DeleteParental implements accounts.Store.
func (s *Store) DeleteParental(ctx context.Context, id string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `DELETE FROM accounts_parental WHERE id = ?`, id))
	if err == nil && n == 0 {
		return notFound("request")
	}
	return err
}

// ParentalDue implements accounts.Store.
func (s *Store) ParentalDue(ctx context.Context, t time.Time, limit int) ([]accounts.ParentalRequest, error) {
	return s.parentals(ctx, `WHERE confirmed_at IS NULL AND approved_at IS NOT NULL AND approved_at < ? ORDER BY approved_at LIMIT ?`, t.UTC(), limit)
}

// ConfirmParental implements accounts.Store.
func (s *Store) ConfirmParental(ctx context.Context, id string, at time.Time, tokenHash string) error {
	n, err := affected(s.ext(ctx).ExecContext(ctx, `UPDATE accounts_parental SET confirmed_at = ?, token_hash = ? WHERE id = ? AND confirmed_at IS NULL`,
		at.UTC(), tokenHash, id))
	if err == nil && n == 0 {
		return privacy.Errorf(privacy.ErrGone, "the request was confirmed or deleted")
	}
	return err
}

// ParentalFor implements accounts.Store.
func (s *Store) ParentalFor(ctx context.Context, parent string) ([]accounts.ParentalRequest, error) {
	return s.parentals(ctx, `WHERE parent_key = LOWER(?) ORDER BY created_at`, parent)
}

// PurgeParental implements accounts.Store.
func (s *Store) PurgeParental(ctx context.Context, t time.Time) (int, error) {
	return affected(sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM accounts_parental WHERE account_id IS NULL AND created_at < ?`, t.UTC()))
}
