package accounts_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

func TestDeviceLabel(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0":                                                                  "Firefox on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0":           "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36":                   "Chrome on Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":                      "Safari on macOS",
		"curl/8.5.0":                          "",
		"Go-http-client/1.1":                  "",
		"MyApp/1.0 (Linux; uniquevisitor123)": "a browser on Linux",
		"":                                    "",
	} {
		assert.Equal(t, want, accounts.DeviceLabel(ua), "ua=%q", ua)
	}
}

func TestSessionsListAndRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("many@example.org", "correct horse")
	ff := accounts.WithUserAgent(ctx, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	first, err := e.svc.SignIn(ff, "many@example.org", "correct horse")
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	second, _ := e.svc.SignIn(ctx, "many@example.org", "correct horse")
	e.clock.Advance(time.Second)
	third, _ := e.svc.SignIn(ctx, "many@example.org", "correct horse")
	e.signIn("many@example.org", "correct horse")

	me := e.as(first.Token)
	list, err := e.svc.MySessions(me)
	require.NoError(t, err)
	require.Len(t, list, 4)
	assert.True(t, list[0].Current)
	assert.Equal(t, "Firefox on Linux", list[0].Device)
	assert.False(t, list[1].Current)
	b, _ := json.Marshal(list)
	assert.NotContains(t, string(b), first.Token, "a token is never shown again")

	require.NoError(t, e.svc.RevokeSession(me, list[1].ID))
	_, err = e.svc.Actor(ctx, second.Token)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "the revoked session is refused")
	assert.ErrorIs(t, e.svc.RevokeSession(me, list[1].ID), privacy.ErrNotFound)

	// Another member cannot end this member's sessions.
	e.member("else@example.org", "correct horse")
	_, them := e.signIn("else@example.org", "correct horse")
	assert.ErrorIs(t, e.svc.RevokeSession(them, list[2].ID), privacy.ErrNotFound)
	_, err = e.svc.Actor(ctx, third.Token)
	require.NoError(t, err)

	n, err := e.svc.RevokeOtherSessions(me)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	_, err = e.svc.Actor(ctx, third.Token)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	_, err = e.svc.Actor(ctx, first.Token)
	assert.NoError(t, err, "this session stays")
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("pw@example.org", "correct horse")
	a, me := e.signIn("pw@example.org", "correct horse")
	b, _ := e.signIn("pw@example.org", "correct horse")
	res, err := e.svc.ChangePassword(me, "correct horse", "battery staple")
	require.NoError(t, err)
	for _, tok := range []string{a, b} {
		_, err = e.svc.Actor(ctx, tok)
		assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	}
	list, err := e.svc.MySessions(e.as(res.Token))
	require.NoError(t, err)
	require.Len(t, list, 1, "only the session the change returned")
	assert.True(t, list[0].Current)
}

func TestHTTPSecondFactorAndSessions(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("web2fa@example.org", "correct horse")
	signin := func() map[string]any {
		r := s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": "web2fa@example.org", "password": "correct horse"})
		require.Equal(t, http.StatusOK, r.status, r.body)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &out))
		return out
	}
	tok := signin()["token"].(string)

	r := s.json(http.MethodPost, "/accounts/me/factors/totp", tok, map[string]any{})
	require.Equal(t, http.StatusCreated, r.status, r.body)
	var en accounts.Enrolment
	require.NoError(t, json.Unmarshal([]byte(r.body), &en))
	r = s.json(http.MethodPost, "/accounts/me/factors/totp/confirm", tok, map[string]any{"id": en.ID, "code": "12345x"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.body, `"field":"code"`)
	r = s.json(http.MethodPost, "/accounts/me/factors/totp/confirm", tok, map[string]any{"id": en.ID, "code": e.code(en.Secret)})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, accounts.RecoveryCodeCount, strings.Count(r.body, "-"))

	out := signin()
	assert.Nil(t, out["token"])
	challenge := out["challenge"].(string)
	e.clock.Advance(30 * time.Second)

	// A browser without script: the sign-in form leads to the code form.
	page := s.form("/accounts/signin", url.Values{"email": {"web2fa@example.org"}, "password": {"correct horse"}})
	assert.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, `name="challenge"`)
	assert.Contains(t, page.body, `autocomplete="one-time-code"`)
	assert.NotContains(t, page.body, "session-token")

	r = s.json(http.MethodPost, "/accounts/signin/code", "", map[string]any{"challenge": challenge, "code": e.code(en.Secret)})
	require.Equal(t, http.StatusOK, r.status, r.body)
	var in accounts.SignedIn
	require.NoError(t, json.Unmarshal([]byte(r.body), &in))
	require.NotEmpty(t, in.Token)

	r = s.json(http.MethodGet, "/accounts/me/sessions", in.Token, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	var list struct{ Sessions []accounts.SessionView }
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list.Sessions, 2)
	assert.Empty(t, list.Sessions[0].Device, "Go's client names no browser and no system")
	var old string
	for _, x := range list.Sessions {
		if !x.Current {
			old = x.ID
		}
	}
	r = s.json(http.MethodPost, "/accounts/me/sessions/"+old+"/revoke", in.Token, map[string]any{})
	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	r = s.json(http.MethodGet, "/accounts/me", tok, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "the revoked session is refused")

	e.clock.Advance(10 * time.Minute)
	r = s.json(http.MethodGet, "/accounts/me/export", in.Token, nil)
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Contains(t, r.body, `"field":"proof"`)
	r = s.json(http.MethodPost, "/accounts/me/confirm", in.Token, map[string]any{"password": "correct horse"})
	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	r = s.json(http.MethodGet, "/accounts/me/export", in.Token, nil)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	assert.NotContains(t, r.body, en.Secret)
}
