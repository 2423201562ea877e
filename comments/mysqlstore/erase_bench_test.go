package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/internal/sqltx"
)

const (
	eraseSubject  = "prolific@example.org"
	eraseComments = 10_000
)

// seedErase stores eraseComments comments by eraseSubject across 100 threads, half
// published, each hundredth replied to by someone else (so erasure leaves 100
// tombstones), in a few multi-row inserts.
func seedErase(b testing.TB, db *sqlx.DB) {
	b.Helper()
	now := time.Now().UTC()
	const rows = 500
	for start := 0; start < eraseComments; start += rows {
		var q strings.Builder
		q.WriteString(`INSERT INTO comments_comments (thread, parent_id, name, email, source, html, digest, status, follow_up, hue, created_at) VALUES `)
		var args []any
		for i := start; i < start+rows; i++ {
			if i > start {
				q.WriteByte(',')
			}
			q.WriteString(`(?, 0, 'Prolific', ?, 'Thanks for the post.', '<p>Thanks for the post.</p>', ?, ?, TRUE, 1, ?)`)
			status := comments.StatusApproved
			if i%2 == 1 {
				status = comments.StatusPending
			}
			args = append(args, fmt.Sprintf("post-%d", i%100), eraseSubject, comments.Digest(fmt.Sprint(i)), string(status), now)
		}
		db.MustExec(q.String(), args...)
	}
	db.MustExec(`INSERT INTO comments_comments (thread, parent_id, name, email, source, html, digest, status, follow_up, hue, created_at)
		SELECT thread, id, 'Bob', 'bob@example.org', 'Agreed.', '<p>Agreed.</p>', digest, 'approved', FALSE, 2, created_at
		FROM comments_comments WHERE email = ? AND MOD(id, 100) = 0`, eraseSubject)
}

// eraseOneByOne is EraseCommenter as it was before it became set-based (a
// statement or two per comment, newest first): the baseline.
func eraseOneByOne(ctx context.Context, s *Store, email string) (removed int, err error) {
	err = sqltx.Do(ctx, s.db, func(ctx context.Context, tx *sqlx.Tx) error {
		var rows []locked
		if err := tx.SelectContext(ctx, &rows, `SELECT id, thread, status FROM comments_comments WHERE email_key = LOWER(?) ORDER BY id DESC FOR UPDATE`, email); err != nil {
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
		removed = len(rows)
		return touch(ctx, tx, threads...)
	})
	return removed, err
}

// BenchmarkEraseCommenter erases a commenter of 10,000 comments (100 of them
// replied to by someone else) on MySQL: alone in the table, and among 100,000
// comments by 5,000 others, where a plan that reads the table rather than the
// subject's comments shows. Baselines in the same run: the erasure a statement
// per comment it replaced (alone only: 45 s an erasure), and one DELETE of the
// same rows by the address key (what erasing them costs the database at the
// least).
func BenchmarkEraseCommenter(b *testing.B) {
	ctx := context.Background()
	s := New(mysqltest.New(b))
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, erase func() (int, error)) {
		for b.Loop() {
			b.StopTimer()
			s.db.MustExec(`DELETE FROM comments_comments WHERE email_key IN (?, '', 'bob@example.org')`, eraseSubject)
			seedErase(b, s.db)
			b.StartTimer()
			n, err := erase()
			if err != nil || n != eraseComments {
				b.Fatalf("erased %d: %v", n, err)
			}
		}
	}
	setBased := func(b *testing.B) {
		run(b, func() (int, error) {
			removed, _, err := s.EraseCommenter(ctx, eraseSubject, false)
			return removed, err
		})
	}
	oneDelete := func(b *testing.B) {
		run(b, func() (int, error) {
			return affected(s.db.ExecContext(ctx, `DELETE FROM comments_comments WHERE email_key = LOWER(?)`, eraseSubject))
		})
	}
	b.Run("alone", func(b *testing.B) {
		b.Run("set-based", setBased)
		b.Run("baseline-one-by-one", func(b *testing.B) {
			run(b, func() (int, error) { return eraseOneByOne(ctx, s, eraseSubject) })
		})
		b.Run("baseline-one-delete", oneDelete)
	})
	b.Run("among-100k", func(b *testing.B) {
		s.db.MustExec(`INSERT INTO comments_comments (thread, parent_id, name, email, source, html, digest, status, follow_up, hue, created_at)
			WITH d (i) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
				UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
			n (i) AS (SELECT a.i + 10 * b.i + 100 * c.i + 1000 * e.i + 10000 * f.i FROM d a, d b, d c, d e, d f)
			SELECT CONCAT('post-', MOD(i, 1000)), 0, 'Other', CONCAT('u', MOD(i, 5000), '@example.org'), 'Some text.', '<p>Some text.</p>',
				SHA2(i, 256), 'approved', FALSE, 1, NOW(6) FROM n`)
		s.db.MustExec(`ANALYZE TABLE comments_comments`)
		b.Run("set-based", setBased)
		b.Run("baseline-one-delete", oneDelete)
	})
}
