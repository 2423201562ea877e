package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
)

// TestEraseTouchesEveryThread: erasing a commenter who wrote in more threads
// than one statement of touch takes gives each of them a new version.
func TestEraseTouchesEveryThread(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	const threads = touchBatch + 7
	var q strings.Builder
	q.WriteString(`INSERT INTO comments_comments (thread, parent_id, name, email, source, html, digest, status, follow_up, hue, created_at) VALUES `)
	var args []any
	for i := range threads {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(`(?, 0, 'Ann', 'ann@example.org', 'Hi', '<p>Hi</p>', '', 'approved', FALSE, 1, ?)`)
		args = append(args, fmt.Sprintf("t%04d", i), time.Now())
	}
	s.db.MustExec(q.String(), args...)
	s.db.MustExec(`INSERT INTO comments_threads (thread, version) SELECT DISTINCT thread, 42 FROM comments_comments`)
	removed, _, err := s.EraseCommenter(ctx, "ann@example.org", false)
	require.NoError(t, err)
	require.Equal(t, threads, removed)
	var after []struct {
		Thread  string `db:"thread"`
		Version int64  `db:"version"`
	}
	require.NoError(t, s.db.Select(&after, `SELECT thread, version FROM comments_threads`))
	require.Len(t, after, threads, "a version for each thread")
	for _, r := range after {
		assert.NotContains(t, []int64{0, 42}, r.Version, r.Thread)
	}
}
