// Package mysqlstore keeps the privacy kernel's outbox, suppression list, consent
// records and access log in MySQL (MariaDB 10.6 or later). Outbox workers claim rows
// with SELECT ... FOR UPDATE SKIP LOCKED under a lease, so several processes share one
// outbox without sending a message twice or losing one when a process dies.
//
// A capability's MySQL store that opened a transaction passes it in the context (see
// its Store methods); Enqueue and AppendConsent then join it, so a message or consent
// record exists if and only if the change that caused it commits. For that, the
// capability and this store must use the same database.
package mysqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to a MySQL database with the options every consentkit store needs
// (UTC times, utf8mb4, strict mode). Pass the result to each capability's mysqlstore.
func Open(ctx context.Context, dsn string) (*sqlx.DB, error) { return mysqldb.Open(ctx, dsn) }

// Store implements privacy.Store on MySQL.
type Store struct {
	db    *sqlx.DB
	group group
}

var _ privacy.Store = (*Store)(nil)

// New returns a store on db. Call Migrate before first use.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// Do implements privacy.UnitOfWork: fn runs in one transaction (READ COMMITTED)
// that every store on the same pool joins through ctx.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return sqltx.Do(ctx, s.db, func(ctx context.Context, _ *sqlx.Tx) error { return fn(ctx) })
}

// Database implements privacy.UnitOfWork: the pool, since one transaction is one
// connection of one pool. Give every store of a site the same *sqlx.DB.
func (s *Store) Database() string { return sqltx.Name(s.db) }

// Ext returns what a host's own SQL runs on to join the unit of work ctx carries
// (see Do): its transaction, or the pool outside one.
//
//	err := store.Do(ctx, func(ctx context.Context) error {
//		if _, err := store.Ext(ctx).ExecContext(ctx, "INSERT INTO orders ...", ...); err != nil {
//			return err
//		}
//		_, err := mailer.Send(ctx, receipt) // queued only if the order commits
//		return err
//	})
func (s *Store) Ext(ctx context.Context) sqlx.ExtContext { return sqltx.Ext(ctx, s.db) }

// Migrate creates or updates the store's tables. It is safe to call from several
// processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	sub, _ := fs.Sub(migrations, "migrations")
	return migrate.Up(ctx, s.db.DB, sub, "privacy_migrations")
}

func tr(err error) error { return mysqldb.Translate(err) }

// Enqueue implements privacy.OutboxStore. In a transaction it joins, the message is
// one INSERT of it; outside one, it shares an insert and its commit with the
// messages other callers enqueue at the same time (see group).
func (s *Store) Enqueue(ctx context.Context, msg *privacy.Message) (int64, error) {
	return s.enqueue(ctx, msg, lease{})
}

// EnqueueLeased implements privacy.LeasingStore: Enqueue, with the row inserted
// as a claim leaves it (owner set, due_at at the lease's end).
func (s *Store) EnqueueLeased(ctx context.Context, msg *privacy.Message, owner string, until time.Time) (int64, error) {
	if privacy.InUnitOfWork(ctx) {
		return 0, privacy.ErrInUnitOfWork
	}
	return s.enqueue(ctx, msg, lease{owner, until.UTC()})
}

// lease is a message's claim as it is enqueued; the zero lease is none.
type lease struct {
	owner string
	until time.Time
}

// values are the owner and due_at columns of a message enqueued at now. A claim's
// lease ends when due_at says; the column lease_until (migration 00001) is no
// longer written, as nothing ever read it. It stays until a later migration,
// because processes of an earlier version, still running during a rolling
// upgrade, write it.
func (l lease) values(now time.Time) (owner any, due time.Time) {
	if l.owner == "" {
		return nil, now
	}
	return l.owner, l.until
}

func (s *Store) enqueue(ctx context.Context, msg *privacy.Message, l lease) (int64, error) {
	if !sqltx.InTx(ctx, s.db) {
		if id, err := s.group.enqueue(ctx, s.db, msg, l); !errors.Is(err, errAlone) {
			return id, err
		}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	owner, due := l.values(now)
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx,
		`INSERT INTO privacy_outbox (purpose, subject, recipient, ref, body, due_at, created_at, owner)
		 SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL
		 WHERE NOT EXISTS (SELECT 1 FROM privacy_suppression WHERE address_hash IN (?, ?))`,
		msg.Purpose, msg.DataSubject, msg.To.Email, msg.Ref, body, due, now, owner, privacy.SuppressionKey(msg.To.Email), legacyKey(msg.To.Email))
	if err != nil {
		return 0, tr(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return 0, err
		}
		return 0, &privacy.RefusalError{Reason: privacy.RefusedSuppressed, Purpose: msg.Purpose}
	}
	return res.LastInsertId()
}

// A multi-row insert holds at most enqueueRows messages and about enqueueBytes of
// them, well inside max_allowed_packet (16 MiB by default).
const (
	enqueueRows  = 500
	enqueueBytes = 4 << 20
)

// EnqueueBatch implements privacy.OutboxStore: per chunk of messages, one look-up
// of the suppressed recipients and one multi-row INSERT ... RETURNING, in one
// transaction (the one ctx carries, if any).
func (s *Store) EnqueueBatch(ctx context.Context, msgs []*privacy.Message) ([]int64, error) {
	return s.enqueueBatch(ctx, msgs, nil)
}

// EnqueueBatchLeased implements privacy.LeasingStore.
func (s *Store) EnqueueBatchLeased(ctx context.Context, msgs []*privacy.Message, owner string, until time.Time) ([]int64, error) {
	leases := make([]lease, len(msgs))
	for i := range leases {
		leases[i] = lease{owner: owner, until: until}
	}
	return s.enqueueBatch(ctx, msgs, leases)
}

// enqueueBatch is EnqueueBatch, each message under its lease (none when leases is
// nil).
func (s *Store) enqueueBatch(ctx context.Context, msgs []*privacy.Message, leases []lease) ([]int64, error) {
	ids := make([]int64, len(msgs))
	bodies := make([][]byte, len(msgs))
	for i, msg := range msgs {
		b, err := json.Marshal(msg)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	now := time.Now().UTC()
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		for start := 0; start < len(msgs); {
			end := chunkEnd(bodies, start)
			var ls []lease
			if leases != nil {
				ls = leases[start:end]
			}
			if err := enqueueChunk(ctx, tx, nil, nil, msgs[start:end], ls, bodies[start:end], ids[start:end], now); err != nil {
				return err
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return nil, tr(err)
	}
	return ids, nil
}

// chunkEnd returns where the chunk of bodies that starts at start ends.
func chunkEnd(bodies [][]byte, start int) int {
	end, size := start, 0
	for end < len(bodies) && end-start < enqueueRows && (end == start || size+len(bodies[end]) <= enqueueBytes) {
		size += len(bodies[end])
		end++
	}
	return end
}

// enqueueChunk inserts msgs, but those to a suppressed recipient, each under its
// lease (none when leases is nil), and sets their ids. The insert is a prepared
// statement of stmts on pool, when stmts (nil in a transaction) holds one for its
// rows.
func enqueueChunk(ctx context.Context, db sqlx.QueryerContext, pool *sqlx.DB, stmts *insertStmts, msgs []*privacy.Message, leases []lease, bodies [][]byte, ids []int64, now time.Time) error {
	// An address typed in lower case, as most are, has one key, not two.
	keys := make([]string, 0, 2*len(msgs))
	args := make([]any, 0, 2*len(msgs))
	for _, msg := range msgs {
		k := privacy.SuppressionKey(msg.To.Email)
		legacy := k
		args = append(args, k)
		if privacy.AddressKey(msg.To.Email) != msg.To.Email {
			legacy = legacyKey(msg.To.Email)
			args = append(args, legacy)
		}
		keys = append(keys, k, legacy)
	}
	var hit []string
	if err := sqlx.SelectContext(ctx, db, &hit, `SELECT address_hash FROM privacy_suppression WHERE address_hash IN (?`+
		strings.Repeat(", ?", len(args)-1)+`)`, args...); err != nil {
		return err
	}
	suppressed := make(map[string]bool, len(hit))
	for _, h := range hit {
		suppressed[h] = true
	}
	var rows []int // the index of each row inserted
	args = args[:0]
	for i, msg := range msgs {
		if suppressed[keys[2*i]] || suppressed[keys[2*i+1]] {
			continue
		}
		var l lease
		if leases != nil {
			l = leases[i]
		}
		owner, due := l.values(now)
		rows = append(rows, i)
		args = append(args, msg.Purpose, msg.DataSubject, msg.To.Email, msg.Ref, bodies[i], due, now, owner)
	}
	if len(rows) == 0 {
		return nil
	}
	// RETURNING gives the rows' ids in the order of the VALUES, whatever the
	// auto-increment step (a Galera node's is the cluster's size). It does not
	// promise that order: each row's recipient is checked, so that no caller is
	// ever given another's id.
	var got []struct {
		ID        int64  `db:"id"`
		Recipient string `db:"recipient"`
	}
	err := stmts.run(ctx, pool, len(rows), func(st *sqlx.Stmt) error {
		return st.SelectContext(mysqldb.Waiting(ctx), &got, args...)
	})
	if errors.Is(err, errNotPrepared) {
		err = sqlx.SelectContext(ctx, db, &got, insertQuery(len(rows)), args...)
	}
	if err != nil {
		return err
	}
	if len(got) != len(rows) {
		return fmt.Errorf("outbox insert returned %d ids for %d rows", len(got), len(rows))
	}
	for k, i := range rows {
		if got[k].Recipient != msgs[i].To.Email {
			return errors.New("outbox insert returned its rows out of order")
		}
		ids[i] = got[k].ID
	}
	return nil
}

func insertQuery(rows int) string {
	return `INSERT INTO privacy_outbox (purpose, subject, recipient, ref, body, due_at, created_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)` +
		strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?)", rows-1) + ` RETURNING id, recipient`
}

// insertStmts holds the outbox insert prepared for each number of rows up to
// preparedRows, for the group inserts. A prepared statement's values go to the
// server in the binary protocol, and the server parses the statement once a
// connection rather than once an insert: an insert of 16 messages took a quarter
// less of the server's CPU than with its values in the text (BENCHMARKS.md).
// Larger inserts, rarer, go as text, which keeps the statements this holds on the
// server at most preparedRows a connection (max_prepared_stmt_count is 16,382 by
// default, for the whole server). A server that refuses to prepare one more gets
// text from then on.
type insertStmts struct {
	mu       sync.Mutex
	byRows   [preparedRows + 1]*sqlx.Stmt
	disabled bool
}

const preparedRows = 32

// errNotPrepared is run's answer when the insert is to go as text.
var errNotPrepared = errors.New("not prepared")

// run calls fn with the insert of rows prepared on db, or returns errNotPrepared.
func (p *insertStmts) run(ctx context.Context, db *sqlx.DB, rows int, fn func(*sqlx.Stmt) error) error {
	if p == nil || rows > preparedRows {
		return errNotPrepared
	}
	p.mu.Lock()
	if p.disabled {
		p.mu.Unlock()
		return errNotPrepared
	}
	st := p.byRows[rows]
	if st == nil {
		var err error
		if st, err = db.PreparexContext(mysqldb.Waiting(ctx), insertQuery(rows)); err != nil {
			p.disabled = tooManyPrepared(err)
			p.mu.Unlock()
			if p.disabled {
				return errNotPrepared
			}
			return err
		}
		p.byRows[rows] = st
	}
	p.mu.Unlock()
	// database/sql prepares the statement again on each connection it runs on;
	// there too the server may refuse, before anything ran.
	err := fn(st)
	if tooManyPrepared(err) {
		p.mu.Lock()
		p.disabled = true
		p.mu.Unlock()
		return errNotPrepared
	}
	return err
}

// tooManyPrepared reports whether err is the server's refusal to prepare a
// statement: max_prepared_stmt_count reached.
func tooManyPrepared(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1461
}

// Claim implements privacy.OutboxStore.
func (s *Store) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]privacy.Item, error) {
	return s.MarkSentAndClaim(ctx, owner, nil, limit, now, lease)
}

// MarkSentAndClaim implements privacy.OutboxStore.
func (s *Store) MarkSentAndClaim(ctx context.Context, owner string, sent []int64, limit int, now time.Time, lease time.Duration) ([]privacy.Item, error) {
	var items []privacy.Item
	err := sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		items = nil // a conflict runs this again
		if err := markSent(ctx, tx, owner, sent, now); err != nil {
			return err
		}
		var rows []struct {
			ID         int64     `db:"id"`
			Body       []byte    `db:"body"`
			Attempts   int       `db:"attempts"`
			Created    time.Time `db:"created_at"`
			Reclaimed  bool      `db:"reclaimed"`
			Suppressed bool      `db:"suppressed"`
		}
		// A claim moves due_at to the end of the lease, so rows held by live workers
		// are not due and the index on (state, due_at, id) yields the next due rows
		// in order, without sorting or skipping over the claimed ones. The
		// suppression subqueries take no lock: only the outbox rows are claimed.
		// They look for the address under SuppressionKey (lower case) and under the
		// spelling rows were suppressed by before that (legacyKey), one key each:
		// `address_hash IN (SHA2(...), SHA2(...))` of the outer row made MariaDB
		// scan the whole suppression list for every row claimed (EXPLAIN: type
		// index), where each `=` is one primary-key look-up (eq_ref).
		err := tx.SelectContext(ctx, &rows, `
			SELECT o.id, o.body, o.attempts, o.created_at, o.owner IS NOT NULL AS reclaimed,
			       EXISTS (SELECT 1 FROM privacy_suppression s WHERE s.address_hash = SHA2(o.recipient_key, 256))
			       OR EXISTS (SELECT 1 FROM privacy_suppression s WHERE s.address_hash = SHA2(o.recipient, 256)) AS suppressed
			FROM privacy_outbox o
			WHERE o.state = 0 AND o.due_at <= ?
			ORDER BY o.due_at, o.id LIMIT ? FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			var it privacy.Item
			if err := json.Unmarshal(r.Body, &it.Message); err != nil {
				return fmt.Errorf("outbox message %d: %w", r.ID, err)
			}
			it.ID, it.Attempts, it.Created, it.Suppressed = r.ID, r.Attempts, r.Created, r.Suppressed
			if r.Reclaimed {
				it.Attempts++ // its worker died mid-attempt
			}
			items = append(items, it)
			ids[i] = r.ID
		}
		q, args, err := sqlx.In(`UPDATE privacy_outbox SET attempts = attempts + (owner IS NOT NULL), owner = ?, due_at = ? WHERE id IN (?)`,
			owner, now.Add(lease), ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return items, tr(err)
}

// MarkSent implements privacy.OutboxStore.
func (s *Store) MarkSent(ctx context.Context, owner string, ids []int64, now time.Time) error {
	return tr(markSent(ctx, sqltx.Ext(ctx, s.db), owner, ids, now))
}

func markSent(ctx context.Context, db sqlx.ExecerContext, owner string, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE privacy_outbox SET state = 1, owner = NULL, ended_at = ? WHERE id IN (?) AND owner = ? AND state = 0`, now, ids, owner)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, q, args...)
	return err
}

// Retry implements privacy.OutboxStore.
func (s *Store) Retry(ctx context.Context, owner string, id int64, next time.Time, reason string) error {
	_, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `UPDATE privacy_outbox SET owner = NULL, due_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND owner = ? AND state = 0`,
		next, clip(reason, 500), id, owner)
	return tr(err)
}

// MarkFailed implements privacy.OutboxStore.
func (s *Store) MarkFailed(ctx context.Context, owner string, id int64, reason string, now time.Time) error {
	_, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `UPDATE privacy_outbox SET state = 2, owner = NULL, ended_at = ?, last_error = ? WHERE id = ? AND owner = ? AND state = 0`,
		now, clip(reason, 500), id, owner)
	return tr(err)
}

// Release implements privacy.OutboxStore.
func (s *Store) Release(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE privacy_outbox SET owner = NULL, due_at = created_at WHERE id IN (?) AND owner = ? AND state = 0`, ids, owner)
	if err != nil {
		return err
	}
	_, err = sqltx.Ext(ctx, s.db).ExecContext(ctx, q, args...)
	return tr(err)
}

// legacyKey is how an address was hashed before SuppressionKey lower-cased it:
// rows suppressed then still count, for the spelling they were suppressed under.
func legacyKey(addr string) string {
	h := sha256.Sum256([]byte(addr))
	return hex.EncodeToString(h[:])
}

// Suppress implements privacy.OutboxStore.
func (s *Store) Suppress(ctx context.Context, addr, reason string, now time.Time) error {
	_, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO privacy_suppression (address_hash, reason, created_at) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE reason = VALUES(reason)`,
		privacy.SuppressionKey(addr), clip(reason, 200), now)
	return tr(err)
}

// Suppressed implements privacy.OutboxStore.
func (s *Store) Suppressed(ctx context.Context, addr string) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &n, `SELECT COUNT(*) FROM privacy_suppression WHERE address_hash IN (?, ?)`, privacy.SuppressionKey(addr), legacyKey(addr))
	return n > 0, tr(err)
}

// Recipient implements privacy.OutboxStore.
func (s *Store) Recipient(ctx context.Context, id int64) (string, error) {
	var to string
	err := s.db.GetContext(ctx, &to, `SELECT recipient FROM privacy_outbox WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", privacy.Errorf(privacy.ErrNotFound, "outbox message %d not found", id)
	}
	return to, tr(err)
}

// OutboxStats implements privacy.OutboxStore.
func (s *Store) OutboxStats(ctx context.Context, ref string) (privacy.OutboxStats, error) {
	var rows []struct {
		State int `db:"state"`
		N     int `db:"n"`
	}
	q, args := `SELECT state, COUNT(*) AS n FROM privacy_outbox GROUP BY state`, []any{}
	if ref != "" {
		q, args = `SELECT state, COUNT(*) AS n FROM privacy_outbox WHERE ref = ? GROUP BY state`, []any{ref}
	}
	var st privacy.OutboxStats
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, q, args...); err != nil {
		return st, tr(err)
	}
	for _, r := range rows {
		switch r.State {
		case 0:
			st.Queued = r.N
		case 1:
			st.Sent = r.N
		default:
			st.Failed += r.N
		}
	}
	return st, nil
}

// PurgeOutbox implements privacy.OutboxStore.
func (s *Store) PurgeOutbox(ctx context.Context, t time.Time) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_outbox WHERE state IN (1, 2) AND ended_at < ?`, t)
	return affected(res, err)
}

// EraseOutbox implements privacy.OutboxStore.
func (s *Store) EraseOutbox(ctx context.Context, subject string) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_outbox WHERE subject_key = LOWER(?) OR recipient_key = LOWER(?)`, subject, subject)
	return affected(res, err)
}

// CountMail implements privacy.OutboxStore. One upsert both counts and reads the
// count back (through LAST_INSERT_ID(expr), which the statement's result carries),
// so two processes counting at once each see their own number.
func (s *Store) CountMail(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx,
		`INSERT INTO privacy_mail_counts (key_hash, sent, ends_at) VALUES (?, LAST_INSERT_ID(1), ?)
		 ON DUPLICATE KEY UPDATE
		   sent = LAST_INSERT_ID(IF(ends_at <= ?, 1, LEAST(sent + 1, 1000000))),
		   ends_at = IF(ends_at <= ?, VALUES(ends_at), ends_at)`,
		key, now.Add(window), now, now)
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.LastInsertId()
	return int(n), err
}

// PurgeMailCounts implements privacy.OutboxStore.
func (s *Store) PurgeMailCounts(ctx context.Context, t time.Time) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_mail_counts WHERE ends_at <= ?`, t)
	return affected(res, err)
}

// AppendConsent implements privacy.ConsentStore.
func (s *Store) AppendConsent(ctx context.Context, c *privacy.Consent) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx,
		`INSERT INTO privacy_consent (subject, purpose, granted, policy_version, source, at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Subject, c.Purpose, c.Granted, c.PolicyVersion, c.Source, c.At)
	if err != nil {
		return tr(err)
	}
	c.ID, err = res.LastInsertId()
	return err
}

// ConsentHistory implements privacy.ConsentStore.
func (s *Store) ConsentHistory(ctx context.Context, subject string) ([]privacy.Consent, error) {
	var out []privacy.Consent
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, `SELECT * FROM privacy_consent WHERE subject_key = LOWER(?) ORDER BY id`, subject)
	return out, tr(err)
}

// ConsentsAfter implements privacy.ConsentStore.
func (s *Store) ConsentsAfter(ctx context.Context, after int64, limit int) ([]privacy.Consent, error) {
	var out []privacy.Consent
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, `SELECT * FROM privacy_consent WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	return out, tr(err)
}

// EraseConsents implements privacy.ConsentStore.
func (s *Store) EraseConsents(ctx context.Context, subject string) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_consent WHERE subject_key = LOWER(?)`, subject)
	return affected(res, err)
}

// RecordAccess implements privacy.AccessLog.
func (s *Store) RecordAccess(ctx context.Context, a privacy.Access) error {
	_, err := sqltx.Ext(ctx, s.db).ExecContext(ctx,
		`INSERT INTO privacy_access (actor_id, actor, role, subject, what, why, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ActorID, a.Actor, a.Role, a.Subject, clip(a.What, 200), clip(a.Why, 200), a.At)
	return tr(err)
}

// ListAccess implements privacy.AccessLog.
func (s *Store) ListAccess(ctx context.Context, f privacy.AccessFilter) ([]privacy.Access, error) {
	var where []string
	var args []any
	if f.ActorID != "" {
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID)
	}
	if f.Subject != "" {
		where, args = append(where, "subject_key = LOWER(?)"), append(args, f.Subject)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since)
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, f.Until)
	}
	q := `SELECT * FROM privacy_access`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id DESC LIMIT ?"
	var out []privacy.Access
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, q, append(args, limit)...)
	return out, tr(err)
}

// CreateRequest implements privacy.RightsStore.
func (s *Store) CreateRequest(ctx context.Context, r *privacy.RightsRequest) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO privacy_requests (kind, subject, token_hash, created_at) VALUES (?, ?, ?, ?)`,
		r.Kind, r.Subject, r.TokenHash, r.Created)
	if err != nil {
		return tr(err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

const requestCols = `id, kind, subject, token_hash, created_at, confirmed, COALESCE(download_hash, '') AS download_hash, COALESCE(download_by, created_at) AS download_by`

// RequestByToken implements privacy.RightsStore.
func (s *Store) RequestByToken(ctx context.Context, h []byte) (*privacy.RightsRequest, error) {
	var r privacy.RightsRequest
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+requestCols+` FROM privacy_requests WHERE token_hash = ?`, h)
	if err != nil {
		return nil, tr(err)
	}
	return &r, nil
}

// RequestByDownload implements privacy.RightsStore.
func (s *Store) RequestByDownload(ctx context.Context, h []byte) (*privacy.RightsRequest, error) {
	var r privacy.RightsRequest
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+requestCols+` FROM privacy_requests WHERE download_hash = ?`, h)
	if err != nil {
		return nil, tr(err)
	}
	return &r, nil
}

// UpdateRequest implements privacy.RightsStore.
func (s *Store) UpdateRequest(ctx context.Context, r *privacy.RightsRequest) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `UPDATE privacy_requests SET confirmed = ?, download_hash = ?, download_by = ? WHERE id = ?`,
		r.Confirmed, r.DownloadHash, r.DownloadBy, r.ID)
	n, err := affected(res, err)
	if err == nil && n == 0 {
		return privacy.Errorf(privacy.ErrNotFound, "no such request")
	}
	return err
}

// DeleteRequest implements privacy.RightsStore.
func (s *Store) DeleteRequest(ctx context.Context, id int64) error {
	_, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_requests WHERE id = ?`, id)
	return tr(err)
}

// HasRequest implements privacy.RightsStore.
func (s *Store) HasRequest(ctx context.Context, subject string, since time.Time) (bool, error) {
	var n int
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &n, `SELECT COUNT(*) FROM privacy_requests WHERE subject_key = LOWER(?) AND created_at >= ?`, subject, since)
	return n > 0, tr(err)
}

// EraseRequests implements privacy.RightsStore.
func (s *Store) EraseRequests(ctx context.Context, subject string) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_requests WHERE subject_key = LOWER(?)`, subject)
	return affected(res, err)
}

// PurgeRequests implements privacy.RightsStore.
func (s *Store) PurgeRequests(ctx context.Context, t time.Time) (int, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM privacy_requests WHERE created_at < ?`, t)
	return affected(res, err)
}

// AppendRightsEvent implements privacy.RightsStore.
func (s *Store) AppendRightsEvent(ctx context.Context, e *privacy.RightsEvent) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO privacy_rights_events (kind, holders, records, at) VALUES (?, ?, ?, ?)`,
		e.Kind, e.Holders, e.Records, e.At)
	if err != nil {
		return tr(err)
	}
	e.ID, err = res.LastInsertId()
	return err
}

// RightsEvents implements privacy.RightsStore.
func (s *Store) RightsEvents(ctx context.Context, limit int) ([]privacy.RightsEvent, error) {
	var out []privacy.RightsEvent
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, `SELECT * FROM privacy_rights_events ORDER BY id DESC LIMIT ?`, limit)
	return out, tr(err)
}

// AppendDisclosure implements privacy.DisclosureStore.
func (s *Store) AppendDisclosure(ctx context.Context, d *privacy.Disclosure) error {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `INSERT INTO privacy_disclosures (subject, basis, reference, requester, note, actor_id, actor, holders, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.Subject, d.Basis, d.Reference, d.Requester, d.Note, d.ActorID, d.Actor, d.Holders, d.At)
	if err != nil {
		return tr(err)
	}
	d.ID, err = res.LastInsertId()
	return err
}

// ListDisclosures implements privacy.DisclosureStore.
func (s *Store) ListDisclosures(ctx context.Context, subject string, limit int) ([]privacy.Disclosure, error) {
	var out []privacy.Disclosure
	var err error
	if subject == "" {
		err = sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, `SELECT * FROM privacy_disclosures ORDER BY id DESC LIMIT ?`, limit)
	} else {
		err = sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out, `SELECT * FROM privacy_disclosures WHERE subject_key = LOWER(?) ORDER BY id DESC LIMIT ?`, subject, limit)
	}
	return out, tr(err)
}

// Pseudonymize implements privacy.Store.
func (s *Store) Pseudonymize(ctx context.Context, subject, pseudonym string) (int, error) {
	total := 0
	for _, table := range []string{"privacy_access", "privacy_disclosures"} {
		res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `UPDATE `+table+`
			SET subject = IF(subject_key = LOWER(?), ?, subject), actor = IF(actor_key = LOWER(?), ?, actor)
			WHERE subject_key = LOWER(?) OR actor_key = LOWER(?)`, subject, pseudonym, subject, pseudonym, subject, subject)
		n, err := affected(res, err)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// Locker is a privacy.Locker over MySQL named locks (GET_LOCK), shared by every
// process on the database. A lock belongs to a connection, so a process that dies
// releases it.
//
// The lock's connection is held while the work it guards asks db's pool for more:
// it comes from a pool of the Locker's own (when db came from Open), so a bounded
// pool never has one of its connections held by a lock while that lock's holder
// waits for another. Close closes it.
type Locker struct{ db *sql.DB }

// NewLocker returns a Locker on db's server.
func NewLocker(db *sqlx.DB) *Locker {
	if c, ok := mysqldb.Connector(db.DB); ok {
		return &Locker{db: sql.OpenDB(c)}
	}
	return &Locker{db: db.DB}
}

// Close closes the Locker's own connections; a lock still held is released.
func (l *Locker) Close() error { return l.db.Close() }

// TryLock implements privacy.Locker.
func (l *Locker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, false, tr(err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+mysqldb.LockName+`, 0)`, name).Scan(&got); err != nil {
		conn.Close()
		return nil, false, tr(err)
	}
	if got.Int64 != 1 {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(`+mysqldb.LockName+`)`, name)
		conn.Close()
	}, true, nil
}

func affected(res interface{ RowsAffected() (int64, error) }, err error) (int, error) {
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
