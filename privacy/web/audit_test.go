package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/routetest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// read is one access record a staff route must write: whose data, and what.
type read struct{ subject, what string }

// newReads returns the access records written since the log held before.
func newReads(t *testing.T, store *memstore.Store, before int) []privacy.Access {
	t.Helper()
	all, err := store.ListAccess(context.Background(), privacy.AccessFilter{Limit: 10000})
	require.NoError(t, err)
	return all[:len(all)-before] // newest first
}

// TestEveryStaffRouteIsAudited calls every staff route as an admin and checks the
// access records each writes (P11): every route that shows a person's data records
// the read of it, naming the admin, the role, the person, what and why; the one that
// names no one records nothing and shows no address. A route added to the handler
// and not to this table fails the test.
func TestEveryStaffRouteIsAudited(t *testing.T) {
	public := []string{"GET /{$}", "GET /policy.md", "GET /request", "POST /request", "GET /confirm", "POST /confirm", "GET /download"}
	tests := []struct {
		route string
		req   func() *http.Request
		code  int
		reads []read // nil: the answer names no one
	}{
		{"GET /staff/access", func() *http.Request { return httptest.NewRequest("GET", "/staff/access", nil) },
			200, []read{{"bob@example.org", "access log"}}},
		{"GET /staff/disclosures", func() *http.Request { return httptest.NewRequest("GET", "/staff/disclosures", nil) },
			200, []read{{"ann@example.org", "disclosure register"}}},
		{"POST /staff/disclosures", func() *http.Request {
			return postForm("/staff/disclosures", url.Values{"subject": {"ann@example.org"}, "basis": {"law"},
				"reference": {"Act 12"}, "requester": {"Tax office"}})
		}, 201, []read{{"ann@example.org", "export for disclosure"}}},
		{"GET /staff/consents", func() *http.Request {
			return httptest.NewRequest("GET", "/staff/consents?subject=carol@example.org", nil)
		}, 200, []read{{"carol@example.org", "consent history"}}},
		{"GET /staff/requests", func() *http.Request { return httptest.NewRequest("GET", "/staff/requests", nil) }, 200, nil},
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
			at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
			require.NoError(t, e.store.AppendDisclosure(ctx, &privacy.Disclosure{Subject: "ann@example.org", Basis: privacy.BasisSafety,
				Reference: "Ticket 9", Requester: "Police", ActorID: "1", Actor: "boss@example.com", At: at}))
			require.NoError(t, e.store.RecordAccess(ctx, privacy.Access{ActorID: "2", Actor: "help@example.com", Role: privacy.RoleSupport,
				Subject: "bob@example.org", What: "contact request", Why: "answering", At: at}))
			require.NoError(t, e.store.AppendConsent(ctx, &privacy.Consent{Subject: "carol@example.org", Purpose: privacy.Purpose("newsletter"),
				Granted: true, PolicyVersion: "1", Source: "newsletter-form", At: at}))
			require.NoError(t, e.store.AppendRightsEvent(ctx, &privacy.RightsEvent{Kind: privacy.RequestExport, Holders: 2, Records: 3, At: at}))

			if w := e.do(tc.req()); !assert.Equal(t, 401, w.Code, "anonymous") {
				t.Log(w.Body.String())
			}
			assert.Empty(t, newReads(t, e.store, 1), "a refused read records nothing")

			w := e.do(as(tc.req(), privacy.RoleAdmin))
			require.Equal(t, tc.code, w.Code, w.Body.String())
			got := newReads(t, e.store, 1)
			if tc.reads == nil {
				assert.Empty(t, got)
				assert.NotContains(t, w.Body.String(), "@", "a route that records no read shows no address")
				return
			}
			var reads []read
			for _, a := range got {
				reads = append(reads, read{a.Subject, a.What})
				assert.Equal(t, "1", a.ActorID)
				assert.Equal(t, "boss@example.com", a.Actor)
				assert.Equal(t, privacy.RoleAdmin, a.Role)
				assert.NotEmpty(t, a.Why)
			}
			assert.ElementsMatch(t, tc.reads, reads)
		})
	}
}

// TestNewNeedsAuditor: a handler whose staff pages would read personal data off
// the record is refused when it is built, naming the missing Auditor.
func TestNewNeedsAuditor(t *testing.T) {
	store := memstore.New()
	ok := func() web.Config {
		return web.Config{Policy: &privacy.Policy{}, Rights: &privacy.Rights{}, Registry: &privacy.Registry{}, Store: store, Auditor: &privacy.Auditor{Log: store},
			Disclosures: &privacy.Disclosures{Store: store, Registry: &privacy.Registry{}, Auditor: &privacy.Auditor{Log: store}}}
	}
	_, err := web.New(ok())
	require.NoError(t, err)
	for name, mutate := range map[string]func(*web.Config){
		"Auditor":             func(c *web.Config) { c.Auditor = nil },
		"AuditorLog":          func(c *web.Config) { c.Auditor = &privacy.Auditor{} },
		"DisclosuresAuditor":  func(c *web.Config) { c.Disclosures.Auditor = nil },
		"DisclosuresAuditLog": func(c *web.Config) { c.Disclosures.Auditor = &privacy.Auditor{} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok()
			mutate(&cfg)
			h, err := web.New(cfg)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), "Auditor")
		})
	}
}
