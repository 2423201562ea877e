package newsletter_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/routetest"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// TestEveryStaffRouteIsAudited calls every staff route and checks its access
// records (P11). The one staff act on a subscriber's data, relaying a complaint,
// records it, naming the admin, the role, the address, what and why. The campaign
// routes hold no subscriber's data: they record nothing, and no answer names a
// subscriber. A route added to the handler and not to one of the tables fails the
// test.
func TestEveryStaffRouteIsAudited(t *testing.T) {
	public := []string{"GET /{$}", "GET /subscribe", "POST /subscribe", "GET /confirm", "POST /confirm",
		"GET /unsubscribe", "POST /unsubscribe", "GET /preferences", "POST /preferences"}
	type read struct{ subject, what, why string }
	// Campaign 1 is a draft, campaign 2 is scheduled for tomorrow.
	tests := []struct {
		route, method, path, body, actor string
		reads                            []read // nil: no subscriber's data
	}{
		{"GET /staff/campaigns", "GET", "/staff/campaigns", "", "editor", nil},
		{"GET /staff/campaigns/new", "GET", "/staff/campaigns/new", "", "editor", nil},
		{"POST /staff/campaigns", "POST", "/staff/campaigns", `{"list":"newsletter","subject":"S","markdown":"M"}`, "editor", nil},
		{"GET /staff/campaigns/{id}", "GET", "/staff/campaigns/2", "", "editor", nil},
		{"POST /staff/campaigns/{id}", "POST", "/staff/campaigns/1", `{"list":"newsletter","subject":"S2","markdown":"M2"}`, "editor", nil},
		{"GET /staff/campaigns/{id}/edit", "GET", "/staff/campaigns/1/edit", "", "editor", nil},
		{"GET /staff/campaigns/{id}/preview", "GET", "/staff/campaigns/2/preview", "", "editor", nil},
		{"POST /staff/campaigns/{id}/test", "POST", "/staff/campaigns/1/test", `{"to":"editor@example.com"}`, "editor", nil},
		{"GET /staff/campaigns/{id}/send", "GET", "/staff/campaigns/1/send", "", "editor", nil},
		{"POST /staff/campaigns/{id}/send", "POST", "/staff/campaigns/1/send", `{"at":"","confirm":"yes"}`, "editor", nil},
		{"POST /staff/campaigns/{id}/cancel", "POST", "/staff/campaigns/2/cancel", "", "editor", nil},
		{"GET /api/campaigns", "GET", "/api/campaigns", "", "editor", nil},
		{"POST /api/campaigns", "POST", "/api/campaigns", `{"list":"newsletter","subject":"S","markdown":"M"}`, "editor", nil},
		{"GET /api/campaigns/{id}", "GET", "/api/campaigns/2", "", "editor", nil},
		{"PUT /api/campaigns/{id}", "PUT", "/api/campaigns/1", `{"list":"newsletter","subject":"S2","markdown":"M2"}`, "editor", nil},
		{"POST /api/campaigns/{id}/test", "POST", "/api/campaigns/1/test", `{"to":"editor@example.com"}`, "editor", nil},
		{"POST /api/campaigns/{id}/schedule", "POST", "/api/campaigns/1/schedule", `{"at":"2030-01-01T00:00:00Z"}`, "editor", nil},
		{"POST /api/campaigns/{id}/cancel", "POST", "/api/campaigns/2/cancel", "", "editor", nil},
		{"GET /api/campaigns/{id}/progress", "GET", "/api/campaigns/2/progress", "", "editor", nil},
		{"POST /api/complaints", "POST", "/api/complaints", `{"email":"ann@example.org"}`, "admin",
			[]read{{ann, "newsletter complaint: left every list, all mail suppressed", "spam complaint relayed by staff"}}},
	}
	var staff []string
	for _, tc := range tests {
		staff = append(staff, tc.route)
	}
	routetest.Covered(t, ".", public, staff)

	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, "mem")
			e.member(t, ann, newsletter.ListNewsletter, newsletter.ListPromotions)
			_, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "One", Markdown: "Hello"})
			require.NoError(t, err)
			c2, err := e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Two", Markdown: "Hello"})
			require.NoError(t, err)
			_, err = e.svc.Schedule(editor(), c2.ID, e.clock.Now().Add(24*time.Hour))
			require.NoError(t, err)
			log := func() []privacy.Access {
				t.Helper()
				as, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Limit: 1000})
				require.NoError(t, err)
				return as
			}
			do := func(actor string) response {
				return e.do(t, tc.method, "/newsletter"+tc.path, "application/json", tc.body, "X-Test-Actor", actor)
			}

			assert.Equal(t, http.StatusUnauthorized, do("").Code)
			assert.Equal(t, http.StatusForbidden, do("moderator").Code)
			require.Empty(t, log(), "a refused request records nothing")

			res := do(tc.actor)
			require.Less(t, res.Code, 400, res.Body) // a staff form is answered with 303 See Other
			var reads []read
			for _, a := range log() {
				reads = append(reads, read{a.Subject, a.What, a.Why})
				assert.Equal(t, "a1", a.ActorID)
				assert.Equal(t, "boss@example.com", a.Actor)
				assert.Equal(t, privacy.RoleAdmin, a.Role)
			}
			assert.ElementsMatch(t, tc.reads, reads)
			if tc.reads == nil {
				assert.NotContains(t, strings.ToLower(res.Body), ann, "an answer that records no read names no subscriber")
			}
		})
	}
}
