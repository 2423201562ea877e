package web_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func TestHTTPStatus(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{privacy.Invalid("email", "bad"), 400},
		{privacy.Errorf(privacy.ErrUnauthorized, "x"), 401},
		{privacy.Errorf(privacy.ErrForbidden, "x"), 403},
		{&privacy.RefusalError{Reason: privacy.RefusedPurpose}, 403},
		{privacy.Errorf(privacy.ErrNotFound, "x"), 404},
		{privacy.Errorf(privacy.ErrConflict, "x"), 409},
		{privacy.Errorf(privacy.ErrGone, "x"), 410},
		{privacy.Errorf(privacy.ErrRateLimited, "x"), 429},
		{privacy.Errorf(privacy.ErrUnavailable, "x"), 503},
		{errors.New("disk on fire"), 500},
		{&privacy.Error{Kind: privacy.ErrUnavailable, Err: &privacy.RefusalError{Reason: privacy.RefusedSuppressed}}, 503},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, web.HTTPStatus(tc.err), "%v", tc.err)
	}
}

func TestWriteJSONError(t *testing.T) {
	t.Run("Invalid", func(t *testing.T) {
		w := httptest.NewRecorder()
		web.WriteJSONError(w, httptest.NewRequest("POST", "/", nil), nil, privacy.Invalid("email", "this is not an email address"))
		assert.Equal(t, 400, w.Code)
		assert.JSONEq(t, `{"error":{"status":400,"field":"email","message":"this is not an email address"}}`, w.Body.String())
	})
	t.Run("InternalHidden", func(t *testing.T) {
		w := httptest.NewRecorder()
		web.WriteJSONError(w, httptest.NewRequest("GET", "/", nil), nil, errors.New("dial tcp 10.0.0.5: secret@example.org"))
		assert.Equal(t, 500, w.Code)
		assert.NotContains(t, w.Body.String(), "secret")
	})
	t.Run("RetryAfter", func(t *testing.T) {
		w := httptest.NewRecorder()
		web.WriteJSONError(w, httptest.NewRequest("POST", "/", nil), nil,
			&privacy.Error{Kind: privacy.ErrUnavailable, Message: "busy", RetryAfter: 1500 * time.Millisecond})
		assert.Equal(t, 503, w.Code)
		assert.Equal(t, "2", w.Header().Get("Retry-After"))
	})
}

func TestNoCookies(t *testing.T) {
	setter := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "x"})
		w.Write([]byte("hello"))
	})
	t.Run("Strips", func(t *testing.T) {
		var reported []string
		h := web.NoCookies(setter, web.NoCookiesOptions{OnCookie: func(_ *http.Request, c []string) { reported = c }})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 200, w.Code)
		assert.Empty(t, w.Result().Header.Values("Set-Cookie"))
		assert.Equal(t, "hello", w.Body.String())
		assert.Equal(t, []string{"sid=x"}, reported)
	})
	t.Run("Strict", func(t *testing.T) {
		h := web.NoCookies(setter, web.NoCookiesOptions{Strict: true})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 500, w.Code)
		assert.Empty(t, w.Result().Header.Values("Set-Cookie"))
		assert.NotContains(t, w.Body.String(), "hello")
	})
	t.Run("Clean", func(t *testing.T) {
		h := web.NoCookies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}), web.NoCookiesOptions{Strict: true})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, http.StatusTeapot, w.Code)
	})
}
