package comments_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy/web"
)

// Audit #13 finding 16: comments were accepted on any thread id.
func TestUnknownThreadNotFound(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) {
		c.Threads = func(_ context.Context, thread string) bool { return thread == topic }
	})
	for _, path := range []string{"/t/no-such-post", "/t/" + topic + "x"} {
		w := e.postJSON(t, path, `{"name":"Eve","email":"`+eve+`","body":"Hi","ts":"`+e.stamp()+`"}`)
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.Equal(t, "thread", privacyField(t, w.Body.Bytes()), path)
		assert.Contains(t, w.Body.String(), "takes no comments", path)
		w = e.postForm(t, path, e.form("Eve", eve, "Hi"))
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.Equal(t, http.StatusNotFound, e.get(t, path, "").Code, path)
		assert.Equal(t, http.StatusNotFound, e.get(t, "/feed"+path[len("/t"):], "").Code, path)
	}
	_, err := e.svc.Post(ctx, comments.Input{Thread: "no-such-post", Name: "Eve", Email: eve, Body: "Hi"})
	require.Error(t, err)
	th, _ := e.svc.Thread(ctx, topic)
	assert.Zero(t, th.Count)
	require.Equal(t, http.StatusSeeOther, e.postForm(t, threadPath, e.form("Ann", ann, "Hello")).Code)
}

// Audit #13 finding 16: one form stamp was reused for 100 comments.
func TestStampSingleUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		w := e.get(t, threadPath, "application/json")
		require.Equal(t, http.StatusOK, w.Code)
		var got struct {
			Form struct {
				TS string `json:"ts"`
			} `json:"form"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		e.clock.Add(time.Minute)
		post := func(body string) *httptest.ResponseRecorder {
			return e.postForm(t, threadPath, url.Values{"name": {"Ann"}, "email": {ann}, "body": {body}, "ts": {got.Form.TS}})
		}
		assert.Equal(t, http.StatusBadRequest, post("").Code, "an invalid comment")
		assert.Equal(t, http.StatusSeeOther, post("First").Code, "does not use up the stamp")
		for i := range 3 {
			w := post(fmt.Sprintf("Again %d", i))
			assert.Equal(t, http.StatusBadRequest, w.Code, "a used stamp")
			assert.Contains(t, w.Body.String(), "reload the page to write another")
			assert.Contains(t, w.Body.String(), "Again", "the comment is kept in the form")
		}
		w = e.postJSON(t, threadPath, `{"name":"Ann","email":"`+ann+`","body":"By script","ts":"`+got.Form.TS+`"}`)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "ts", privacyField(t, w.Body.Bytes()))

		// A second process on the same store refuses the spent stamp too.
		other := newEnvOn(t, e.store, e.priv, e.db, e.clock, withModeration(comments.ModerateNone))
		w = other.postForm(t, threadPath, url.Values{"name": {"Ann"}, "email": {ann}, "body": {"Elsewhere"}, "ts": {got.Form.TS}})
		assert.Equal(t, http.StatusBadRequest, w.Code, "spent in another process")

		th, _ := e.svc.Thread(ctx, topic)
		assert.Equal(t, 1, th.Count)
		assert.Equal(t, http.StatusSeeOther, e.postForm(t, threadPath, e.form("Ann", ann, "With a new form")).Code)

		// Once the stamp expired the record goes and the stamp is refused as old.
		e.clock.Add(25 * time.Hour)
		_, err := e.svc.Purge(ctx, e.clock.Now())
		require.NoError(t, err)
		w = post("Much later")
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "has expired")
	})
}

// TestStampPerForm: every form served gets its own stamp, in one second and
// in two processes, whose nonce does not count the forms served; the stamp's
// time follows the clock; and a stamp altered or pieced together is refused.
func TestStampPerForm(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	other := newEnvOn(t, e.store, e.priv, nil, e.clock, withModeration(comments.ModerateNone))
	stamps := map[string]bool{}
	var last []byte
	for i := range 200 {
		p := e
		if i%2 == 1 {
			p = other
		}
		w := p.get(t, threadPath, "")
		m := stampRE.FindStringSubmatch(w.Body.String())
		require.NotNil(t, m)
		stamps[m[1]] = true
		_, tail, _ := strings.Cut(m[1], ".")
		raw, err := base64.RawURLEncoding.DecodeString(tail)
		require.NoError(t, err)
		require.Len(t, raw, 32)
		if p == e && last != nil {
			// A count, even behind a prefix, would change a few bits; an
			// encrypted one about half of the 128.
			diff := 0
			for j := range 16 {
				diff += bits.OnesCount8(raw[j] ^ last[j])
			}
			assert.Greater(t, diff, 24, "nonces %x and %x of two views in a row", last, raw[:16])
		}
		if p == e {
			last = raw[:16]
		}
	}
	assert.Len(t, stamps, 200, "forms served in one second, by two processes, get their own stamps")
	e.clock.Add(time.Minute)
	m := stampRE.FindStringSubmatch(e.get(t, threadPath, "").Body.String())
	v := e.form("Ann", ann, "Sent at once")
	v.Set("ts", m[1])
	w := e.postForm(t, threadPath, v)
	assert.Equal(t, http.StatusBadRequest, w.Code, "a form served now is too fresh to post now")
	assert.Contains(t, w.Body.String(), "too quickly")
	for s := range stamps {
		v := e.form("Ann", ann, "Posted with "+s[len(s)-6:])
		v.Set("ts", s)
		assert.Equal(t, http.StatusSeeOther, e.postForm(t, threadPath, v).Code)
		break
	}

	old := (&web.Signer{Key: e.key, Now: func() time.Time { return e.clock.Now().Add(-2 * time.Minute) }}).Stamp()
	fresh := e.stamp()
	signed, tail, _ := strings.Cut(fresh, ".")
	for name, ts := range map[string]string{
		"SignerStampAlone": old,
		"NonceAltered":     signed + "." + strings.Repeat("A", 4) + tail[4:],
		"NonceMoved":       old + "." + tail,
	} {
		v := e.form("Ann", ann, "Forged "+name)
		v.Set("ts", ts)
		w := e.postForm(t, threadPath, v)
		assert.Equal(t, http.StatusBadRequest, w.Code, name)
		assert.Contains(t, w.Body.String(), "reload the page", name)
	}
}

var stampRE = regexp.MustCompile(`name="ts" value="([^"]+)"`)
