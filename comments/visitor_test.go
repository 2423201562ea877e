package comments_test

import (
	"html/template"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

// TestPreview: the Preview button shows the comment rendered as it would be
// published, in the form again with the name and the text kept, the address
// asked for again, nothing stored and the stamp still good for posting.
func TestPreview(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	v := e.form("Ann", ann, "Looks *right*? <script>x</script>")
	v.Set("preview", "1")
	w := e.postForm(t, threadPath, v)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	page := w.Body.String()
	assert.Contains(t, page, `<div class="comment-body"><p>Looks <em>right</em>?`, "rendered as published")
	assert.NotContains(t, page, "<script>x", "and sanitized")
	assert.Contains(t, page, `value="Ann"`)
	assert.Contains(t, page, "Looks *right*? &lt;script&gt;x&lt;/script&gt;</textarea>")
	assert.Contains(t, page, "please type it again")
	th, err := e.svc.Thread(ctx, topic)
	require.NoError(t, err)
	assert.Zero(t, th.Count, "nothing stored")

	v.Del("preview")
	assert.Equal(t, http.StatusSeeOther, e.postForm(t, threadPath, v).Code, "the same stamp then posts")

	bad := e.form("Ann", ann, "")
	bad.Set("preview", "1")
	w = e.postForm(t, threadPath, bad)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `id="cf-body-error"`)
}

// TestReplyFormUnderComment: a ?reply= view writes the form under the comment
// answered, before its replies, and not again at the end; a host's
// thread-tail that predates that view keeps its form at the end, once.
func TestReplyFormUnderComment(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	a := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "First"})
	e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Answer", ParentID: a.Comment.ID})
	e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "Last"})
	page := e.get(t, threadPath+"?reply=1", "").Body.String()
	assert.Equal(t, 1, strings.Count(page, `id="comment-form"`))
	form, reply, last := strings.Index(page, `id="comment-form"`), strings.Index(page, "<p>Answer</p>"), strings.Index(page, "<p>Last</p>")
	assert.True(t, strings.Index(page, "<p>First</p>") < form && form < reply && reply < last, "the form is under comment 1, before its reply")
	assert.Contains(t, page, `<input type="hidden" name="parent" value="1">`)
	assert.Contains(t, page, `<h3 id="comment-form-title">Reply to Ann</h3>`)

	old := fstest.MapFS{"tail.html": {Data: []byte(`{{define "thread-tail"}}{{if .View.Comments}}</ol>{{end}}<h2 id="comment-form-title">Form</h2>{{template "form" .}}</section>{{end}}`)}}
	e = newEnv(t, "mem", withModeration(comments.ModerateNone), withTemplates(old, nil))
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "First"})
	e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "Last"})
	page = e.get(t, threadPath+"?reply=1", "").Body.String()
	assert.Equal(t, 1, strings.Count(page, `id="comment-form"`))
	assert.Greater(t, strings.Index(page, `id="comment-form"`), strings.Index(page, "<p>Last</p>"), "at the end, as that template writes it")
}

// TestThreadInHostPage: with HandlerConfig.ThreadPage, the form shown again with its
// faults, a preview and GET /t/ are in the host's page of the thread.
func TestThreadInHostPage(t *testing.T) {
	e := newEnv(t, "mem", func(_ *comments.Config, h *comments.HandlerConfig) {
		h.ThreadPage = func(r *http.Request, thread string) (string, template.HTML, template.HTML, bool) {
			return "The post " + thread, "<article>The article</article>", "<p>After</p>", thread == topic
		}
	})
	bad := e.postForm(t, threadPath, e.form("", ann, "Hi"))
	assert.Equal(t, http.StatusBadRequest, bad.Code)
	got := bad.Body.String()
	assert.Contains(t, got, "<title>The post "+topic+"</title>")
	assert.True(t, strings.Index(got, "<article>The article</article>") < strings.Index(got, `id="cf-name-error"`) &&
		strings.Index(got, `id="cf-name-error"`) < strings.Index(got, "<p>After</p>"), "the errors are on the article")
	page := e.get(t, threadPath, "").Body.String()
	assert.Contains(t, page, "<article>The article</article>")
	other := e.get(t, "/t/elsewhere", "").Body.String()
	assert.NotContains(t, other, "The article", "a thread the host has no page of is shown alone")
}
