package accounts_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// postStaff sends the staff page's form v to path as a browser does, with the
// session token the host's script adds, without following the answer's redirect.
func (s *server) postStaff(path, token string, v url.Values) resp {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(v.Encode()))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(s.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	return resp{res.StatusCode, res.Header, string(b)}
}

// staffPage fetches the staff page as the host's script does.
func (s *server) staffPage(token, query string) resp {
	s.t.Helper()
	return s.do(http.MethodGet, "/accounts/staff"+query, token, "", nil, "Accept", "text/html")
}

// The staff page: an admin sees every staff member with their roles and since
// when they have an account, grants a role by address (303 to the page saying
// so), revokes it with the role's button, and is refused, beside the field, an
// address with no account or one never confirmed. The admin's own admin role has
// no button. Every listing is in the access log, as the JSON API's.
func TestHTTPStaffPage(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	ctx := context.Background()
	boss := e.member("boss@example.org", "correct horse")
	e.member("mod@example.org", "correct horse")
	e.member("new@example.org", "correct horse")
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "unconfirmed@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	require.NoError(t, e.svc.GrantRole(ctx, "boss@example.org", privacy.RoleAdmin))
	require.NoError(t, e.svc.GrantRole(ctx, "mod@example.org", privacy.RoleModerator))
	admin, _ := e.signIn("boss@example.org", "correct horse")
	member, _ := e.signIn("new@example.org", "correct horse")

	assert.Equal(t, http.StatusUnauthorized, s.staffPage("", "").status)
	refused := s.staffPage(member, "")
	assert.Equal(t, http.StatusForbidden, refused.status)
	assert.NotContains(t, refused.body, "mod@example.org")
	assert.Equal(t, http.StatusForbidden, s.postStaff("/accounts/staff/grant", member, url.Values{"email": {"new@example.org"}, "role": {"admin"}}).status)

	page := s.staffPage(admin, "")
	require.Equal(t, http.StatusOK, page.status, page.body)
	assert.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	assert.Equal(t, "no-store", page.header.Get("Cache-Control"))
	rows := regexp.MustCompile(`(?s)<tr><td>(.*?)</tr>`).FindAllStringSubmatch(page.body, -1)
	require.Len(t, rows, 2, page.body)
	assert.Contains(t, rows[0][1], "boss@example.org")
	assert.Contains(t, rows[0][1], `<time datetime="`+boss.Created.UTC().Format("2006-01-02T15:04:05Z")+`" data-date>`+boss.Created.UTC().Format("2006-01-02")+`</time>`)
	assert.NotContains(t, rows[0][1], `action="/accounts/staff/revoke"`, "no admin takes the admin role from themself")
	assert.Contains(t, rows[1][1], "mod@example.org")
	assert.Contains(t, rows[1][1], `<input type="hidden" name="role" value="moderator">`)
	assert.Contains(t, page.body, `<form method="post" action="/accounts/staff/grant" novalidate>`)
	assert.Contains(t, page.body, `<option value="editor">`)
	assert.NotContains(t, page.body, `role="alert"`)

	granted := s.postStaff("/accounts/staff/grant", admin, url.Values{"email": {"New@Example.org"}, "role": {"editor"}})
	require.Equal(t, http.StatusSeeOther, granted.status, granted.body)
	assert.Equal(t, "/accounts/staff?done=granted&role=editor", granted.header.Get("Location"))
	page = s.staffPage(admin, "?done=granted&role=editor")
	assert.Contains(t, page.body, `<p role="status" class="notice">The editor role is granted.</p>`)
	assert.Regexp(t, `(?s)<tr><td>new@example.org.*?<span>editor</span>`, page.body)

	revoked := s.postStaff("/accounts/staff/revoke", admin, url.Values{"email": {"new@example.org"}, "role": {"editor"}})
	require.Equal(t, http.StatusSeeOther, revoked.status, revoked.body)
	assert.Equal(t, "/accounts/staff?done=revoked&role=editor", revoked.header.Get("Location"))
	page = s.staffPage(admin, "?done=revoked&role=editor")
	assert.Contains(t, page.body, "The editor role is revoked.")
	assert.NotContains(t, page.body, "new@example.org")
	assert.NotContains(t, s.staffPage(admin, "?done=granted&role=root").body, "role is granted", "only a known role is named")

	for _, tc := range []struct {
		what, email, role string
		status            int
		faults            map[string]string // field -> its message
	}{
		{"no account", "ghost@example.org", "support", http.StatusNotFound, map[string]string{"email": "No member has an account with this email address"}},
		{"unconfirmed", "unconfirmed@example.org", "support", http.StatusConflict, map[string]string{"email": "The member has not confirmed this email address yet"}},
		{"nothing chosen", "not-an-address", "", http.StatusBadRequest, map[string]string{"role": "Role is required", "email": "This is not an email address"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			r := s.postStaff("/accounts/staff/grant", admin, url.Values{"email": {tc.email}, "role": {tc.role}})
			require.Equal(t, tc.status, r.status, r.body)
			assert.Contains(t, r.body, `<p class="error" role="alert">`)
			assert.Equal(t, len(tc.faults), strings.Count(r.body, `aria-invalid="true"`))
			for field, msg := range tc.faults {
				assert.Regexp(t, `aria-invalid="true" aria-describedby="`+field+`-error">`, r.body)
				assert.Regexp(t, `<span class="error" id="`+field+`-error">`+regexp.QuoteMeta(msg), r.body)
			}
			assert.Contains(t, r.body, `value="`+tc.email+`"`, "what was typed is kept")
			assert.Contains(t, r.body, "mod@example.org", "the list is shown with the form")
		})
	}
	r := s.postStaff("/accounts/staff/grant", admin, url.Values{"email": {"new@example.org"}, "role": {"support"}})
	require.Equal(t, http.StatusSeeOther, r.status, "a role is granted once the address is confirmed")

	// A refused revoke is said above the form: its fields are hidden, none marked.
	gone := s.postStaff("/accounts/staff/revoke", admin, url.Values{"email": {"ghost@example.org"}, "role": {"support"}})
	require.Equal(t, http.StatusNotFound, gone.status)
	assert.Contains(t, gone.body, `<p class="error" role="alert">No member has an account with this email address</p>`)
	assert.NotContains(t, gone.body, `aria-invalid`)
	assert.NotContains(t, gone.body, `value="ghost@example.org"`)

	log, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Limit: 1000})
	require.NoError(t, err)
	listed := map[string]int{}
	for _, a := range log {
		assert.Equal(t, boss.ID, a.ActorID)
		if a.Why == "listing staff" {
			listed[a.Subject]++
		}
	}
	// Every page shown to the admin listed boss and mod: the first page, the two
	// said done, the refused one, the three refused grants and the refused revoke.
	assert.Equal(t, 8, listed["mod@example.org"], "%v", listed)
	assert.Equal(t, 2, listed["new@example.org"], "listed as editor, then as support")
}

// A host words the staff page its own way: the role's name, the page's title.
func TestTemplatesOverrideStaff(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{Templates: fstest.MapFS{"roles.html": {Data: []byte(
		`{{define "role-name"}}{{if eq . "admin"}}administration{{else if eq . "moderator"}}modération{{else}}{{.}}{{end}}{{end}}`)},
		"roles.txt": {Data: []byte(`{{define "title-staff"}}Équipe{{end}}`)}}})
	e.member("boss@example.org", "correct horse")
	require.NoError(t, e.svc.GrantRole(t.Context(), "boss@example.org", privacy.RoleAdmin))
	admin, _ := e.signIn("boss@example.org", "correct horse")
	page := s.staffPage(admin, "?done=granted&role=moderator")
	require.Equal(t, http.StatusOK, page.status, page.body)
	assert.Contains(t, page.body, "<title>Équipe</title>")
	assert.Contains(t, page.body, "The modération role is granted.")
	assert.Contains(t, page.body, "<span>administration</span>")
	assert.NotContains(t, page.body, "<span>admin</span>")
}
