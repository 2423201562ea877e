package comments_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/privacytest"
)

func TestRegistryCheck(t *testing.T) {
	e := newEnv(t, "mem")
	unregistered := privacy.Registry{Mailer: e.mail.Mailer}
	err := unregistered.Check()
	require.Error(t, err, "follow-up mail the policy page would not describe is caught")
	assert.Contains(t, err.Error(), `purpose "comment-follow-up", which no registered holder declares`)
	reg := privacy.Registry{Mailer: e.mail.Mailer}
	reg.Register(e.svc)
	require.NoError(t, reg.Check())
}

func TestExport(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "One", FollowUp: true})
		e.post(t, comments.Input{Thread: "other", Name: "Ann", Email: ann, Body: "Two"})
		e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Not hers"})

		var reg privacy.Registry
		reg.Register(e.svc)
		out, err := reg.Export(ctx, "  "+ann+" ")
		require.NoError(t, err)
		b, err := json.Marshal(out["comments"])
		require.NoError(t, err)
		var x comments.Export
		require.NoError(t, json.Unmarshal(b, &x))
		require.Len(t, x.Comments, 2)
		assert.Equal(t, "One", x.Comments[0].Body)
		assert.Equal(t, ann, x.Comments[0].Email)
		assert.True(t, x.Comments[0].FollowUp)
		assert.Equal(t, "other", x.Comments[1].Thread)
		require.NotNil(t, x.FollowUp)
		assert.True(t, x.FollowUp.Confirmed.IsZero())

		nothing, err := e.svc.Export(ctx, dee)
		require.NoError(t, err)
		assert.Nil(t, nothing)
		_, err = e.svc.Export(ctx, "not an address")
		assert.ErrorIs(t, err, privacy.ErrInvalid)
	})
}

func TestErase(t *testing.T) {
	setup := func(t *testing.T, kind string, mode comments.EraseMode) *env {
		e := newEnv(t, kind, withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) { c.Erase = mode })
		q := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "My question", FollowUp: true})
		e.post(t, comments.Input{ParentID: q.Comment.ID, Name: "Bob", Email: bob, Body: "An answer"})
		e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Alone"})
		if e.db != nil {
			require.Error(t, privacytest.CheckTables(ctx, e.db.DB, []string{ann}, "comments_comments", "comments_subscribers"),
				"before the erasure the tables hold her address")
		}
		return e
	}
	forEachStore(t, func(t *testing.T, kind string) {
		t.Run("Remove", func(t *testing.T) {
			e := setup(t, kind, comments.EraseRemove)
			var reg privacy.Registry
			reg.Register(e.svc)
			res, err := reg.Erase(ctx, ann)
			require.NoError(t, err)
			require.Len(t, res, 1)
			assert.Equal(t, "comments", res[0].Holder)
			assert.Equal(t, 2, res[0].Removed)
			assert.Empty(t, res[0].Retained)

			left, err := e.svc.Export(ctx, ann)
			require.NoError(t, err)
			assert.Nil(t, left, "nothing is held about her any more")
			th, err := e.svc.Thread(ctx, topic)
			require.NoError(t, err)
			require.Len(t, th.Comments, 1)
			assert.True(t, th.Comments[0].Deleted, "her question stays a tombstone for Bob's answer")
			assert.Empty(t, th.Comments[0].HTML)
			require.Len(t, th.Comments[0].Replies, 1)
			assert.Equal(t, "Bob", th.Comments[0].Replies[0].Name)
			page := e.get(t, threadPath, "").Body.String()
			assert.NotContains(t, page, "My question")
			assert.NotContains(t, page, ">Ann<")
			e.assertForgotten(t, ann, "My question", "Alone")
		})
		t.Run("KeepText", func(t *testing.T) {
			e := setup(t, kind, comments.EraseKeepText)
			res, err := e.svc.Erase(ctx, ann)
			require.NoError(t, err)
			assert.Equal(t, 0, res.Removed)
			require.Len(t, res.Retained, 1)
			assert.Contains(t, res.Retained[0], "2 published comment(s)")

			left, err := e.svc.Export(ctx, ann)
			require.NoError(t, err)
			assert.Nil(t, left)
			th, err := e.svc.Thread(ctx, topic)
			require.NoError(t, err)
			require.Len(t, th.Comments, 2)
			for _, c := range th.Comments {
				assert.Equal(t, comments.DeletedName, c.Name)
				assert.Nil(t, c.Avatar, "no colour derived from her address is left")
				assert.False(t, c.Deleted)
			}
			assert.Equal(t, "<p>My question</p>", string(th.Comments[0].HTML))
			e.assertForgotten(t, ann)
		})
	})
}

func TestRetention(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		spam := e.post(t, comments.Input{Name: "Spam", Email: eve, Body: "Cheap pills"})
		good := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Nice"})
		require.NoError(t, e.svc.Reject(moderator(), spam.Comment.ID))
		require.NoError(t, e.svc.Approve(moderator(), good.Comment.ID))
		var reg privacy.Registry
		reg.Register(e.svc)

		e.clock.Add(29 * 24 * time.Hour)
		n, err := reg.Purge(ctx, e.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, 0, n["comments"])
		q, _ := e.svc.Queue(moderator(), comments.QueueFilter{Status: comments.StatusRejected})
		assert.Len(t, q, 1)

		e.clock.Add(24*time.Hour + time.Second)
		n, err = reg.Purge(ctx, e.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, 1, n["comments"])
		q, _ = e.svc.Queue(moderator(), comments.QueueFilter{Status: comments.StatusRejected})
		assert.Empty(t, q, "rejected comments are purged 30 days after rejection")
		left, _ := e.svc.Export(ctx, eve)
		assert.Nil(t, left)
		th, _ := e.svc.Thread(ctx, topic)
		assert.Equal(t, 1, th.Count, "published comments are kept")
	})
}

// assertForgotten checks, in MySQL, that no row of the comments tables holds any
// of values (case-insensitively, in any column).
func (e *env) assertForgotten(t *testing.T, values ...string) {
	t.Helper()
	if e.db == nil {
		return
	}
	assert.NoError(t, privacytest.CheckTables(ctx, e.db.DB, values, "comments_comments", "comments_subscribers"))
}

// TestExportAnyCase: the export for zed@ holds what Zed@ wrote (audit #13
// finding 10).
func TestExportAnyCase(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		e.post(t, comments.Input{Name: "Zed", Email: "Zed@example.org", Body: "Capital"})
		e.post(t, comments.Input{Thread: "other", Name: "Zed", Email: "zed@example.org", Body: "Small"})
		out, err := e.svc.Export(ctx, "zed@example.org")
		require.NoError(t, err)
		x, ok := out.(comments.Export)
		require.True(t, ok, "%T", out)
		require.Len(t, x.Comments, 2)
		assert.Equal(t, "Capital", x.Comments[0].Body)
		assert.Equal(t, "Zed@example.org", x.Comments[0].Email, "as typed")
	})
}
