// Package mysqlstore keeps contact requests in MySQL (MariaDB 10.6 or later), in the
// tables contact_requests and contact_replies, migrated under contact_migrations.
//
// Every statement joins the unit of work (Do) ctx carries. Give it the same
// *sqlx.DB as privacy/mysqlstore: the notification a new request causes is then
// enqueued in the request's transaction, and is kept if and only if the request is.
package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements contact.Store on MySQL.
type Store struct {
	db *sqlx.DB
}

var _ contact.Store = (*Store)(nil)

// New returns a store on db (open it with privacy/mysqlstore.Open). Call Migrate
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
// processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	sub, _ := fs.Sub(migrations, "migrations")
	return migrate.Up(ctx, s.db.DB, sub, "contact_migrations")
}

func tr(err error) error { return mysqldb.Translate(err) }

var errNotFound = privacy.Errorf(privacy.ErrNotFound, "no such contact request")

type row struct {
	ID       int64        `db:"id"`
	Ref      string       `db:"ref"`
	Name     string       `db:"name"`
	Email    string       `db:"email"`
	Subject  string       `db:"subject"`
	Message  string       `db:"message"`
	Category string       `db:"category"`
	Status   string       `db:"status"`
	AckSent  bool         `db:"ack_sent"`
	Created  time.Time    `db:"created_at"`
	Updated  time.Time    `db:"updated_at"`
	Closed   sql.NullTime `db:"closed_at"`
	// Replies is a COUNT(*), never NULL in a statement that succeeds, but a
	// Galera node that aborts a statement for a replicated write while it
	// computes the count (AddReply's FOR UPDATE, or any read of a transaction
	// holding a lock) sends the row with the count NULL, then error 1213:
	// galeratest's TestCluster shows it. Scanned into an int, the NULL failed
	// first and hid the 1213, which sqltx runs the transaction again for;
	// nullable, the row scans and the statement's own error is returned.
	Replies sql.NullInt64 `db:"replies"`
}

func (r row) request() contact.Request {
	return contact.Request{ID: r.ID, Ref: r.Ref, Name: r.Name, Email: r.Email, Subject: r.Subject, Message: r.Message,
		Category: r.Category, Status: contact.Status(r.Status), AckSent: r.AckSent, Created: r.Created, Updated: r.Updated,
		Closed: r.Closed.Time, Replies: int(r.Replies.Int64)}
}

const columns = `r.id, r.ref, r.name, r.email, r.subject, r.message, r.category, r.status, r.ack_sent,
	r.created_at, r.updated_at, r.closed_at,
	(SELECT COUNT(*) FROM contact_replies p WHERE p.request_id = r.id) AS replies`

// Create implements contact.Store.
func (s *Store) Create(ctx context.Context, r *contact.Request) error {
	var closed sql.NullTime
	if !r.Closed.IsZero() {
		closed = sql.NullTime{Time: r.Closed, Valid: true}
	}
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO contact_requests
		(ref, name, email, email_lc, subject, message, category, status, ack_sent, created_at, updated_at, closed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Ref, r.Name, r.Email, privacy.AddressKey(r.Email), r.Subject, r.Message, r.Category, r.Status, r.AckSent,
		r.Created, r.Updated, closed)
	if err != nil {
		return tr(err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

// Get implements contact.Store.
func (s *Store) Get(ctx context.Context, ref string) (contact.Request, error) {
	ext := sqltx.Ext(ctx, s.db)
	var rw row
	if err := sqlx.GetContext(ctx, ext, &rw, `SELECT `+columns+` FROM contact_requests r WHERE r.ref = ?`, ref); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return contact.Request{}, errNotFound
		}
		return contact.Request{}, tr(err)
	}
	r := rw.request()
	threads, err := s.threads(ctx, []int64{r.ID})
	if err != nil {
		return contact.Request{}, err
	}
	r.Thread = threads[r.ID]
	return r, nil
}

func (s *Store) threads(ctx context.Context, ids []int64) (map[int64][]contact.Reply, error) {
	out := map[int64][]contact.Reply{}
	if len(ids) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT id, request_id, staff_id, staff, text, created_at FROM contact_replies WHERE request_id IN (?) ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		ID        int64     `db:"id"`
		RequestID int64     `db:"request_id"`
		StaffID   string    `db:"staff_id"`
		Staff     string    `db:"staff"`
		Text      string    `db:"text"`
		Created   time.Time `db:"created_at"`
	}
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &raw, q, args...); err != nil {
		return nil, tr(err)
	}
	for _, x := range raw {
		out[x.RequestID] = append(out[x.RequestID], contact.Reply{ID: x.ID, StaffID: x.StaffID, Staff: x.Staff, Text: x.Text, At: x.Created})
	}
	return out, nil
}

// List implements contact.Store.
func (s *Store) List(ctx context.Context, f contact.Filter) ([]contact.Request, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT r.id, r.ref, r.name, r.email, r.subject, '' AS message, r.category, r.status, r.ack_sent,
		r.created_at, r.updated_at, r.closed_at,
		(SELECT COUNT(*) FROM contact_replies p WHERE p.request_id = r.id) AS replies
		FROM contact_requests r`
	var args []any
	if f.Status != "" {
		q += ` WHERE r.status = ?`
		args = append(args, f.Status)
	}
	q += ` ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))
	var rows []row
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, q, args...); err != nil {
		return nil, tr(err)
	}
	out := make([]contact.Request, len(rows))
	for i, rw := range rows {
		out[i] = rw.request()
	}
	return out, nil
}

// AddReply implements contact.Store.
func (s *Store) AddReply(ctx context.Context, ref string, decide func(contact.Request) (contact.Reply, error)) (contact.Reply, error) {
	var rep contact.Reply
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		var rw row
		// The lock keeps a concurrent Close from slipping between decide and the insert.
		err := tx.GetContext(ctx, &rw, `SELECT `+columns+` FROM contact_requests r WHERE r.ref = ? FOR UPDATE`, ref)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errNotFound
		case err != nil:
			return tr(err)
		}
		if rep, err = decide(rw.request()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO contact_replies (request_id, staff_id, staff, text, created_at) VALUES (?, ?, ?, ?, ?)`,
			rw.ID, rep.StaffID, rep.Staff, rep.Text, rep.At)
		if err != nil {
			return tr(err)
		}
		if rep.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE contact_requests SET updated_at = ? WHERE id = ?`, rep.At, rw.ID)
		return tr(err)
	})
	if err != nil {
		return contact.Reply{}, err
	}
	return rep, nil
}

// Close implements contact.Store.
func (s *Store) Close(ctx context.Context, ref string, at time.Time) error {
	return s.setStatus(ctx, ref, contact.StatusOpen, contact.StatusClosed, sql.NullTime{Time: at, Valid: true}, at)
}

// Reopen implements contact.Store.
func (s *Store) Reopen(ctx context.Context, ref string, at time.Time) error {
	return s.setStatus(ctx, ref, contact.StatusClosed, contact.StatusOpen, sql.NullTime{}, at)
}

// setStatus moves the request ref from status from to to; a request already in to
// is left as it is.
func (s *Store) setStatus(ctx context.Context, ref string, from, to contact.Status, closed sql.NullTime, at time.Time) error {
	ext := sqltx.Ext(ctx, s.db)
	res, err := ext.ExecContext(ctx, `UPDATE contact_requests SET status = ?, closed_at = ?, updated_at = ? WHERE ref = ? AND status = ?`,
		to, closed, at, ref, from)
	n, err := affected(res, err)
	if err != nil || n > 0 {
		return err
	}
	var exists bool
	if err := sqlx.GetContext(ctx, ext, &exists, `SELECT EXISTS (SELECT 1 FROM contact_requests WHERE ref = ?)`, ref); err != nil {
		return tr(err)
	}
	if !exists {
		return errNotFound
	}
	return nil
}

// Answerable implements contact.Store. It queries through the transaction ctx
// carries, so the Mailer's purpose check sees a request not yet committed.
func (s *Store) Answerable(ctx context.Context, email string, closedSince time.Time) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &ok,
		`SELECT EXISTS (SELECT 1 FROM contact_requests WHERE email = ? AND (status = ? OR closed_at >= ?))`,
		email, contact.StatusOpen, closedSince)
	return ok, tr(err)
}

// AckedSince implements contact.Store.
func (s *Store) AckedSince(ctx context.Context, email string, since time.Time) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &ok,
		`SELECT EXISTS (SELECT 1 FROM contact_requests WHERE email_lc = ? AND ack_sent AND created_at >= ?)`,
		privacy.AddressKey(email), since)
	return ok, tr(err)
}

// ByEmail implements contact.Store.
func (s *Store) ByEmail(ctx context.Context, email string) ([]contact.Request, error) {
	var rows []row
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows,
		`SELECT `+columns+` FROM contact_requests r WHERE r.email_lc = ? ORDER BY r.id`, privacy.AddressKey(email)); err != nil {
		return nil, tr(err)
	}
	ids := make([]int64, len(rows))
	for i, rw := range rows {
		ids[i] = rw.ID
	}
	threads, err := s.threads(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []contact.Request
	for _, rw := range rows {
		r := rw.request()
		r.Thread = threads[r.ID]
		out = append(out, r)
	}
	return out, nil
}

// EraseEmail implements contact.Store. Replies go with their request (ON DELETE CASCADE).
func (s *Store) EraseEmail(ctx context.Context, email string) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM contact_requests WHERE email_lc = ?`, privacy.AddressKey(email))
	return affected(res, err)
}

// purgeBatch bounds how many rows one DELETE locks, so a large purge does not stall
// the form.
const purgeBatch = 1000

// Purge implements contact.Store.
func (s *Store) Purge(ctx context.Context, t time.Time) (int, error) {
	total := 0
	for {
		res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM contact_requests WHERE status = ? AND closed_at < ? ORDER BY closed_at LIMIT ?`,
			contact.StatusClosed, t, purgeBatch)
		n, err := affected(res, err)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
