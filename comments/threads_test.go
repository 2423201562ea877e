package comments_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

// Audit #13 finding 16: comments were accepted on any thread id.
func TestUnknownThreadNotFound(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) {
		c.Threads = func(_ context.Context, thread string) bool { return thread == topic }
	})
	for _, path := range []string{"/t/no-such-post", "/t/" + topic + "x"} {
		w := e.postJSON(t, path, `{"name":"Eve","email":"`+eve+`","body":"Hi","ts":"`+e.stamp()+`"}`)
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.Equal(t, "thread", privacyField(t, w.Body.Bytes()), path)
		assert.Contains(t, w.Body.String(), "takes no comments", path)
		w = e.postForm(t, path, e.form("Eve", eve, "Hi"))
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.Equal(t, http.StatusNotFound, e.get(t, path, "").Code, path)
		assert.Equal(t, http.StatusNotFound, e.get(t, "/feed"+path[len("/t"):], "").Code, path)
	}
	_, err := e.svc.Post(ctx, comments.Input{Thread: "no-such-post", Name: "Eve", Email: eve, Body: "Hi"})
	require.Error(t, err)
	th, _ := e.svc.Thread(ctx, topic)
	assert.Zero(t, th.Count)
	require.Equal(t, http.StatusOK, e.postForm(t, threadPath, e.form("Ann", ann, "Hello")).Code)
}
