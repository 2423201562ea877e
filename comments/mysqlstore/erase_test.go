package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
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

// TestEraseSeesCommentPostedMeanwhile: a comment the subject posts in another
// thread after erasure locked their comments, and before it deletes them, is
// erased with the others and its thread gets a new version, so no page keeps
// showing it from a cache.
func TestEraseSeesCommentPostedMeanwhile(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	post := func(thread string, n int) *comments.Comment {
		c := &comments.Comment{Thread: thread, Name: "Ann", Email: "ann@example.org", Source: "Hi", HTML: "<p>Hi</p>",
			Digest: comments.Digest(fmt.Sprint(n)), Status: comments.StatusApproved, Hue: 1, Created: time.Now().UTC()}
		require.NoError(t, s.CreateComment(ctx, c))
		return c
	}
	post("t", 1)
	var late *comments.Comment
	var before int64
	eraseLocked = func() {
		eraseLocked = nil
		late = post("u", 2) // on another connection: committed before the erasure deletes
		var err error
		before, err = s.ThreadVersion(ctx, "u")
		require.NoError(t, err)
	}
	t.Cleanup(func() { eraseLocked = nil })
	removed, _, err := s.EraseCommenter(ctx, "ann@example.org", false)
	require.NoError(t, err)
	require.NotNil(t, late, "the hook ran")
	_, err = s.Comment(ctx, late.ID)
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	assert.Equal(t, 2, removed)
	var after int64
	require.NoError(t, s.db.Get(&after, `SELECT version FROM comments_threads WHERE thread = 'u'`))
	assert.NotEqual(t, before, after, "u shows the erased comment under the version it had")
}

// TestEraseDeepChain: a chain of 1,500 of the subject's comments, each replying
// to the one before, with someone else's reply at the end, stays whole as
// tombstones: MariaDB stops a recursive query after 1,000 levels
// (max_recursive_iterations), which made such an erasure fail.
func TestEraseDeepChain(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	const depth = 1500
	var q strings.Builder
	q.WriteString(`INSERT INTO comments_comments (id, thread, parent_id, name, email, source, html, digest, status, follow_up, hue, created_at) VALUES `)
	var args []any
	for i := 1; i <= depth+1; i++ {
		if i > 1 {
			q.WriteByte(',')
		}
		email := "ann@example.org"
		if i == depth+1 {
			email = "bob@example.org"
		}
		q.WriteString(`(?, 't', ?, 'Ann', ?, 'Hi', '<p>Hi</p>', '', 'approved', FALSE, 1, ?)`)
		args = append(args, i, i-1, email, time.Now())
	}
	s.db.MustExec(q.String(), args...)
	removed, kept, err := s.EraseCommenter(ctx, "ann@example.org", false)
	require.NoError(t, err)
	assert.Equal(t, depth, removed)
	assert.Zero(t, kept)
	var n int
	require.NoError(t, s.db.Get(&n, `SELECT COUNT(*) FROM comments_comments WHERE status = 'deleted' AND email = ''`))
	assert.Equal(t, depth, n, "every comment above bob's reply is a tombstone")
}
