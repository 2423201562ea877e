package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/testport"
	"github.com/consentkit/consentkit/privacy/privacytest"
)

// syncBuffer is a log sink the server writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T, o options) (string, *syncBuffer) {
	o.addr = testport.Addr(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "shutdown")
	})
	base := "http://" + o.addr
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			break
		}
		require.Less(t, time.Since(start), 10*time.Second, "the example did not start")
	}
	return base, logs
}

func do(t *testing.T, method, u, token string, form url.Values) (int, string) {
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestEmbed(t *testing.T) {
	base, _ := start(t, options{})
	for _, p := range []string{"/", "/comments/t/hello", "/privacy/", "/privacy/request"} {
		code, body := do(t, "GET", base+p, "", nil)
		assert.Equal(t, 200, code, "GET %s: %s", p, body)
	}
	assert.NoError(t, privacytest.CheckNoCookiesHTTP(http.DefaultClient, base, "/", "/comments/t/hello", "/privacy/"))
}

// A visitor comments; the moderator, known by the token, approves; the comment is
// shown. Mail goes to the log.
func TestEmbedModerationAndMail(t *testing.T) {
	const token = "a-moderator-token-for-the-test"
	base, logs := start(t, options{moderatorToken: token, secret: strings.Repeat("s", 32)})

	_, page := do(t, "GET", base+"/comments/t/hello", "", nil)
	stamp := regexp.MustCompile(`name="ts" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, stamp, page)
	time.Sleep(3100 * time.Millisecond) // the stamp's minimum age
	code, body := do(t, "POST", base+"/comments/t/hello", "", url.Values{"name": {"Ann"}, "email": {"ann@example.org"},
		"body": {"Lovely post, thank you."}, "ts": {stamp[1]}})
	require.Less(t, code, 400, body)
	_, page = do(t, "GET", base+"/comments/t/hello", "", nil)
	assert.NotContains(t, page, "Lovely post", "a first comment waits for the moderator")

	code, _ = do(t, "GET", base+"/comments/moderate", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = do(t, "GET", base+"/comments/moderate", "wrong-token", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body = do(t, "GET", base+"/comments/moderate", token, nil)
	require.Equal(t, 200, code, body)
	var queue struct {
		Comments []struct{ ID int64 } `json:"comments"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &queue), body)
	require.Len(t, queue.Comments, 1, body)
	code, body = do(t, "POST", fmt.Sprintf("%s/comments/moderate/%d/approve", base, queue.Comments[0].ID), token, url.Values{})
	require.Less(t, code, 400, body)
	_, page = do(t, "GET", base+"/comments/t/hello", "", nil)
	assert.Contains(t, page, "Lovely post")

	code, body = do(t, "POST", base+"/privacy/request", "", url.Values{"email": {"bob@example.org"}, "kind": {"export"}})
	require.Equal(t, http.StatusAccepted, code, body)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "Confirm your data request") }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, logs.String(), "to=bob@example.org")
	assert.Contains(t, logs.String(), "/privacy/confirm?t=")
}

// The host's French comment form is served, and its faults are worded in French
// by their code.
func TestEmbedFrenchForm(t *testing.T) {
	base, _ := start(t, options{})
	_, page := do(t, "GET", base+"/comments/t/hello", "", nil)
	assert.Contains(t, page, `<html lang="fr">`)
	assert.Contains(t, page, `class="carte"`)
	assert.Contains(t, page, "Laisser un commentaire")
	assert.Contains(t, page, "Publier le commentaire")
	assert.NotContains(t, page, "Post comment")
	stamp := regexp.MustCompile(`name="ts" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, stamp)
	time.Sleep(3100 * time.Millisecond)
	code, page := do(t, "POST", base+"/comments/t/hello", "", url.Values{"name": {""}, "email": {"ann@example.org"},
		"body": {strings.Repeat("[x](https://example.org/) ", 20)}, "ts": {stamp[1]}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, page, "Le commentaire n'a pas été publié")
	assert.Contains(t, page, "Nom : champ obligatoire")
	assert.Regexp(t, `Commentaire : \d+ liens au plus`, page)
}

func TestEmbedRefuses(t *testing.T) {
	for name, o := range map[string]options{
		"short secret":          {addr: "127.0.0.1:0", secret: "too short"},
		"log mail off loopback": {addr: "0.0.0.0:0"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, run(context.Background(), o, slog.New(slog.DiscardHandler)))
		})
	}
}
