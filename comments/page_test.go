package comments_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

type pagedJSON struct {
	Count    int               `json:"count"`
	Comments []comments.Public `json:"comments"`
	Paging   comments.Paging   `json:"paging"`
}

func countPublic(ps []comments.Public, ids map[int64]int64) {
	for _, p := range ps {
		ids[p.ID] = p.ParentID
		countPublic(p.Replies, ids)
	}
}

func TestThreadPages(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) { c.PageComments = 2 })
	a := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "One."})
	e.post(t, comments.Input{ParentID: a.Comment.ID, Name: "Bob", Email: bob, Body: "Two, a reply."})
	b := e.post(t, comments.Input{ParentID: a.Comment.ID, Name: "Cy", Email: cy, Body: "Three, a reply."})
	e.post(t, comments.Input{Name: "Dee", Email: dee, Body: "Four."})
	e.post(t, comments.Input{Name: "Eve", Email: eve, Body: "Five."})

	t.Run("HTML", func(t *testing.T) {
		w := e.get(t, threadPath, "")
		require.Equal(t, http.StatusOK, w.Code)
		page := w.Body.String()
		assert.Contains(t, page, "5 comments", "the heading counts the whole thread")
		assert.Contains(t, page, "Page 1 of 3")
		assert.Contains(t, page, `<a rel="next" href="?page=2#comments">Newer comments</a>`)
		assert.NotContains(t, page, `rel="prev"`)
		assert.Contains(t, page, "One.")
		assert.NotContains(t, page, "Three")

		w = e.get(t, threadPath+"?page=2", "")
		require.Equal(t, http.StatusOK, w.Code)
		page = w.Body.String()
		assert.Contains(t, page, `<a rel="prev" href="?page=1#comments">Older comments</a>`)
		assert.Contains(t, page, `<a rel="next" href="?page=3#comments">`)
		assert.Contains(t, page, "Three, a reply.", "a reply whose parent is on page 1")
		assert.Contains(t, page, fmt.Sprintf(`href="?page=2&amp;reply=%d#comment-form"`, b.Comment.ID), "replying keeps the page")
		assert.Contains(t, page, `action="/comments/t/`+topic+`?page=2"`)

		w = e.get(t, threadPath+"?page=3", "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), "Five.")
		assert.NotContains(t, w.Body.String(), `rel="next"`)

		assert.Equal(t, http.StatusNotFound, e.get(t, threadPath+"?page=4", "").Code)
		assert.Equal(t, http.StatusBadRequest, e.get(t, threadPath+"?page=x", "").Code)
		assert.Equal(t, http.StatusBadRequest, e.get(t, threadPath+"?page=0", "").Code)
	})
	t.Run("JSON", func(t *testing.T) {
		ids := map[int64]int64{}
		next := threadPath
		for n := 1; next != ""; n++ {
			w := e.get(t, next, "application/json")
			require.Equal(t, http.StatusOK, w.Code, next)
			var got pagedJSON
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, 5, got.Count)
			assert.Equal(t, n, got.Paging.Page)
			assert.Equal(t, 3, got.Paging.Pages)
			countPublic(got.Comments, ids)
			if n == 2 {
				require.NotEmpty(t, got.Comments)
				assert.Equal(t, a.Comment.ID, got.Comments[0].ParentID, "a root of the page names its parent")
			}
			next = strings.TrimPrefix(got.Paging.Next, base)
			require.Less(t, n, 4)
		}
		assert.Len(t, ids, 5)
	})
	t.Run("Empty", func(t *testing.T) {
		w := e.get(t, "/t/empty", "application/json")
		require.Equal(t, http.StatusOK, w.Code)
		var got pagedJSON
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, comments.Paging{Page: 1, Pages: 1}, got.Paging)
		assert.NotNil(t, got.Comments)
		assert.NotContains(t, e.get(t, "/t/empty", "").Body.String(), "comments-pages")
	})
}
