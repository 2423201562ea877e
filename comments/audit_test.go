package comments_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/internal/routetest"
	"github.com/consentkit/consentkit/privacy"
)

// TestEveryStaffRouteIsAudited calls every moderator route, and each of its actions,
// as a moderator and checks the access records each writes (P11): one for every
// commenter the queue shows, one for the author of the comment acted on, naming the
// moderator, the role, what and why. A route added to the handler and not to one of
// the tables fails the test.
func TestEveryStaffRouteIsAudited(t *testing.T) {
	public := []string{"GET /t/{thread...}", "POST /t/{thread...}", "GET /feed/{thread...}", "GET /manage/{token}",
		"POST /manage/{token}", "GET /confirm/{token}", "POST /confirm/{token}", "GET /stop/{token}", "POST /stop/{token}"}
	type read struct{ subject, what, why string }
	queue := []read{
		{ann, "comments 1, 3 in the moderation queue (pending)", "moderating comments"},
		{bob, "comments 2 in the moderation queue (pending)", "moderating comments"},
	}
	tests := []struct {
		name, route, method, path, body string
		json                            bool
		code                            int
		reads                           []read
	}{
		{"Queue", "GET /moderate", "GET", "/moderate", "", false, 200, queue},
		{"QueueJSON", "GET /moderate", "GET", "/moderate?status=pending", "", true, 200, queue},
		{"Approve", "POST /moderate/{id}/{action}", "POST", "/moderate/2/approve", "", true, 200,
			[]read{{bob, "comment 2", "approving the comment"}}},
		{"Reject", "POST /moderate/{id}/{action}", "POST", "/moderate/2/reject", "", true, 200,
			[]read{{bob, "comment 2", "rejecting the comment"}}},
		{"Delete", "POST /moderate/{id}/{action}", "POST", "/moderate/2/delete", "", true, 200,
			[]read{{bob, "comment 2", "deleting the comment"}}},
		{"Email", "POST /moderate/{id}/{action}", "POST", "/moderate/2/email", "why=spam+report", true, 200,
			[]read{{bob, "address of comment 2", "spam report"}}},
		{"Bulk", "POST /moderate", "POST", "/moderate", "action=approve&comment-1=on&comment-2=on", false, 303,
			[]read{{ann, "comment 1", "approving the comment"}, {bob, "comment 2", "approving the comment"}}},
		{"BulkJSON", "POST /moderate", "POST", "/moderate", "action=reject&ids=3", true, 200,
			[]read{{ann, "comment 3", "rejecting the comment"}}},
		// The page that answers the address shows the queue with it.
		{"EmailPage", "POST /moderate/{id}/{action}", "POST", "/moderate/2/email", "why=spam+report", false, 200,
			append([]read{{bob, "address of comment 2", "spam report"}}, queue...)},
	}
	var staff []string
	for _, tc := range tests {
		staff = append(staff, tc.route)
	}
	routetest.Covered(t, ".", public, staff)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "mem")
			require.Equal(t, int64(1), e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "First"}).Comment.ID)
			require.Equal(t, int64(2), e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Second"}).Comment.ID)
			require.Equal(t, int64(3), e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Third"}).Comment.ID)
			req := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				if tc.body != "" {
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if tc.json {
					r.Header.Set("Accept", "application/json")
				}
				return r
			}
			log := func() []privacy.Access {
				t.Helper()
				as, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Limit: 1000})
				require.NoError(t, err)
				return as
			}

			assert.Equal(t, http.StatusUnauthorized, e.serve(t, req()).Code)
			editor := privacy.WithActor(ctx, privacy.Actor{ID: "e1", Email: "ed@example.com", Roles: []privacy.Role{privacy.RoleEditor}})
			assert.Equal(t, http.StatusForbidden, e.serve(t, req().WithContext(editor)).Code)
			require.Empty(t, log(), "a refused request records nothing")

			w := e.asModerator(t, req())
			require.Equal(t, tc.code, w.Code, w.Body.String())
			var reads []read
			for _, a := range log() {
				reads = append(reads, read{a.Subject, a.What, a.Why})
				assert.Equal(t, "m1", a.ActorID)
				assert.Equal(t, "mod@example.com", a.Actor)
				assert.Equal(t, privacy.RoleModerator, a.Role)
			}
			assert.ElementsMatch(t, tc.reads, reads)
		})
	}
}
