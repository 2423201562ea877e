package contact_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/routetest"
	"github.com/consentkit/consentkit/privacy"
)

// TestEveryStaffRouteIsAudited calls every staff route, as JSON and as the HTML
// page, with the support role and checks the access records each writes (P11): one
// for every request listed or acted on, naming the staff member, the role, the
// requester, what and why. A route added to the handler and not to one of the
// tables fails the test.
func TestEveryStaffRouteIsAudited(t *testing.T) {
	public := []string{"GET /{$}", "POST /{$}"}
	type read struct{ subject, what, why string }
	tests := []struct {
		name, route, method, path, body string
		code                            int
		reads                           func(ref string) []read
	}{
		{"List", "GET /requests", "GET", "/requests", "", 200, func(ref string) []read {
			return []read{{visitor, "contact request " + ref + " (list)", "listing contact requests"}}
		}},
		{"Read", "GET /requests/{ref}", "GET", "/requests/REF", "", 200, func(ref string) []read {
			return []read{{visitor, "contact request " + ref, "reading the request"}}
		}},
		{"Reply", "POST /requests/{ref}/reply", "POST", "/requests/REF/reply", "text=On+its+way", 201, func(ref string) []read {
			return []read{{visitor, "contact request " + ref, "replying to the request"}}
		}},
		{"Close", "POST /requests/{ref}/close", "POST", "/requests/REF/close", "", 200, func(ref string) []read {
			return []read{{visitor, "contact request " + ref, "closing the request"}}
		}},
		{"Reopen", "POST /requests/{ref}/reopen", "POST", "/requests/REF/reopen", "", 200, func(ref string) []read {
			return []read{{visitor, "contact request " + ref, "reopening the request"}}
		}},
	}
	var staff []string
	for _, tc := range tests {
		staff = append(staff, tc.route)
	}
	routetest.Covered(t, ".", public, staff)

	for _, tc := range tests {
		for _, page := range []bool{false, true} {
			name := tc.name + map[bool]string{false: "JSON", true: "Page"}[page]
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, "mem")
				r, err := e.svc.Submit(context.Background(), valid())
				require.NoError(t, err)
				req := func(role privacy.Role) *http.Request {
					q := httptest.NewRequest(tc.method, strings.Replace(tc.path, "REF", r.Ref, 1), strings.NewReader(tc.body))
					if tc.body != "" {
						q.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					}
					if !page {
						q.Header.Set("Accept", "application/json")
					}
					if role != "" {
						q.Header.Set("X-Test-Role", string(role))
					}
					return q
				}
				serve := func(q *http.Request) *httptest.ResponseRecorder {
					w := httptest.NewRecorder()
					e.handler.ServeHTTP(w, q)
					return w
				}

				assert.Equal(t, http.StatusUnauthorized, serve(req("")).Code)
				assert.Equal(t, http.StatusForbidden, serve(req(privacy.RoleModerator)).Code)
				require.Empty(t, e.access(t), "a refused request records nothing")

				w := serve(req(privacy.RoleSupport))
				want := tc.reads(r.Ref)
				switch {
				case page && tc.method == "POST":
					// A reply or a close is answered by a redirect, which reads nothing.
					require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
				case page:
					require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				default:
					require.Equal(t, tc.code, w.Code, w.Body.String())
				}
				var reads []read
				for _, a := range e.access(t) {
					reads = append(reads, read{a.Subject, a.What, a.Why})
					assert.Equal(t, "staff-1", a.ActorID)
					assert.Equal(t, "staff@example.com", a.Actor)
					assert.Equal(t, privacy.RoleSupport, a.Role)
				}
				assert.ElementsMatch(t, want, reads)
			})
		}
	}
}
