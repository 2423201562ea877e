package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements newsletter.Store on MySQL.
type Store struct {
	db *sqlx.DB
}

var _ newsletter.Store = (*Store)(nil)

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
	return migrate.Up(ctx, s.db.DB, sub, "newsletter_migrations")
}

func tr(err error) error { return mysqldb.Translate(err) }

type subRow struct {
	ID             int64        `db:"id"`
	Email          string       `db:"email"`
	List           string       `db:"list"`
	Status         string       `db:"status"`
	Source         string       `db:"source"`
	PolicyVersion  string       `db:"policy_version"`
	CreatedAt      time.Time    `db:"created_at"`
	ConfirmedAt    sql.NullTime `db:"confirmed_at"`
	LeftAt         sql.NullTime `db:"left_at"`
	ConfirmHash    []byte       `db:"confirm_hash"`
	ConfirmSentAt  sql.NullTime `db:"confirm_sent_at"`
	ConfirmExpires sql.NullTime `db:"confirm_expires"`
}

const subCols = `id, email, list, status, source, policy_version, created_at, confirmed_at, left_at, confirm_hash, confirm_sent_at, confirm_expires`

func (r subRow) sub() newsletter.Subscription {
	return newsletter.Subscription{
		ID: r.ID, Email: r.Email, List: newsletter.List(r.List), Status: newsletter.Status(r.Status),
		Source: r.Source, PolicyVersion: r.PolicyVersion, CreatedAt: r.CreatedAt,
		ConfirmedAt: r.ConfirmedAt.Time, LeftAt: r.LeftAt.Time, ConfirmHash: r.ConfirmHash,
		ConfirmSentAt: r.ConfirmSentAt.Time, ConfirmExpires: r.ConfirmExpires.Time,
	}
}

func subs(rows []subRow) []newsletter.Subscription {
	out := make([]newsletter.Subscription, len(rows))
	for i, r := range rows {
		out[i] = r.sub()
	}
	return out
}

// nt stores a zero time as NULL.
func nt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func nb(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Subscription implements newsletter.Store. It reads through the transaction ctx
// carries, so the purpose check of a mail enqueued in a change sees that change.
func (s *Store) Subscription(ctx context.Context, email string, list newsletter.List) (newsletter.Subscription, error) {
	var r subRow
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE email_key = LOWER(?) AND list = ?`, email, list)
	if err != nil {
		return newsletter.Subscription{}, tr(err)
	}
	return r.sub(), nil
}

// SubscriptionsTo implements newsletter.Store.
func (s *Store) SubscriptionsTo(ctx context.Context, list newsletter.List, emails []string) ([]newsletter.Subscription, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(emails)+1)
	args = append(args, list)
	for _, e := range emails {
		args = append(args, e)
	}
	var rows []subRow
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE list = ? AND email_key IN (`+
		strings.TrimSuffix(strings.Repeat("LOWER(?),", len(emails)), ",")+`)`, args...)
	return subs(rows), tr(err)
}

// Subscriptions implements newsletter.Store.
func (s *Store) Subscriptions(ctx context.Context, email string) ([]newsletter.Subscription, error) {
	var rows []subRow
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE email_key = LOWER(?) ORDER BY list`, email)
	return subs(rows), tr(err)
}

// SubscriptionByID implements newsletter.Store.
func (s *Store) SubscriptionByID(ctx context.Context, id int64) (newsletter.Subscription, error) {
	var r subRow
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE id = ?`, id)
	if err != nil {
		return newsletter.Subscription{}, tr(err)
	}
	return r.sub(), nil
}

// SubscriptionsByConfirmHash implements newsletter.Store.
func (s *Store) SubscriptionsByConfirmHash(ctx context.Context, hash []byte) ([]newsletter.Subscription, error) {
	if len(hash) == 0 {
		return nil, nil
	}
	var rows []subRow
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE confirm_hash = ? ORDER BY list`, hash)
	return subs(rows), tr(err)
}

// retryable reports a deadlock or a duplicate key from two first subscriptions of
// one address racing: run again, the loser then sees the winner's row.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1062)
}

func duplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// UpdateSubscriptions implements newsletter.Store. The address's rows are locked
// (SELECT ... FOR UPDATE) and written in the unit of work ctx carries, or a
// transaction of their own. A racing insert is retried: a duplicate key undoes only
// its statement, so the transaction goes on. A deadlock, which undoes the whole
// transaction, is retried only when this call opened it (sqltx.Do retries the
// caller's).
func (s *Store) UpdateSubscriptions(ctx context.Context, email string, decide func([]newsletter.Subscription) ([]newsletter.Subscription, error)) ([]newsletter.Subscription, error) {
	_, joined := sqltx.Ext(ctx, s.db).(*sqlx.Tx)
	var out []newsletter.Subscription
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
			var rows []subRow
			if err := tx.SelectContext(ctx, &rows, `SELECT `+subCols+` FROM newsletter_subscriptions WHERE email_key = LOWER(?) ORDER BY list FOR UPDATE`, email); err != nil {
				return err
			}
			o, err := decide(subs(rows))
			if err != nil {
				return err
			}
			for i := range o {
				if err := s.write(ctx, tx, email, &o[i]); err != nil {
					return err
				}
			}
			out = o
			return nil
		})
		if !retryable(err) || joined && !duplicate(err) {
			break
		}
	}
	if err != nil {
		return nil, tr(err)
	}
	return out, nil
}

func (s *Store) write(ctx context.Context, tx *sqlx.Tx, email string, sub *newsletter.Subscription) error {
	if privacy.AddressKey(sub.Email) != privacy.AddressKey(email) || !sub.List.Valid() {
		return privacy.Invalid("subscription", "belongs to another address or list")
	}
	if sub.ID == 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO newsletter_subscriptions (email, list, status, source, policy_version, created_at, confirmed_at, left_at, confirm_hash, confirm_sent_at, confirm_expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.Email, sub.List, sub.Status, sub.Source, sub.PolicyVersion, sub.CreatedAt.UTC(),
			nt(sub.ConfirmedAt), nt(sub.LeftAt), nb(sub.ConfirmHash), nt(sub.ConfirmSentAt), nt(sub.ConfirmExpires))
		if err != nil {
			return err
		}
		sub.ID, err = res.LastInsertId()
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE newsletter_subscriptions SET status = ?, source = ?, policy_version = ?, confirmed_at = ?, left_at = ?,
		confirm_hash = ?, confirm_sent_at = ?, confirm_expires = ? WHERE id = ? AND email_key = LOWER(?)`,
		sub.Status, sub.Source, sub.PolicyVersion, nt(sub.ConfirmedAt), nt(sub.LeftAt),
		nb(sub.ConfirmHash), nt(sub.ConfirmSentAt), nt(sub.ConfirmExpires), sub.ID, email)
	return err
}

// EraseSubscriptions implements newsletter.Store.
func (s *Store) EraseSubscriptions(ctx context.Context, email string) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM newsletter_subscriptions WHERE email_key = LOWER(?)`, email)
	return affected(res, err)
}

// PurgeSubscriptions implements newsletter.Store.
func (s *Store) PurgeSubscriptions(ctx context.Context, pendingBefore, leftBefore time.Time) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM newsletter_subscriptions WHERE status = 'pending' AND (confirm_expires IS NULL OR confirm_expires < ?)`, pendingBefore.UTC())
	n, err := affected(res, err)
	if err != nil || leftBefore.IsZero() {
		return n, err
	}
	res, err = sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM newsletter_subscriptions WHERE status = 'unsubscribed' AND left_at < ?`, leftBefore.UTC())
	m, err := affected(res, err)
	return n + m, err
}

// CountConfirmed implements newsletter.Store.
func (s *Store) CountConfirmed(ctx context.Context, list newsletter.List) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &n, `SELECT COUNT(*) FROM newsletter_subscriptions WHERE list = ? AND status = 'confirmed'`, list)
	return n, tr(err)
}

type campRow struct {
	ID         int64        `db:"id"`
	List       string       `db:"list"`
	Subject    string       `db:"subject"`
	Markdown   string       `db:"markdown"`
	HTML       string       `db:"html"`
	Text       string       `db:"text"`
	Status     string       `db:"status"`
	SendAt     sql.NullTime `db:"send_at"`
	Cursor     int64        `db:"cursor_id"`
	Total      int          `db:"total"`
	Enqueued   int          `db:"enqueued"`
	Skipped    int          `db:"skipped"`
	CreatedBy  string       `db:"created_by"`
	CreatedAt  time.Time    `db:"created_at"`
	UpdatedAt  time.Time    `db:"updated_at"`
	StartedAt  sql.NullTime `db:"started_at"`
	FinishedAt sql.NullTime `db:"finished_at"`
}

const campCols = `id, list, subject, markdown, html, text, status, send_at, cursor_id, total, enqueued, skipped, created_by, created_at, updated_at, started_at, finished_at`

func (r campRow) campaign() newsletter.Campaign {
	return newsletter.Campaign{
		ID: r.ID, List: newsletter.List(r.List), Subject: r.Subject, Markdown: r.Markdown, HTML: r.HTML, Text: r.Text,
		Status: newsletter.CampaignStatus(r.Status), SendAt: r.SendAt.Time, Cursor: r.Cursor, Total: r.Total,
		Enqueued: r.Enqueued, Skipped: r.Skipped, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		StartedAt: r.StartedAt.Time, FinishedAt: r.FinishedAt.Time,
	}
}

// CreateCampaign implements newsletter.Store.
func (s *Store) CreateCampaign(ctx context.Context, c *newsletter.Campaign) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO newsletter_campaigns
		(list, subject, markdown, html, text, status, send_at, cursor_id, total, enqueued, skipped, created_by, created_at, updated_at, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.List, c.Subject, c.Markdown, c.HTML, c.Text, c.Status, nt(c.SendAt), c.Cursor, c.Total, c.Enqueued, c.Skipped,
		c.CreatedBy, c.CreatedAt.UTC(), c.UpdatedAt.UTC(), nt(c.StartedAt), nt(c.FinishedAt))
	if err != nil {
		return tr(err)
	}
	c.ID, err = res.LastInsertId()
	return err
}

// Campaign implements newsletter.Store.
func (s *Store) Campaign(ctx context.Context, id int64) (newsletter.Campaign, error) {
	var r campRow
	if err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+campCols+` FROM newsletter_campaigns WHERE id = ?`, id); err != nil {
		return newsletter.Campaign{}, tr(err)
	}
	return r.campaign(), nil
}

// Campaigns implements newsletter.Store.
func (s *Store) Campaigns(ctx context.Context, limit int) ([]newsletter.Campaign, error) {
	var rows []campRow
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+campCols+` FROM newsletter_campaigns ORDER BY id DESC LIMIT ?`, limit); err != nil {
		return nil, tr(err)
	}
	out := make([]newsletter.Campaign, len(rows))
	for i, r := range rows {
		out[i] = r.campaign()
	}
	return out, nil
}

// UpdateCampaign implements newsletter.Store.
func (s *Store) UpdateCampaign(ctx context.Context, id int64, fn func(c *newsletter.Campaign) error) (newsletter.Campaign, error) {
	var c newsletter.Campaign
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		var r campRow
		if err := tx.GetContext(ctx, &r, `SELECT `+campCols+` FROM newsletter_campaigns WHERE id = ? FOR UPDATE`, id); err != nil {
			return err
		}
		c = r.campaign()
		if err := fn(&c); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE newsletter_campaigns SET list = ?, subject = ?, markdown = ?, html = ?, text = ?, status = ?,
			send_at = ?, cursor_id = ?, total = ?, enqueued = ?, skipped = ?, updated_at = ?, started_at = ?, finished_at = ? WHERE id = ?`,
			c.List, c.Subject, c.Markdown, c.HTML, c.Text, c.Status, nt(c.SendAt), c.Cursor, c.Total, c.Enqueued, c.Skipped,
			c.UpdatedAt.UTC(), nt(c.StartedAt), nt(c.FinishedAt), id)
		return err
	})
	if err != nil {
		return newsletter.Campaign{}, tr(err)
	}
	c.ID = id
	return c, nil
}

// DueCampaigns implements newsletter.Store.
func (s *Store) DueCampaigns(ctx context.Context, now time.Time) ([]newsletter.Campaign, error) {
	var rows []campRow
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+campCols+` FROM newsletter_campaigns
		WHERE status = 'sending' OR (status = 'scheduled' AND send_at <= ?) ORDER BY id`, now.UTC())
	if err != nil {
		return nil, tr(err)
	}
	out := make([]newsletter.Campaign, len(rows))
	for i, r := range rows {
		out[i] = r.campaign()
	}
	return out, nil
}

// EnqueueBatch implements newsletter.Store: the campaign row is locked, the batch's
// messages are enqueued and the cursor advanced in one transaction.
func (s *Store) EnqueueBatch(ctx context.Context, id int64, limit int, now time.Time, send newsletter.SendFunc) (newsletter.Batch, error) {
	var b newsletter.Batch
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		b = newsletter.Batch{}
		var c struct {
			Status string `db:"status"`
			List   string `db:"list"`
			Cursor int64  `db:"cursor_id"`
		}
		if err := tx.GetContext(ctx, &c, `SELECT status, list, cursor_id FROM newsletter_campaigns WHERE id = ? FOR UPDATE`, id); err != nil {
			return err
		}
		b.Status = newsletter.CampaignStatus(c.Status)
		if b.Status != newsletter.CampaignSending {
			return nil
		}
		var rs []struct {
			ID    int64  `db:"id"`
			Email string `db:"email"`
		}
		if err := tx.SelectContext(ctx, &rs, `SELECT id, email FROM newsletter_subscriptions
			WHERE list = ? AND status = 'confirmed' AND id > ? ORDER BY id LIMIT ?`, c.List, c.Cursor, limit); err != nil {
			return err
		}
		cursor := c.Cursor
		if len(rs) > 0 {
			batch := make([]newsletter.Recipient, len(rs))
			for i, r := range rs {
				batch[i] = newsletter.Recipient{ID: r.ID, Email: r.Email}
			}
			n, err := send(ctx, batch)
			if err != nil {
				return err
			}
			b.Enqueued, b.Skipped = n, len(rs)-n
			cursor = rs[len(rs)-1].ID
		}
		done := len(rs) < limit
		if done {
			b.Status = newsletter.CampaignSent
		}
		_, err := tx.ExecContext(ctx, `UPDATE newsletter_campaigns SET cursor_id = ?, enqueued = enqueued + ?, skipped = skipped + ?,
			status = ?, updated_at = ?, finished_at = IF(?, ?, finished_at) WHERE id = ?`,
			cursor, b.Enqueued, b.Skipped, b.Status, now.UTC(), done, now.UTC(), id)
		return err
	})
	if err != nil {
		return newsletter.Batch{}, tr(err)
	}
	return b, nil
}

// WithSyncCursor implements newsletter.Store.
func (s *Store) WithSyncCursor(ctx context.Context, fn func(ctx context.Context, cursor int64) (int64, error)) error {
	return tr(sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		var cur int64
		if err := tx.GetContext(ctx, &cur, `SELECT cursor_id FROM newsletter_sync WHERE name = 'consents' FOR UPDATE`); err != nil {
			return err
		}
		next, err := fn(ctx, cur)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE newsletter_sync SET cursor_id = GREATEST(cursor_id, ?) WHERE name = 'consents'`, next)
		return err
	}))
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
