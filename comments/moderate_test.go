package comments_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

// TestModerationQueuePages: the queue shows each comment as its page would
// (the sanitized HTML, not escaped), links to the page it belongs to, pages
// with ?page= and filters by thread, and records a read only for the
// commenters of the comments it shows.
func TestModerationQueuePages(t *testing.T) {
	e := newEnv(t, "mem")
	for i, who := range []string{ann, bob, cy, dee, eve} {
		e.post(t, comments.Input{Name: strings.Repeat("N", i+1), Email: who, Body: "Number *" + string(rune('a'+i)) + "*"})
	}
	e.post(t, comments.Input{Thread: "blog/other", Name: "Other", Email: ann, Body: "Elsewhere"})
	get := func(path string) string {
		t.Helper()
		w := e.asModerator(t, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		return w.Body.String()
	}
	page := get("/moderate?limit=2&page=2")
	assert.Contains(t, page, `<div class="comment-body"><p>Number <em>c</em></p>`, "the comment as HTML")
	assert.Contains(t, page, `<p>Number <em>d</em></p>`)
	assert.NotContains(t, page, "&lt;p&gt;")
	assert.NotContains(t, page, "Number <em>b</em>", "page 1's")
	assert.NotContains(t, page, "Number <em>e</em>", "page 3's")
	assert.Contains(t, page, `<a href="`+base+`/t/`+topic+`">`+topic+`</a>`, "the post it belongs to")
	assert.Contains(t, page, `rel="prev" href="/comments/moderate?limit=2&amp;status=pending"`)
	assert.Contains(t, page, `rel="next" href="/comments/moderate?limit=2&amp;page=3&amp;status=pending"`)

	as, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Limit: 100})
	require.NoError(t, err)
	var read []string
	for _, a := range as {
		read = append(read, a.Subject)
	}
	assert.ElementsMatch(t, []string{cy, dee}, read, "only the commenters shown are recorded, not the one read to know a next page exists")

	last := get("/moderate?limit=2&page=4")
	assert.Contains(t, last, "Nothing more here.")
	assert.NotContains(t, last, `rel="next"`)

	other := get("/moderate?thread=blog/other")
	assert.Contains(t, other, "Elsewhere")
	assert.NotContains(t, other, "Number")

	w := e.asModerator(t, httptest.NewRequest(http.MethodGet, "/moderate?page=0", nil))
	assert.Equal(t, http.StatusBadRequest, w.Code)
}

// TestModerateInBulk: the queue's form approves or rejects every comment
// chosen, answers 303 to the page it came from saying how many changed and
// how many were skipped, and shows the form again with its fault when nothing
// is chosen.
func TestModerateInBulk(t *testing.T) {
	e := newEnv(t, "mem")
	var ids []int64
	for _, who := range []string{ann, bob, cy, dee} {
		ids = append(ids, e.post(t, comments.Input{Name: "N", Email: who, Body: "Hi from " + who[:3]}).Comment.ID)
	}
	require.NoError(t, e.svc.Approve(moderator(), ids[1]))
	send := func(v url.Values) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/moderate", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		return e.asModerator(t, r)
	}
	w := send(url.Values{"action": {"approve"}, "comment-1": {"on"}, "comment-2": {"on"}, "comment-3": {"on"}, "status": {"pending"}, "thread": {topic}, "limit": {"5"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	to := w.Header().Get("Location")
	assert.Equal(t, "/comments/moderate?done=approve&limit=5&n=2&skipped=1&status=pending&thread="+url.QueryEscape(topic), to)
	for i, want := range []comments.Status{comments.StatusApproved, comments.StatusApproved, comments.StatusApproved, comments.StatusPending} {
		m, err := e.svc.Queue(moderator(), comments.QueueFilter{Status: want})
		require.NoError(t, err)
		found := false
		for _, h := range m {
			found = found || h.ID == ids[i]
		}
		assert.True(t, found, "comment %d is %s", ids[i], want)
	}
	page := e.asModerator(t, httptest.NewRequest(http.MethodGet, strings.TrimPrefix(to, "/comments"), nil)).Body.String()
	assert.Contains(t, page, "Approved: 2 comments. 1 was left as it was")
	assert.Contains(t, page, "Hi from dee")

	w = send(url.Values{"action": {"reject"}, "ids": {"4"}})
	require.Equal(t, http.StatusSeeOther, w.Code)
	held, err := e.svc.Queue(moderator(), comments.QueueFilter{Status: comments.StatusRejected})
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, ids[3], held[0].ID)

	w = send(url.Values{"action": {"approve"}, "status": {"rejected"}})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "Choose at least one comment")
	assert.Contains(t, w.Body.String(), "Hi from dee", "the queue the form came from, shown again")
	for _, bad := range []url.Values{{"action": {"delete"}, "comment-1": {"on"}}, {"action": {"approve"}, "comment-x": {"on"}}, {"action": {"approve"}, "ids": {"1,-2"}}} {
		w = send(bad)
		assert.Equal(t, http.StatusBadRequest, w.Code, bad.Encode())
	}

	r := httptest.NewRequest(http.MethodPost, "/moderate", strings.NewReader("action=approve&comment-4=on"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusUnauthorized, e.serve(t, r).Code)
}
