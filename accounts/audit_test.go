package accounts_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/internal/routetest"
	"github.com/consentkit/consentkit/privacy"
)

// TestEveryStaffRouteIsAudited calls every staff route as an admin and checks that
// each writes the access records of the accounts it shows or acts on (P11): the
// admin, the role, the person, what and why. A route added to the handler and not
// to one of the tables fails the test.
func TestEveryStaffRouteIsAudited(t *testing.T) {
	public := []string{
		"GET /register", "POST /register", "POST /parental/request", "GET /parental", "POST /parental/answer",
		"GET /verify", "POST /verify", "GET /signin", "POST /signin", "POST /signout", "POST /signout/all",
		"GET /reset", "POST /reset", "GET /reset/confirm", "POST /reset/confirm", "GET /email/confirm", "POST /email/confirm",
		// A member's own data is no staff read.
		"GET /me", "GET /me/export", "POST /me/password", "POST /me/email", "POST /me/delete",
		"GET /me/resources", "POST /me/resources", "GET /resources", "GET /resources/{id}", "GET /resources/{id}/content", "GET /resources/{id}/thumbnail",
		"DELETE /resources/{id}", "POST /signin/code", "POST /me/confirm", "GET /me/factors", "POST /me/factors/totp",
		"POST /me/factors/totp/confirm", "POST /signin/passkey/begin", "POST /signin/passkey", "POST /me/confirm/passkey/begin",
		"POST /me/confirm/passkey", "GET /me/passkeys", "POST /me/passkeys/begin", "POST /me/passkeys", "DELETE /me/passkeys/{id}", "POST /me/factors/{id}/disable", "GET /me/sessions", "POST /me/sessions/others/revoke",
		"POST /me/sessions/{id}/revoke",
	}
	type read struct{ subject, what, why string }
	tests := []struct {
		route, method, path string
		body                map[string]any
		code                int
		reads               []read
	}{
		{"GET /staff", "GET", "/accounts/staff", nil, http.StatusOK, []read{
			{"boss@example.org", "staff roles", "listing staff"}, {"mod@example.org", "staff roles", "listing staff"}}},
		{"POST /staff/grant", "POST", "/accounts/staff/grant", map[string]any{"email": "m@example.org", "role": "support"}, http.StatusNoContent,
			[]read{{"m@example.org", "staff roles of the account", "granting a staff role (support)"}}},
		{"POST /staff/revoke", "POST", "/accounts/staff/revoke", map[string]any{"email": "mod@example.org", "role": "moderator"}, http.StatusNoContent,
			[]read{{"mod@example.org", "staff roles of the account", "revoking a staff role (moderator)"}}},
	}
	var staff []string
	for _, tc := range tests {
		staff = append(staff, tc.route)
	}
	routetest.Covered(t, ".", public, staff)

	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			s := newServer(t, e, accounts.HandlerConfig{})
			boss := e.member("boss@example.org", "correct horse")
			e.member("mod@example.org", "correct horse")
			e.member("m@example.org", "correct horse")
			require.NoError(t, e.svc.GrantRole(ctx, "boss@example.org", privacy.RoleAdmin))
			require.NoError(t, e.svc.GrantRole(ctx, "mod@example.org", privacy.RoleModerator))
			admin, _ := e.signIn("boss@example.org", "correct horse")
			member, _ := e.signIn("m@example.org", "correct horse")
			log := func() []privacy.Access {
				t.Helper()
				as, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Limit: 1000})
				require.NoError(t, err)
				return as
			}

			assert.Equal(t, http.StatusUnauthorized, s.json(tc.method, tc.path, "", tc.body).status)
			assert.Equal(t, http.StatusForbidden, s.json(tc.method, tc.path, member, tc.body).status)
			require.Empty(t, log(), "a refused request records nothing")

			r := s.json(tc.method, tc.path, admin, tc.body)
			require.Equal(t, tc.code, r.status, r.body)
			var reads []read
			for _, a := range log() {
				reads = append(reads, read{a.Subject, a.What, a.Why})
				assert.Equal(t, boss.ID, a.ActorID)
				assert.Equal(t, "boss@example.org", a.Actor)
				assert.Equal(t, privacy.RoleAdmin, a.Role)
			}
			assert.ElementsMatch(t, tc.reads, reads)
		})
	}
}
