package comments_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

// Audit #13 finding 4: a flood of nested blockquotes blew one post up to 27 MB.
func TestFloodBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		t.Run("NestingRefused", func(t *testing.T) {
			e := newEnv(t, kind, withModeration(comments.ModerateNone))
			_, err := e.svc.Post(ctx, comments.Input{Thread: topic, Name: "Eve", Email: eve, Body: strings.Repeat(">", comments.DefaultBody)})
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, "body", privacy.FieldOf(err))
			assert.Equal(t, http.StatusBadRequest, privacy.HTTPStatus(err))
		})
		t.Run("OneApprovalIsNotTrust", func(t *testing.T) {
			e := newEnv(t, kind)
			for i := range 3 {
				p := e.post(t, comments.Input{Name: "Eve", Email: eve, Body: fmt.Sprintf("Polite comment %d.", i)})
				require.Equal(t, comments.StatusPending, p.Status, "after %d approved", i)
				require.NoError(t, e.svc.Approve(moderator(), p.Comment.ID))
			}
			assert.Equal(t, comments.StatusApproved, e.post(t, comments.Input{Name: "Eve", Email: eve, Body: "Now trusted."}).Status)
		})
		t.Run("ThreadFull", func(t *testing.T) {
			e := newEnv(t, kind, withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) { c.MaxThreadSize = 2 })
			e.post(t, comments.Input{Name: "Eve", Email: eve, Body: "One."})
			e.post(t, comments.Input{Name: "Eve", Email: eve, Body: "Two."})
			_, err := e.svc.Post(ctx, comments.Input{Thread: topic, Name: "Eve", Email: eve, Body: "Three."})
			require.ErrorIs(t, err, privacy.ErrConflict)
			assert.Equal(t, "thread", privacy.FieldOf(err))
			e.post(t, comments.Input{Thread: "other", Name: "Eve", Email: eve, Body: "Three."})
		})
	})
}
