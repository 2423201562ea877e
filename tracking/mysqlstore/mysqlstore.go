package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/migrate"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements tracking.Store on MySQL.
type Store struct {
	db     *sqlx.DB
	pruned atomic.Int64 // unix nanoseconds of the last pruning of old batch keys
}

var _ tracking.Store = (*Store)(nil)

// New returns a store on db (opened with privacy/mysqlstore.Open or mysqldb.Open, for
// UTC times). Call Migrate before first use.
func New(db *sqlx.DB) *Store { return &Store{db: db} }

// Migrate creates or updates the store's tables. It is safe to call from several
// processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	sub, _ := fs.Sub(migrations, "migrations")
	return migrate.Up(ctx, s.db.DB, sub, "tracking_migrations")
}

type table struct {
	name, column string // column is "" for the bots total
}

var tables = map[tracking.Dimension]table{
	tracking.Paths:     {"tracking_paths", "path"},
	tracking.Domains:   {"tracking_domains", "domain"},
	tracking.Browsers:  {"tracking_browsers", "browser"},
	tracking.MIMETypes: {"tracking_mime_types", "mime_type"},
	tracking.Bots:      {"tracking_bots", ""},
}

// valueCol returns the value column for SELECT lists; the bots total has none.
func (t table) valueCol() string {
	if t.column == "" {
		return "''"
	}
	return t.column
}

// DATETIME starts at year 1000; an earlier bound means "from the beginning".
var minTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)

func clamp(t time.Time) time.Time {
	if t.Before(minTime) {
		return minTime
	}
	return t.UTC()
}

// Add implements tracking.Store. It runs its own transaction, which first records the
// batch's key (a key already recorded ends it: the batch was added), and retries it
// when MySQL picks it as a deadlock victim (which rolls it back whole), so a busy
// database only slows a flush down. At most once an hour it then deletes the keys
// older than tracking.KeyMemory.
func (s *Store) Add(ctx context.Context, batch string, counts []tracking.Count) error {
	if err := tracking.CheckKey(batch); err != nil {
		return err
	}
	for _, c := range counts {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	if len(counts) == 0 {
		return nil
	}
	var err error
	for attempt := range 5 {
		if err = s.add(ctx, batch, counts); !isDeadlock(err) {
			break
		}
		select {
		case <-ctx.Done():
			return mysqldb.Translate(err)
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	if err != nil {
		return mysqldb.Translate(err)
	}
	s.prune(ctx)
	return nil
}

// prune deletes the batch keys older than tracking.KeyMemory, at most once an hour. A
// failure only leaves them for the next time: they take room, not correctness.
func (s *Store) prune(ctx context.Context) {
	now, last := time.Now().UnixNano(), s.pruned.Load()
	if now-last < int64(time.Hour) || !s.pruned.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.db.ExecContext(ctx, `DELETE FROM tracking_batches WHERE added_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND`,
		int64(tracking.KeyMemory/time.Second))
}

func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

const chunk = 500

func (s *Store) add(ctx context.Context, batch string, counts []tracking.Count) error {
	tx, err := s.db.BeginTxx(mysqldb.Waiting(ctx), nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `INSERT IGNORE INTO tracking_batches (batch_key, added_at) VALUES (?, UTC_TIMESTAMP(6))`, batch)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // added before
	}
	// Tables in one fixed order, so concurrent flushes lock in the same order.
	for _, d := range tracking.Dimensions() {
		var rows []tracking.Count
		for _, c := range counts {
			if c.Dim == d {
				rows = append(rows, c)
			}
		}
		for len(rows) > 0 {
			n := min(len(rows), chunk)
			if err := upsert(ctx, tx, tables[d], rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
	}
	return tx.Commit()
}

func upsert(ctx context.Context, tx *sqlx.Tx, t table, rows []tracking.Count) error {
	var q strings.Builder
	args := make([]any, 0, 4*len(rows))
	if t.column == "" {
		q.WriteString("INSERT INTO " + t.name + " (period, period_start, views) VALUES ")
	} else {
		q.WriteString("INSERT INTO " + t.name + " (period, period_start, " + t.column + ", views) VALUES ")
	}
	for i, c := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		if t.column == "" {
			q.WriteString("(?,?,?)")
			args = append(args, c.Period, c.Start.UTC(), c.N)
		} else {
			q.WriteString("(?,?,?,?)")
			args = append(args, c.Period, c.Start.UTC(), c.Value, c.N)
		}
	}
	q.WriteString(" ON DUPLICATE KEY UPDATE views = views + VALUES(views)")
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// Counts implements tracking.Store.
func (s *Store) Counts(ctx context.Context, dim tracking.Dimension, from, to time.Time) ([]tracking.Count, error) {
	t, ok := tables[dim]
	if !ok {
		return nil, privacy.Invalid("dimension", "unknown dimension %q", dim)
	}
	var rows []struct {
		Period tracking.Period `db:"period"`
		Start  time.Time       `db:"period_start"`
		Value  string          `db:"value"`
		N      int64           `db:"views"`
	}
	err := sqlx.SelectContext(ctx, sqltx.Ext(ctx, s.db), &rows,
		`SELECT period, period_start, `+t.valueCol()+` AS value, views FROM `+t.name+
			` WHERE period_start >= ? AND period_start < ? ORDER BY period_start, period, value`,
		clamp(from), clamp(to))
	if err != nil {
		return nil, mysqldb.Translate(err)
	}
	out := make([]tracking.Count, len(rows))
	for i, r := range rows {
		out[i] = tracking.Count{Dim: dim, Period: r.Period, Start: r.Start.UTC(), Value: r.Value, N: r.N}
	}
	return out, nil
}

// Rollup implements tracking.Store. It merges one target period at a time, each in a
// transaction that first locks the rows it merges, so a concurrent rollup waits and
// then finds them gone, and a late flush into that range waits and is rolled up by
// the next run.
func (s *Store) Rollup(ctx context.Context, from, to tracking.Period, before time.Time) (int, error) {
	if err := tracking.CheckRollup(from, to, before); err != nil {
		return 0, err
	}
	merged := 0
	for _, d := range tracking.Dimensions() {
		t := tables[d]
		for {
			var first sql.NullTime
			err := sqlx.GetContext(ctx, sqltx.Ext(ctx, s.db), &first, `SELECT MIN(period_start) FROM `+t.name+` WHERE period = ? AND period_start < ?`, from, before.UTC())
			if err != nil {
				return merged, mysqldb.Translate(err)
			}
			if !first.Valid {
				break
			}
			start := to.Truncate(first.Time)
			var n int
			for attempt := 0; ; attempt++ {
				n, err = s.rollupOne(ctx, t, from, to, start, to.Next(start))
				if !isDeadlock(err) || attempt == 4 {
					break
				}
			}
			if err != nil {
				return merged, mysqldb.Translate(err)
			}
			merged += n
		}
	}
	return merged, nil
}

func (s *Store) rollupOne(ctx context.Context, t table, from, to tracking.Period, start, end time.Time) (int, error) {
	tx, err := s.db.BeginTxx(mysqldb.Waiting(ctx), nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	var locked []time.Time
	if err := tx.SelectContext(ctx, &locked, `SELECT period_start FROM `+t.name+
		` WHERE period_start >= ? AND period_start < ? AND period = ? FOR UPDATE`, start, end, from); err != nil {
		return 0, err
	}
	if len(locked) == 0 {
		return 0, tx.Commit()
	}
	insert := `INSERT INTO ` + t.name + ` (period, period_start, ` + t.column + `, views) SELECT ?, ?, ` + t.column +
		`, SUM(views) FROM ` + t.name + ` WHERE period_start >= ? AND period_start < ? AND period = ? GROUP BY ` + t.column
	if t.column == "" {
		insert = `INSERT INTO ` + t.name + ` (period, period_start, views) SELECT ?, ?, SUM(views) FROM ` + t.name +
			` WHERE period_start >= ? AND period_start < ? AND period = ?`
	}
	if _, err := tx.ExecContext(ctx, insert+` ON DUPLICATE KEY UPDATE views = views + VALUES(views)`, to, start, start, end, from); err != nil {
		return 0, fmt.Errorf("roll up %s: %w", t.name, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM `+t.name+` WHERE period_start >= ? AND period_start < ? AND period = ?`, start, end, from)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), tx.Commit()
}

// DeleteBefore implements tracking.Store, in batches so no one statement holds many
// locks for long.
func (s *Store) DeleteBefore(ctx context.Context, before time.Time) (int, error) {
	const batch = 5000
	deleted := 0
	for _, d := range tracking.Dimensions() {
		for {
			res, err := sqltx.Ext(ctx, s.db).ExecContext(ctx, `DELETE FROM `+tables[d].name+` WHERE period_start < ? LIMIT `+fmt.Sprint(batch), clamp(before))
			if err != nil {
				return deleted, mysqldb.Translate(err)
			}
			n, _ := res.RowsAffected()
			deleted += int(n)
			if n < batch {
				break
			}
		}
	}
	return deleted, nil
}
