package mysqlstore

import (
	"context"
	cryptorand "crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements comments.Store on MySQL.
type Store struct {
	db        *sqlx.DB
	savepoint atomic.Int64 // names erasure's savepoints, unique in a transaction

	// version reads a thread's version, prepared on first use: every page view
	// asks, and a query with arguments unprepared is two round trips (prepare,
	// execute) where a prepared one is one.
	versionMu sync.Mutex
	version   atomic.Pointer[sql.Stmt]
	versions  *versionReads
}

var _ comments.Store = (*Store)(nil)

// New returns a store on db (opened with privacy/mysqlstore.Open). Call Migrate
// before first use.
func New(db *sqlx.DB) *Store {
	s := &Store{db: db}
	s.versions = newVersionReads(VersionLag, s.readVersion)
	return s
}

// Migrate creates or updates the store's tables. It is safe to call from several
// processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	sub, _ := fs.Sub(migrations, "migrations")
	return migrate.Up(ctx, s.db.DB, sub, "comments_migrations")
}

func tr(err error) error { return mysqldb.Translate(err) }

func notFound() error { return privacy.Errorf(privacy.ErrNotFound, "no such comment") }

func noSubscriber() error { return privacy.Errorf(privacy.ErrNotFound, "no such subscriber") }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func timeOf(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

// Do implements privacy.UnitOfWork over one transaction of the store's pool.
func (s *Store) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.do(ctx, func(ctx context.Context, _ *sqlx.Tx) error { return fn(ctx) })
}

// Database implements privacy.UnitOfWork: the pool, since one transaction is one
// connection of one pool.
func (s *Store) Database() string { return sqltx.Name(s.db) }

// do runs fn in the unit of work ctx carries, or else in a new transaction,
// which, when it changed a thread's version, returns VersionLag after its
// commit: whoever opened a unit of work commits it, and so waits.
func (s *Store) do(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	if sqltx.InTx(ctx, s.db) {
		return sqltx.Do(ctx, s.db, fn)
	}
	var touched bool
	err := sqltx.Do(context.WithValue(ctx, touchedKey{}, &touched), s.db, fn)
	if err == nil && touched {
		time.Sleep(VersionLag)
	}
	return err
}

// touchedKey carries, in the context of a transaction do opened, whether it
// changed a thread's version.
type touchedKey struct{}

// touch gives each of threads a new version inside tx. The version is random
// rather than counted so that none comes back even when the database is restored
// from a backup taken before it: a process that cached a page under a version
// will never see that version again with other comments. Threads are touched in
// order, after the comment rows, so concurrent transactions take locks in one order,
// and touchBatch at a time in one statement: an erasure touches every thread its
// subject wrote in, and a round trip each was a tenth of erasing 10,000 comments.
func touch(ctx context.Context, tx *sqlx.Tx, threads ...string) error {
	if p, ok := ctx.Value(touchedKey{}).(*bool); ok {
		*p = true
	}
	slices.Sort(threads)
	threads = slices.Compact(threads)
	for len(threads) > 0 {
		batch := threads[:min(len(threads), touchBatch)]
		threads = threads[len(batch):]
		args := make([]any, 0, 2*len(batch))
		for _, thread := range batch {
			args = append(args, thread, rand.Int64N(math.MaxInt64)+1) // never 0, the version of an untouched thread
		}
		q := `INSERT INTO comments_threads (thread, version) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, len(batch)-1) +
			` ON DUPLICATE KEY UPDATE version = VALUES(version)`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return tr(err)
		}
	}
	return nil
}

// touchBatch bounds the rows one statement of touch, or of erasure's tombstones,
// names, well below MySQL's 65,535 placeholders.
const touchBatch = 1000

func shown(status string) bool { return comments.Status(status).Shown() }

const cols = `id, thread, parent_id, name, email, source, html, digest, status, follow_up, hue, manage_hash, created_at, edited_at, moderated_at`

type row struct {
	ID        int64        `db:"id"`
	Thread    string       `db:"thread"`
	ParentID  int64        `db:"parent_id"`
	Name      string       `db:"name"`
	Email     string       `db:"email"`
	Source    string       `db:"source"`
	HTML      string       `db:"html"`
	Digest    string       `db:"digest"`
	Status    string       `db:"status"`
	FollowUp  bool         `db:"follow_up"`
	Hue       int          `db:"hue"`
	Manage    []byte       `db:"manage_hash"`
	Created   time.Time    `db:"created_at"`
	Edited    sql.NullTime `db:"edited_at"`
	Moderated sql.NullTime `db:"moderated_at"`
}

func (r row) comment() comments.Comment {
	return comments.Comment{ID: r.ID, Thread: r.Thread, ParentID: r.ParentID, Name: r.Name, Email: r.Email, Source: r.Source,
		HTML: r.HTML, Digest: r.Digest, Status: comments.Status(r.Status), FollowUp: r.FollowUp, Hue: r.Hue, Manage: r.Manage,
		Created: r.Created, Edited: timeOf(r.Edited), Moderated: timeOf(r.Moderated)}
}

func (s *Store) one(ctx context.Context, where string, args ...any) (comments.Comment, error) {
	var r row
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &r, `SELECT `+cols+` FROM comments_comments WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return comments.Comment{}, notFound()
	}
	if err != nil {
		return comments.Comment{}, tr(err)
	}
	return r.comment(), nil
}

func (s *Store) many(ctx context.Context, q string, args ...any) ([]comments.Comment, error) {
	var rows []row
	if err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows, `SELECT `+cols+` FROM comments_comments `+q, args...); err != nil {
		return nil, tr(err)
	}
	out := make([]comments.Comment, len(rows))
	for i, r := range rows {
		out[i] = r.comment()
	}
	return out, nil
}

// CreateComment implements comments.Store.
func (s *Store) CreateComment(ctx context.Context, c *comments.Comment) error {
	err := s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO comments_comments
			(thread, parent_id, name, email, source, html, digest, status, follow_up, hue, manage_hash, created_at, edited_at, moderated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Thread, c.ParentID, c.Name, c.Email, c.Source, c.HTML, c.Digest, string(c.Status), c.FollowUp, c.Hue, c.Manage,
			c.Created, nullTime(c.Edited), nullTime(c.Moderated))
		if err != nil {
			return tr(err)
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if c.Status.Shown() {
			return touch(ctx, tx, c.Thread)
		}
		return nil
	})
	if err != nil {
		c.ID = 0
	}
	return err
}

// Comment implements comments.Store.
func (s *Store) Comment(ctx context.Context, id int64) (comments.Comment, error) {
	return s.one(ctx, `id = ?`, id)
}

// CommentByManage implements comments.Store.
func (s *Store) CommentByManage(ctx context.Context, hash []byte) (comments.Comment, error) {
	return s.one(ctx, `manage_hash = ?`, hash)
}

// Thread implements comments.Store. It scans by hand: it is the read every page
// view makes, and sqlx's reflection was a good part of its cost.
func (s *Store) Thread(ctx context.Context, thread string) ([]comments.Comment, error) {
	rows, err := sqltx.Ext(ctx, s.db).QueryContext(ctx, `
		SELECT id, parent_id, name, html, status, hue, created_at, edited_at
		FROM comments_comments WHERE thread = ? AND status IN ('approved', 'deleted') ORDER BY id`, thread)
	if err != nil {
		return nil, tr(err)
	}
	defer rows.Close()
	out := make([]comments.Comment, 0, 64)
	for rows.Next() {
		c := comments.Comment{Thread: thread}
		var status string
		var edited sql.NullTime
		if err := rows.Scan(&c.ID, &c.ParentID, &c.Name, &c.HTML, &status, &c.Hue, &c.Created, &edited); err != nil {
			return nil, tr(err)
		}
		c.Status, c.Edited = comments.Status(status), timeOf(edited)
		out = append(out, c)
	}
	return out, tr(rows.Err())
}

// ThreadVersion implements comments.Store: one primary-key read, which takes no
// lock, so page views never wait for a writer. Outside a transaction, the views
// of a thread share reads (see versionReads), each answered by a read that
// started no more than VersionLag before it was asked.
func (s *Store) ThreadVersion(ctx context.Context, thread string) (int64, error) {
	if sqltx.InTx(ctx, s.db) {
		return scanVersion(sqltx.Ext(ctx, s.db).QueryRowxContext(ctx, versionQuery, thread))
	}
	return s.versions.get(ctx, thread)
}

const versionQuery = `SELECT version FROM comments_threads WHERE thread = ?`

// readVersion reads thread's version outside any transaction.
func (s *Store) readVersion(ctx context.Context, thread string) (int64, error) {
	stmt, err := s.versionStmt(ctx, versionQuery)
	if err != nil {
		return 0, tr(err)
	}
	return scanVersion(stmt.QueryRowContext(mysqldb.Waiting(ctx), thread))
}

// scanVersion returns the version row holds: 0 when the thread has none yet.
func scanVersion(row interface{ Scan(...any) error }) (int64, error) {
	var v int64
	err := row.Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, tr(err)
}

func (s *Store) versionStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if stmt := s.version.Load(); stmt != nil {
		return stmt, nil
	}
	s.versionMu.Lock()
	defer s.versionMu.Unlock()
	if stmt := s.version.Load(); stmt != nil {
		return stmt, nil
	}
	stmt, err := s.db.PrepareContext(mysqldb.Waiting(ctx), q)
	if err != nil {
		return nil, err // prepared again on the next call
	}
	s.version.Store(stmt)
	return stmt, nil
}

// Queue implements comments.Store.
func (s *Store) Queue(ctx context.Context, f comments.QueueFilter) ([]comments.Comment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	offset := max(f.Offset, 0)
	if f.Thread != "" {
		return s.many(ctx, `WHERE status = ? AND thread = ? ORDER BY id LIMIT ? OFFSET ?`, string(f.Status), f.Thread, limit, offset)
	}
	return s.many(ctx, `WHERE status = ? ORDER BY id LIMIT ? OFFSET ?`, string(f.Status), limit, offset)
}

// Comments implements comments.Store.
func (s *Store) Comments(ctx context.Context, after int64, limit int) ([]comments.Comment, error) {
	return s.many(ctx, `WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, q, args...)
	if err != nil {
		return 0, tr(err)
	}
	return res.RowsAffected()
}

// EditComment implements comments.Store.
func (s *Store) EditComment(ctx context.Context, id int64, source, html, digest string, at time.Time) error {
	return s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err == nil && cur.Status == string(comments.StatusDeleted) {
			err = notFound()
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE comments_comments SET source = ?, html = ?, digest = ?, edited_at = ? WHERE id = ?`,
			source, html, digest, at, id); err != nil {
			return tr(err)
		}
		if shown(cur.Status) {
			return touch(ctx, tx, cur.Thread)
		}
		return nil
	})
}

// SetHTML implements comments.Store.
func (s *Store) SetHTML(ctx context.Context, id int64, html string) error {
	return s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE comments_comments SET html = ? WHERE id = ?`, html, id); err != nil {
			return tr(err)
		}
		if shown(cur.Status) {
			return touch(ctx, tx, cur.Thread)
		}
		return nil
	})
}

// SetStatus implements comments.Store.
func (s *Store) SetStatus(ctx context.Context, id int64, at time.Time, decide func(comments.Status) (comments.Status, error)) error {
	return s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		to, err := decide(comments.Status(cur.Status))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE comments_comments SET status = ?, moderated_at = ? WHERE id = ?`, string(to), at, id); err != nil {
			return tr(err)
		}
		if shown(cur.Status) || to.Shown() {
			return touch(ctx, tx, cur.Thread)
		}
		return nil
	})
}

// locked is the part of a comment row a change decides on.
type locked struct {
	ID     int64  `db:"id"`
	Thread string `db:"thread"`
	Status string `db:"status"`
}

// lock reads id's thread and status and locks its row until tx ends. Returns
// ErrNotFound.
func lock(ctx context.Context, tx *sqlx.Tx, id int64) (locked, error) {
	var cur locked
	err := tx.GetContext(ctx, &cur, `SELECT id, thread, status FROM comments_comments WHERE id = ? FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return locked{}, notFound()
	}
	return cur, tr(err)
}

// del removes c or, when a comment replies to it, makes it a tombstone. It
// reports whether that changed what the thread shows: it did if c was shown, or
// if it is now a tombstone, which shows even when c was not.
func del(ctx context.Context, tx *sqlx.Tx, c locked) (changed bool, err error) {
	var replies bool
	if err := tx.GetContext(ctx, &replies, `SELECT EXISTS (SELECT 1 FROM comments_comments WHERE parent_id = ?)`, c.ID); err != nil {
		return false, tr(err)
	}
	if replies {
		_, err = tx.ExecContext(ctx, `UPDATE comments_comments SET status = 'deleted', name = '', email = '', source = '', html = '',
			digest = '', follow_up = FALSE, hue = 0, manage_hash = NULL WHERE id = ?`, c.ID)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM comments_comments WHERE id = ?`, c.ID)
	}
	return replies || shown(c.Status), tr(err)
}

// DeleteComment implements comments.Store.
func (s *Store) DeleteComment(ctx context.Context, id int64) error {
	return s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err == nil && cur.Status == string(comments.StatusDeleted) {
			err = notFound()
		}
		if err != nil {
			return err
		}
		changed, err := del(ctx, tx, cur)
		if err != nil || !changed {
			return err
		}
		return touch(ctx, tx, cur.Thread)
	})
}

func (s *Store) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &ok, `SELECT EXISTS (`+q+`)`, args...); err != nil {
		return false, tr(err)
	}
	return ok, nil
}

// Approved implements comments.Store.
func (s *Store) Approved(ctx context.Context, email string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &n, `SELECT COUNT(*) FROM comments_comments WHERE email_key = LOWER(?) AND status = 'approved'`, email)
	return n, tr(err)
}

// ThreadSize implements comments.Store.
func (s *Store) ThreadSize(ctx context.Context, thread string) (int, int64, error) {
	var n int
	var size int64
	err := sqltx.Ext(ctx, s.db).QueryRowxContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(LENGTH(html)), 0)
		FROM comments_comments WHERE thread = ? AND status IN ('pending', 'approved')`, thread).Scan(&n, &size)
	return n, size, tr(err)
}

// Duplicate implements comments.Store.
func (s *Store) Duplicate(ctx context.Context, q comments.DuplicateQuery) (bool, error) {
	if q.Since.IsZero() {
		return s.exists(ctx, `SELECT 1 FROM comments_comments WHERE digest = ? AND status <> 'deleted' AND thread = ? AND email_key = LOWER(?)`,
			q.Digest, q.Thread, q.Email)
	}
	return s.exists(ctx, `SELECT 1 FROM comments_comments WHERE digest = ? AND status <> 'deleted' AND ((thread = ? AND email_key = LOWER(?)) OR created_at >= ?)`,
		q.Digest, q.Thread, q.Email, q.Since)
}

// CommentsBy implements comments.Store.
func (s *Store) CommentsBy(ctx context.Context, email string) ([]comments.Comment, error) {
	return s.many(ctx, `WHERE email_key = LOWER(?) ORDER BY id`, email)
}

// EraseCommenter implements comments.Store, in a few statements whatever the
// number of comments (one statement per comment took 12.5 times one DELETE of
// them all). A comment that keeps a reply, however deep and from whom, stays as a
// tombstone: the pass that locks the subject's comments reads each one's parent
// and whether someone else's comment (or a tombstone) replies to it, and the walk
// up from those, and from those whose text is kept, is made here, where no
// recursion limit bounds it (MariaDB stops a recursive query at 1,000 levels).
func (s *Store) EraseCommenter(ctx context.Context, email string, keepText bool) (removed, kept int, err error) {
	err = s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		for attempt := 1; ; attempt++ {
			again, err := s.eraseOnce(ctx, tx, email, keepText, &removed, &kept)
			if err != nil || !again {
				return err
			}
			if attempt == eraseAttempts {
				return privacy.Errorf(privacy.ErrUnavailable, "comments by the address kept arriving during its erasure")
			}
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return removed, kept, nil
}

// eraseAttempts bounds how many times EraseCommenter starts again because the
// subject posted meanwhile.
const eraseAttempts = 3

// eraseOnce erases email's comments in tx, or reports that it must start again
// with nothing changed: at READ COMMITTED, locking the subject's comments locks
// no gap, so a comment they post meanwhile, in a thread erasure did not lock,
// would be deleted with the others and its thread shown from a cache still. The
// statements count every comment they change, and find that out.
func (s *Store) eraseOnce(ctx context.Context, tx *sqlx.Tx, email string, keepText bool, removed, kept *int) (again bool, err error) {
	*removed, *kept = 0, 0
	sp := fmt.Sprintf("comments_%d", s.savepoint.Add(1))
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
		return false, tr(err)
	}
	mine, err := lockErasable(ctx, tx, email, keepText)
	if err != nil {
		return false, err
	}
	if eraseLocked != nil {
		eraseLocked()
	}
	if mine.n == 0 {
		_, err := tx.ExecContext(ctx, `DELETE FROM comments_subscribers WHERE email_key = LOWER(?)`, email)
		return false, tr(err)
	}
	// A comment that keeps a reply, or whose text is kept, stays, and so do
	// its ancestors among the subject's comments, however deep (the walk ends
	// at someone else's, which the update leaves alone).
	stays := map[int64]bool{}
	for _, id := range mine.replied {
		for id != 0 && !stays[id] {
			stays[id] = true
			id = mine.parent[id]
		}
	}
	var tombstones []int64
	for id := range stays {
		if !mine.keptText[id] {
			tombstones = append(tombstones, id)
		}
	}
	slices.Sort(tombstones)
	for len(tombstones) > 0 {
		batch := tombstones[:min(len(tombstones), touchBatch)]
		tombstones = tombstones[len(batch):]
		q, args, err := sqlx.In(`UPDATE comments_comments SET status = 'deleted', name = '', email = '', source = '', html = '', digest = '',
			follow_up = FALSE, hue = 0, manage_hash = NULL WHERE id IN (?) AND email_key = LOWER(?)`, batch, email)
		if err != nil {
			return false, err
		}
		n, err := affected(tx.ExecContext(ctx, q, args...))
		if err != nil {
			return false, err
		}
		*removed += n
	}
	if keepText {
		if *kept, err = affected(tx.ExecContext(ctx, `UPDATE comments_comments SET name = '', email = '', follow_up = FALSE, hue = 0, manage_hash = NULL
			WHERE email_key = LOWER(?) AND status = 'approved'`, email)); err != nil {
			return false, err
		}
	}
	// By the index: with the subject's comments a tenth of the table, the
	// optimizer reads every row, twice as long as the index among 110,000.
	deleted, err := affected(tx.ExecContext(ctx, `DELETE c FROM comments_comments c FORCE INDEX (by_email) WHERE c.email_key = LOWER(?)`, email))
	if err != nil {
		return false, err
	}
	*removed += deleted
	if *removed+*kept != mine.n {
		_, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp)
		return true, tr(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM comments_subscribers WHERE email_key = LOWER(?)`, email); err != nil {
		return false, tr(err)
	}
	// Every thread the subject wrote in, though one that only held their
	// unpublished comments shows the same: a new version costs a page a render.
	return false, touch(ctx, tx, mine.threads...)
}

// erasable is what erasure decides on about a subject's comments.
type erasable struct {
	n        int
	threads  []string
	replied  []int64         // those that someone else's comment (or a tombstone) replies to, or whose text is kept
	parent   map[int64]int64 // of those that reply to another comment
	keptText map[int64]bool
}

// lockErasable locks the subject's comments and reads what erasure decides on in
// the same pass over them: one probe each for a reply, from the address key's
// index, which holds the parent. The plan is forced: parent_id is 0 for most
// comments, so the optimizer costs a probe at the table's average and, among
// 110,000 comments, read every row to lock the subject's.
func lockErasable(ctx context.Context, tx *sqlx.Tx, email string, keepText bool) (erasable, error) {
	m := erasable{parent: map[int64]int64{}, keptText: map[int64]bool{}}
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.parent_id, c.thread, c.status,
		EXISTS (SELECT 1 FROM comments_comments r FORCE INDEX (by_parent) WHERE r.parent_id = c.id AND r.email_key <> LOWER(?))
		FROM comments_comments c FORCE INDEX (by_email) WHERE c.email_key = LOWER(?) FOR UPDATE`, email, email)
	if err != nil {
		return m, tr(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var id, parent int64
		var thread, status string
		var replied bool
		if err := rows.Scan(&id, &parent, &thread, &status, &replied); err != nil {
			return m, tr(err)
		}
		m.n++
		if !seen[thread] {
			seen[thread] = true
			m.threads = append(m.threads, thread)
		}
		if parent != 0 {
			m.parent[id] = parent
		}
		keep := keepText && status == string(comments.StatusApproved)
		if keep {
			m.keptText[id] = true
		}
		if replied || keep {
			m.replied = append(m.replied, id)
		}
	}
	return m, tr(rows.Err())
}

// eraseLocked, set by a test, runs when erasure has locked the subject's comments.
var eraseLocked func()

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, tr(err)
	}
	n, err := res.RowsAffected()
	return int(n), tr(err)
}

// PurgeRejected implements comments.Store.
func (s *Store) PurgeRejected(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		var rows []locked
		if err := tx.SelectContext(ctx, &rows, `SELECT id, thread, status FROM comments_comments WHERE status = 'rejected' AND moderated_at < ? ORDER BY id DESC FOR UPDATE`, t); err != nil {
			return tr(err)
		}
		var threads []string
		for _, r := range rows {
			changed, err := del(ctx, tx, r)
			if err != nil {
				return err
			}
			if changed {
				threads = append(threads, r.Thread)
			}
		}
		n = len(rows)
		return touch(ctx, tx, threads...)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

const subCols = `email, confirm_hash, confirm_expires, confirmed_at, stopped_at, stop_hash, created_at`

type subRow struct {
	Email          string       `db:"email"`
	ConfirmHash    []byte       `db:"confirm_hash"`
	ConfirmExpires time.Time    `db:"confirm_expires"`
	Confirmed      sql.NullTime `db:"confirmed_at"`
	Stopped        sql.NullTime `db:"stopped_at"`
	StopHash       []byte       `db:"stop_hash"`
	Created        time.Time    `db:"created_at"`
}

func (r subRow) subscriber() comments.Subscriber {
	return comments.Subscriber{Email: r.Email, ConfirmHash: r.ConfirmHash, ConfirmExpires: r.ConfirmExpires,
		Confirmed: timeOf(r.Confirmed), Stopped: timeOf(r.Stopped), StopHash: r.StopHash, Created: r.Created}
}

func getSub(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (comments.Subscriber, error) {
	var r subRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+subCols+` FROM comments_subscribers WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return comments.Subscriber{}, noSubscriber()
	}
	if err != nil {
		return comments.Subscriber{}, tr(err)
	}
	return r.subscriber(), nil
}

// UpdateSubscriber implements comments.Store.
func (s *Store) UpdateSubscriber(ctx context.Context, key comments.SubscriberKey, decide func(comments.Subscriber) (comments.Subscriber, error)) (comments.Subscriber, error) {
	var out comments.Subscriber
	err := s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		out = comments.Subscriber{}
		cur, placeholder, err := lockSub(ctx, tx, key)
		if err != nil {
			return err
		}
		email := cur.Email
		if placeholder {
			email, cur = key.Email, comments.Subscriber{}
		}
		next, err := decide(cur)
		switch {
		case err != nil && placeholder:
			_, derr := tx.ExecContext(ctx, `DELETE FROM comments_subscribers WHERE email = ?`, email)
			return errors.Join(err, tr(derr))
		case err != nil:
			return err
		case next.Email == "":
			_, err := tx.ExecContext(ctx, `DELETE FROM comments_subscribers WHERE email = ?`, email)
			return tr(err)
		}
		next.Email = email
		if _, err := tx.ExecContext(ctx, `UPDATE comments_subscribers SET confirm_hash = ?, confirm_expires = ?, confirmed_at = ?,
			stopped_at = ?, stop_hash = ?, created_at = ? WHERE email = ?`,
			next.ConfirmHash, next.ConfirmExpires, nullTime(next.Confirmed), nullTime(next.Stopped), next.StopHash, next.Created, email); err != nil {
			return tr(err)
		}
		out = next
		return nil
	})
	return out, err
}

// lockSub reads and locks the subscriber key finds. For an Email key that finds
// none it inserts a placeholder row, locked too, and reports it: the insert takes
// the row's exclusive lock at once, where an insert that failed as a duplicate
// would hold a shared lock that two concurrent requests then both wait to
// upgrade, deadlocked. A placeholder's stop hash is random, so it collides with none.
func lockSub(ctx context.Context, tx *sqlx.Tx, key comments.SubscriberKey) (cur comments.Subscriber, placeholder bool, err error) {
	switch {
	case key.ConfirmHash != nil:
		cur, err = getSub(ctx, tx, `confirm_hash = ? FOR UPDATE`, key.ConfirmHash)
		return cur, false, err
	case key.StopHash != nil:
		cur, err = getSub(ctx, tx, `stop_hash = ? FOR UPDATE`, key.StopHash)
		return cur, false, err
	}
	var stop [32]byte
	if _, err := cryptorand.Read(stop[:]); err != nil {
		return cur, false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO comments_subscribers (email, confirm_expires, stop_hash, created_at)
		VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE email = email`, key.Email, time.Unix(0, 0).UTC(), stop[:], time.Unix(0, 0).UTC())
	if err != nil {
		return cur, false, tr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return cur, true, nil
	}
	cur, err = getSub(ctx, tx, `email_key = LOWER(?) FOR UPDATE`, key.Email)
	return cur, false, err
}

// Subscriber implements comments.Store.
func (s *Store) Subscriber(ctx context.Context, email string) (comments.Subscriber, error) {
	return getSub(ctx, sqltx.Ext(ctx, s.db), `email_key = LOWER(?)`, email)
}

// SubscriberByConfirm implements comments.Store.
func (s *Store) SubscriberByConfirm(ctx context.Context, hash []byte) (comments.Subscriber, error) {
	return getSub(ctx, sqltx.Ext(ctx, s.db), `confirm_hash = ?`, hash)
}

// SubscriberByStop implements comments.Store.
func (s *Store) SubscriberByStop(ctx context.Context, hash []byte) (comments.Subscriber, error) {
	return getSub(ctx, sqltx.Ext(ctx, s.db), `stop_hash = ?`, hash)
}

// FollowUpStatuses implements comments.Store. It reads through the transaction ctx
// carries, so the mail guard sees the comment being written.
func (s *Store) FollowUpStatuses(ctx context.Context, email string) ([]comments.Status, error) {
	var out []comments.Status
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &out,
		`SELECT DISTINCT status FROM comments_comments WHERE email_key = LOWER(?) AND follow_up`, email)
	return out, tr(err)
}

// PurgeSubscribers implements comments.Store.
func (s *Store) PurgeSubscribers(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM comments_subscribers
		WHERE stopped_at IS NULL AND (
		  (confirmed_at IS NULL AND confirm_expires <= ?) OR
		  (confirmed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM comments_comments c WHERE c.email_key = comments_subscribers.email_key)))`, t)
	return int(n), err
}

// UseStamp implements comments.Store. The row of a stamp that expired is
// replaced, so a hash is refused only while it is spent.
func (s *Store) UseStamp(ctx context.Context, hash []byte, expires, now time.Time) error {
	return s.do(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM comments_stamps WHERE hash = ? AND expires_at <= ?`, hash, now); err != nil {
			return tr(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO comments_stamps (hash, expires_at) VALUES (?, ?)`, hash, expires)
		if errors.Is(tr(err), privacy.ErrConflict) {
			return privacy.Errorf(privacy.ErrConflict, "form stamp already used")
		}
		return tr(err)
	})
}

// StampUsed implements comments.Store.
func (s *Store) StampUsed(ctx context.Context, hash []byte, now time.Time) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM comments_stamps WHERE hash = ? AND expires_at > ?`, hash, now)
}

// PurgeStamps implements comments.Store.
func (s *Store) PurgeStamps(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM comments_stamps WHERE expires_at <= ?`, t)
	return int(n), err
}
