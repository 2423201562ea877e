package comments_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	commentsmysql "github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

func TestNewRequiresConfig(t *testing.T) {
	e := newEnv(t, "mem")
	good := comments.Config{Store: e.store, Mailer: e.mail.Mailer, Auditor: e.auditor, Key: e.key, BaseURL: base}
	tests := []struct {
		name   string
		mutate func(c *comments.Config)
		want   string
	}{
		{"NoStore", func(c *comments.Config) { c.Store = nil }, "Store"},
		{"NoMailer", func(c *comments.Config) { c.Mailer = nil }, "Mailer"},
		{"NoAuditor", func(c *comments.Config) { c.Auditor = nil }, "Auditor"},
		{"AuditorWithoutLog", func(c *comments.Config) { c.Auditor = &privacy.Auditor{} }, "Auditor"},
		{"ShortKey", func(c *comments.Config) { c.Key = []byte("short") }, "Key"},
		{"RelativeBase", func(c *comments.Config) { c.BaseURL = "/comments" }, "BaseURL"},
		{"BaseWithQuery", func(c *comments.Config) { c.BaseURL = base + "?x=1" }, "BaseURL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			_, err := comments.New(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPostValidation(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	parent := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "The first comment."})
	elsewhere := e.post(t, comments.Input{Thread: "other", Name: "Ann", Email: ann, Body: "On another page."})
	ok := comments.Input{Thread: topic, Name: "Bob", Email: bob, Body: "A fine *post*."}
	tests := []struct {
		name   string
		mutate func(in *comments.Input)
		field  string
	}{
		{"ThreadEmpty", func(in *comments.Input) { in.Thread = "" }, "thread"},
		{"ThreadDotDot", func(in *comments.Input) { in.Thread = "blog/../admin" }, "thread"},
		{"ThreadEmptySegment", func(in *comments.Input) { in.Thread = "blog//x" }, "thread"},
		{"ThreadSpace", func(in *comments.Input) { in.Thread = "blog post" }, "thread"},
		{"ThreadQuote", func(in *comments.Input) { in.Thread = `blog"><script>` }, "thread"},
		{"ThreadTooLong", func(in *comments.Input) { in.Thread = strings.Repeat("a", comments.MaxThreadLen+1) }, "thread"},
		{"NameMissing", func(in *comments.Input) { in.Name = "  " }, "name"},
		{"NameTooLong", func(in *comments.Input) { in.Name = strings.Repeat("n", comments.MaxNameLen+1) }, "name"},
		{"NameControl", func(in *comments.Input) { in.Name = "Bob\r\nBcc: x@example.net" }, "name"},
		{"NameNotUTF8", func(in *comments.Input) { in.Name = "Bob\xff" }, "name"},
		{"EmailMissing", func(in *comments.Input) { in.Email = "" }, "email"},
		{"EmailMalformed", func(in *comments.Input) { in.Email = "bob" }, "email"},
		{"EmailWithName", func(in *comments.Input) { in.Email = "Bob <bob@example.org>" }, "email"},
		{"EmailNoDot", func(in *comments.Input) { in.Email = "bob@localhost" }, "email"},
		{"BodyMissing", func(in *comments.Input) { in.Body = " \n " }, "body"},
		{"BodyTooLong", func(in *comments.Input) { in.Body = strings.Repeat("x", comments.DefaultBody+1) }, "body"},
		{"BodyNUL", func(in *comments.Input) { in.Body = "a\x00b" }, "body"},
		{"BodyOnlyHTML", func(in *comments.Input) { in.Body = "<script>alert(1)</script>" }, "body"},
		{"BodyTooManyLinks", func(in *comments.Input) {
			in.Body = "https://a.example.net https://b.example.net https://c.example.net [d](https://d.example.net)"
		}, "body"},
		{"ParentNegative", func(in *comments.Input) { in.ParentID = -1 }, "parent"},
		{"ParentMissing", func(in *comments.Input) { in.ParentID = parent.Comment.ID + 100 }, "parent"},
		{"ParentOtherThread", func(in *comments.Input) { in.ParentID = elsewhere.Comment.ID }, "parent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.mutate(&in)
			_, err := e.svc.Post(ctx, in)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			q, err := e.svc.Queue(moderator(), comments.QueueFilter{Status: comments.StatusApproved})
			require.NoError(t, err)
			assert.Len(t, q, 2, "nothing stored")
		})
	}

	t.Run("ParentPending", func(t *testing.T) {
		e := newEnv(t, "mem")
		p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Waiting for a moderator."})
		require.Equal(t, comments.StatusPending, p.Status)
		_, err := e.svc.Post(ctx, comments.Input{Thread: topic, ParentID: p.Comment.ID, Name: "Bob", Email: bob, Body: "A reply."})
		assert.Equal(t, "parent", privacy.FieldOf(err), "a comment nobody can see cannot be answered")
	})

	t.Run("ThreeLinksAllowed", func(t *testing.T) {
		p := e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "https://a.example.net, https://b.example.net and [c](https://c.example.net)"})
		assert.Equal(t, 3, strings.Count(string(p.Comment.HTML), `rel="nofollow ugc noopener"`))
	})
}

func TestModerationRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		t.Run("FirstWaitsThenPublishes", func(t *testing.T) {
			e := newEnv(t, kind, func(c *comments.Config, _ *comments.HandlerConfig) { c.TrustAfter = 1 })
			first := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello."})
			assert.Equal(t, comments.StatusPending, first.Status)
			second := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Still here."})
			assert.Equal(t, comments.StatusPending, second.Status, "nothing was approved yet")
			th, err := e.svc.Thread(ctx, topic)
			require.NoError(t, err)
			assert.Empty(t, th.Comments)

			require.NoError(t, e.svc.Approve(moderator(), first.Comment.ID))
			third := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Now I am known."})
			assert.Equal(t, comments.StatusApproved, third.Status)
			other := e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Me too."})
			assert.Equal(t, comments.StatusPending, other.Status, "another address still waits")

			th, err = e.svc.Thread(ctx, topic)
			require.NoError(t, err)
			assert.Equal(t, 2, th.Count)
		})
		t.Run("All", func(t *testing.T) {
			e := newEnv(t, kind, withModeration(comments.ModerateAll))
			first := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello."})
			require.NoError(t, e.svc.Approve(moderator(), first.Comment.ID))
			assert.Equal(t, comments.StatusPending, e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Again."}).Status)
		})
		t.Run("None", func(t *testing.T) {
			e := newEnv(t, kind, withModeration(comments.ModerateNone))
			assert.Equal(t, comments.StatusApproved, e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello."}).Status)
		})
	})
}

func TestModeratorActions(t *testing.T) {
	e := newEnv(t, "mem")
	p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello."})
	id := p.Comment.ID
	editor := privacy.WithActor(ctx, privacy.Actor{ID: "e1", Email: "ed@example.com", Roles: []privacy.Role{privacy.RoleEditor}})

	for name, act := range map[string]func(context.Context) error{
		"Approve": func(c context.Context) error { return e.svc.Approve(c, id) },
		"Reject":  func(c context.Context) error { return e.svc.Reject(c, id) },
		"Remove":  func(c context.Context) error { return e.svc.Remove(c, id) },
		"Queue":   func(c context.Context) error { _, err := e.svc.Queue(c, comments.QueueFilter{}); return err },
		"Email":   func(c context.Context) error { _, err := e.svc.CommenterEmail(c, id, ""); return err },
	} {
		t.Run(name+"NeedsModerator", func(t *testing.T) {
			assert.ErrorIs(t, act(ctx), privacy.ErrUnauthorized)
			assert.ErrorIs(t, act(editor), privacy.ErrForbidden)
		})
	}
	access, err := e.priv.ListAccess(ctx, privacy.AccessFilter{})
	require.NoError(t, err)
	assert.Empty(t, access, "a refused read writes no access record")

	q, err := e.svc.Queue(moderator(), comments.QueueFilter{})
	require.NoError(t, err)
	require.Len(t, q, 1)
	assert.Equal(t, "Hello.", q[0].Source)

	require.NoError(t, e.svc.Reject(moderator(), id))
	assert.ErrorIs(t, e.svc.Reject(moderator(), id), privacy.ErrConflict)
	require.NoError(t, e.svc.Approve(moderator(), id), "a rejected comment can still be approved")
	assert.ErrorIs(t, e.svc.Approve(moderator(), id), privacy.ErrConflict)
	assert.ErrorIs(t, e.svc.Approve(moderator(), id+100), privacy.ErrNotFound)
	require.NoError(t, e.svc.Remove(moderator(), id))
	assert.ErrorIs(t, e.svc.Remove(moderator(), id), privacy.ErrNotFound)

	_, err = e.svc.Queue(moderator(), comments.QueueFilter{Status: "spam"})
	assert.Equal(t, "status", privacy.FieldOf(err))
}

// failingLog refuses every access record, as a full disk would.
type failingLog struct{ privacy.AccessLog }

func (failingLog) RecordAccess(context.Context, privacy.Access) error { return errors.New("disk full") }

func TestCommenterEmailIsAudited(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		p := e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Hello."})
		before := e.clock.Now()
		addr, err := e.svc.CommenterEmail(moderator(), p.Comment.ID, "checking a spam report")
		require.NoError(t, err)
		assert.Equal(t, bob, addr)
		access, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Subject: bob})
		require.NoError(t, err)
		require.Len(t, access, 1)
		assert.Equal(t, "m1", access[0].ActorID)
		assert.Equal(t, privacy.RoleModerator, access[0].Role)
		assert.Equal(t, "checking a spam report", access[0].Why)
		assert.Contains(t, access[0].What, "comment")
		assert.True(t, access[0].At.Equal(before))

		_, err = e.svc.CommenterEmail(moderator(), p.Comment.ID, "why\nnot")
		assert.Equal(t, "why", privacy.FieldOf(err))
	})

	t.Run("NoRecordNoAddress", func(t *testing.T) {
		e := newEnv(t, "mem")
		p := e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Hello."})
		e.auditor.Log = failingLog{}
		addr, err := e.svc.CommenterEmail(moderator(), p.Comment.ID, "")
		require.Error(t, err)
		assert.Empty(t, addr)
	})
}

func TestDuplicates(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Great post, thanks!"})
	_, err := e.svc.Post(ctx, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: "great   post,  THANKS!"})
	require.ErrorIs(t, err, privacy.ErrConflict, "case and spacing do not make a new comment")
	assert.Equal(t, "body", privacy.FieldOf(err))
	_, err = e.svc.Post(ctx, comments.Input{Thread: "elsewhere", Name: "Spam", Email: bob, Body: "Great post, thanks!"})
	assert.ErrorIs(t, err, privacy.ErrConflict, "the same text from anyone within the window")
	e.clock.Add(11 * time.Minute)
	_, err = e.svc.Post(ctx, comments.Input{Thread: "elsewhere", Name: "Bob", Email: bob, Body: "Great post, thanks!"})
	assert.NoError(t, err, "after the window another person may say the same")
	_, err = e.svc.Post(ctx, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: "Great post, thanks!"})
	assert.ErrorIs(t, err, privacy.ErrConflict, "an author's repeat in a thread is refused at any time")
}

func TestManageLink(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Frist!"})
		require.Len(t, p.ManageToken, 43)

		m, err := e.svc.Manage(ctx, p.ManageToken)
		require.NoError(t, err)
		assert.True(t, m.Editable)
		assert.Equal(t, "Frist!", m.Source)

		e.clock.Add(14 * time.Minute)
		m, err = e.svc.Edit(ctx, p.ManageToken, "First!")
		require.NoError(t, err)
		assert.Equal(t, "<p>First!</p>", string(m.Comment.HTML))
		th, err := e.svc.Thread(ctx, topic)
		require.NoError(t, err)
		require.Len(t, th.Comments, 1)
		assert.Equal(t, "<p>First!</p>", string(th.Comments[0].HTML))
		require.NotNil(t, th.Comments[0].Edited)

		_, err = e.svc.Edit(ctx, p.ManageToken, strings.Repeat("https://x.example.net ", 5))
		assert.Equal(t, "body", privacy.FieldOf(err), "an edit obeys the same rules")

		e.clock.Add(time.Minute)
		_, err = e.svc.Edit(ctx, p.ManageToken, "Too late")
		assert.ErrorIs(t, err, privacy.ErrGone, "15 minutes after posting")
		m, _ = e.svc.Manage(ctx, p.ManageToken)
		assert.False(t, m.Editable)
		assert.Equal(t, "First!", m.Source)

		e.clock.Add(30 * 24 * time.Hour)
		require.NoError(t, e.svc.Delete(ctx, p.ManageToken), "deleting works at any time")
		_, err = e.svc.Manage(ctx, p.ManageToken)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		assert.ErrorIs(t, e.svc.Delete(ctx, p.ManageToken), privacy.ErrNotFound)

		for _, bad := range []string{"", "short", strings.Repeat("!", 43), strings.Repeat("A", 43)} {
			_, err := e.svc.Manage(ctx, bad)
			assert.ErrorIs(t, err, privacy.ErrNotFound, bad)
		}
	})

	t.Run("DeleteKeepsReplies", func(t *testing.T) {
		e := newEnv(t, "mem", withModeration(comments.ModerateNone))
		p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Question?"})
		e.post(t, comments.Input{ParentID: p.Comment.ID, Name: "Bob", Email: bob, Body: "Answer."})
		require.NoError(t, e.svc.Delete(ctx, p.ManageToken))
		th, err := e.svc.Thread(ctx, topic)
		require.NoError(t, err)
		require.Len(t, th.Comments, 1)
		assert.True(t, th.Comments[0].Deleted)
		assert.Equal(t, comments.DeletedName, th.Comments[0].Name)
		assert.Empty(t, th.Comments[0].HTML)
		require.Len(t, th.Comments[0].Replies, 1)
		assert.Equal(t, "Bob", th.Comments[0].Replies[0].Name)
		assert.Equal(t, 1, th.Count)
	})
}

func TestThreadTree(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	root := e.post(t, comments.Input{Name: "Ann Lee", Email: ann, Body: "Root"})
	parent := root.Comment.ID
	for i := range 8 {
		p := e.post(t, comments.Input{ParentID: parent, Name: "Bob", Email: bob, Body: "Reply " + strings.Repeat("!", i+1)})
		parent = p.Comment.ID
	}
	e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "Second root"})
	th, err := e.svc.Thread(ctx, topic)
	require.NoError(t, err)
	assert.Equal(t, 10, th.Count)
	require.Len(t, th.Comments, 2)
	assert.Equal(t, "AL", th.Comments[0].Avatar.Initials)
	assert.Equal(t, "Second root", strings.TrimSuffix(strings.TrimPrefix(string(th.Comments[1].HTML), "<p>"), "</p>"))
	// Depth 1..5 nest; the comment at depth 6 lists every deeper reply, in order.
	n := th.Comments[0]
	for range 5 {
		require.Len(t, n.Replies, 1)
		n = n.Replies[0]
	}
	require.Len(t, n.Replies, 3)
	for _, r := range n.Replies {
		assert.Empty(t, r.Replies)
	}
	assert.Less(t, n.Replies[0].ID, n.Replies[1].ID)
}

func TestAvatarIsKeyed(t *testing.T) {
	// The colour depends on the site key, so nobody without it can map an address
	// to a colour; and it never exposes a hash of the address.
	hues := map[int]bool{}
	for i := range 4 {
		e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) {
			c.Key = []byte(strings.Repeat(string(rune('a'+i)), 32))
		})
		for j, addr := range []string{ann, bob, cy, dee, eve} {
			p := e.post(t, comments.Input{Name: "Ann", Email: addr, Body: "Hi " + strings.Repeat("?", j+1)})
			require.NotNil(t, p.Comment.Avatar)
			assert.GreaterOrEqual(t, p.Comment.Avatar.Hue, 1)
			assert.LessOrEqual(t, p.Comment.Avatar.Hue, 8)
			if addr == ann {
				hues[p.Comment.Avatar.Hue] = true
			}
		}
	}
	assert.Greater(t, len(hues), 1, "the same address gets different colours under different keys")
}

func TestRerender(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Some **bold** text"})
	n, err := e.svc.Rerender(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "the same renderer changes nothing")
	require.NoError(t, e.store.SetHTML(ctx, p.Comment.ID, "<p>stale</p>"))
	n, err = e.svc.Rerender(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c, err := e.store.Comment(ctx, p.Comment.ID)
	require.NoError(t, err)
	assert.Equal(t, "<p>Some <strong>bold</strong> text</p>", c.HTML)
}

// TestNewRefusesStoresOnTwoDatabases: a comment and the mail it causes must commit
// together, so New refuses a store on another database than the Mailer's.
func TestNewRefusesStoresOnTwoDatabases(t *testing.T) {
	e := newEnv(t, "mem")
	db := mysqltest.New(t)
	sqlStore := commentsmysql.New(db)
	cases := map[string]struct {
		store  comments.Store
		outbox privacy.Store
	}{
		"MySQLBesideMemory": {sqlStore, privacymem.New()},
		"MemoryBesideMySQL": {commentsmem.New(), privacymysql.New(db)},
		"TwoPools":          {sqlStore, privacymysql.New(mysqltest.New(t))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := comments.New(comments.Config{Store: tc.store, Mailer: privacy.NewMailer(e.policy, tc.outbox, nil),
				Auditor: e.auditor, Key: e.key, BaseURL: base})
			require.ErrorContains(t, err, "must be on one database")
			assert.ErrorContains(t, err, "comments")
		})
	}
	_, err := comments.New(comments.Config{Store: sqlStore, Mailer: privacy.NewMailer(e.policy, privacymysql.New(db), nil),
		Auditor: e.auditor, Key: e.key, BaseURL: base})
	require.NoError(t, err, "one pool is one database")
}
