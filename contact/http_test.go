package contact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/privacy/web"
)

// do serves one request and checks what every response must hold: no cookie.
func do(t *testing.T, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Empty(t, w.Header().Values("Set-Cookie"), "%s %s set a cookie", r.Method, r.URL)
	return w
}

func formRequest(path string, v url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func jsonRequest(method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Accept", "application/json")
	return r
}

func (e *env) values() url.Values {
	s := valid()
	return url.Values{"name": {s.Name}, "email": {s.Email}, "subject": {s.Subject}, "message": {s.Message},
		"category": {s.Category}, web.TimestampField: {e.stamp()}}
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) web.ErrorBody {
	t.Helper()
	var b web.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), "body: %s", w.Body.String())
	return b
}

func TestFormPage(t *testing.T) {
	e := newEnv(t, "mem")
	w := do(t, e.handler, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	body := w.Body.String()
	for _, f := range []string{"name", "email", "category", "subject", "message", "website"} {
		assert.Contains(t, body, `<label for="contact-`+f+`"`, "field %s has a label", f)
		assert.Contains(t, body, `id="contact-`+f+`" name="`+f+`"`, "field %s", f)
	}
	assert.Regexp(t, `<input type="hidden" name="ts" value="[A-Za-z0-9_-]{40,}">`, body)
	assert.Regexp(t, `(?s)<div hidden><label for="contact-website">.*tabindex="-1"`, body, "the honeypot is hidden without CSS")
	assert.NotContains(t, body, "<script")
	assert.NotContains(t, body, "style=")
	assert.Contains(t, body, "<option>Support</option>")
	assert.Contains(t, body, "180 days")

	w = do(t, e.handler, jsonRequest(http.MethodGet, "/", ""))
	require.Equal(t, http.StatusOK, w.Code)
	var d struct {
		TS         string         `json:"ts"`
		Honeypot   string         `json:"honeypot"`
		Categories []string       `json:"categories"`
		Limits     map[string]int `json:"limits"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &d))
	assert.NotEmpty(t, d.TS)
	assert.Equal(t, "website", d.Honeypot)
	assert.Equal(t, contact.DefaultCategories, d.Categories)
	assert.Equal(t, contact.DefaultMaxMessage, d.Limits["message"])
}

func TestSubmitHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		t.Run("HTML", func(t *testing.T) {
			w := do(t, e.handler, formRequest("/", e.values()))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			ref := regexp.MustCompile(`Your reference is <strong>([0-9A-Z]{4}-[0-9A-Z]{4})</strong>`).FindStringSubmatch(w.Body.String())
			require.Len(t, ref, 2, w.Body.String())
			got, err := e.store.Get(context.Background(), ref[1])
			require.NoError(t, err)
			assert.Equal(t, valid().Message, got.Message)
		})
		t.Run("JSON", func(t *testing.T) {
			var d struct{ TS string }
			require.NoError(t, json.Unmarshal(do(t, e.handler, jsonRequest(http.MethodGet, "/", "")).Body.Bytes(), &d))
			e.clock.Add(5 * time.Second)
			body, _ := json.Marshal(map[string]string{"name": "Bob", "email": "bob@example.org", "subject": "Hi", "message": "Hello", "ts": d.TS})
			w := do(t, e.handler, jsonRequest(http.MethodPost, "/", string(body)))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			var res struct{ Ref, Status string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
			assert.Regexp(t, refPattern, res.Ref)
			assert.Equal(t, "open", res.Status)
			got, err := e.store.Get(context.Background(), res.Ref)
			require.NoError(t, err)
			assert.Equal(t, "bob@example.org", got.Email)
		})
		reqs, _ := e.count(t)
		assert.Equal(t, 2, reqs)
		assert.Len(t, e.mail.Server.Wait(2, 5*time.Second), 2)
	})
}

// TestHostileCorpus sends what contact forms are attacked with. Each gets a clear
// 4xx naming the field (a filled honeypot a silent success), and afterwards the
// store holds no request and the outbox no message.
func TestHostileCorpus(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		crlf := "x\r\nBcc: victim@example.net"
		with := func(mut func(v url.Values)) func() *http.Request {
			return func() *http.Request {
				v := e.values()
				mut(v)
				r := formRequest("/", v)
				r.Header.Set("Accept", "application/json")
				return r
			}
		}
		set := func(k, val string) func() *http.Request { return with(func(v url.Values) { v.Set(k, val) }) }
		rawJSON := func(body string) func() *http.Request {
			return func() *http.Request {
				return jsonRequest(http.MethodPost, "/", strings.Replace(body, "TS", e.stamp(), 1))
			}
		}
		cases := []struct {
			name   string
			req    func() *http.Request
			status int
			field  string
		}{
			{"CRLF/name", set("name", "Ann"+crlf), 400, "name"},
			{"CRLF/email", set("email", visitor+"\r\nBcc: victim@example.net"), 400, "email"},
			{"CRLF/subject", set("subject", "Hi"+crlf), 400, "subject"},
			{"CRLF/category", set("category", "Support"+crlf), 400, "category"},
			{"CRLF/ts", with(func(v url.Values) { v.Set("ts", v.Get("ts")+"\r\nX-Injected: 1") }), 400, "ts"},
			{"CRLF/every field", with(func(v url.Values) {
				for _, k := range []string{"name", "email", "subject", "message", "category"} {
					v.Set(k, v.Get(k)+crlf)
				}
			}), 400, "name"},
			{"LF/subject", set("subject", "Hi\nBcc: victim@example.net"), 400, "subject"},
			{"CR/name", set("name", "Ann\rBcc: victim@example.net"), 400, "name"},
			{"LineSeparator/subject", set("subject", "Hi\u2028Bcc: victim@example.net"), 400, "subject"},
			{"1MB message", set("message", strings.Repeat("A", 1<<20)), 400, "message"},
			{"1MB message/JSON", rawJSON(`{"email":"ann@example.org","subject":"s","ts":"TS","message":"` + strings.Repeat("A", 1<<20) + `"}`), 400, "message"},
			{"message one over the limit", set("message", strings.Repeat("é", contact.DefaultMaxMessage+1)), 400, "message"},
			{"InvalidUTF8/name", set("name", "Ann\xff"), 400, "name"},
			{"InvalidUTF8/email", set("email", "ann\xff@example.org"), 400, "email"},
			{"InvalidUTF8/subject", set("subject", "\xc3\x28"), 400, "subject"},
			{"InvalidUTF8/message", set("message", "caf\xe9"), 400, "message"},
			{"InvalidUTF8/category", set("category", "Support\xff"), 400, "category"},
			{"InvalidUTF8/JSON", rawJSON("{\"email\":\"ann@example.org\",\"subject\":\"s\",\"ts\":\"TS\",\"message\":\"caf\xe9\"}"), 400, "message"},
			{"NUL/name", set("name", "Ann\x00"), 400, "name"},
			{"NUL/email", set("email", "ann\x00@example.org"), 400, "email"},
			{"NUL/subject", set("subject", "Hi\x00"), 400, "subject"},
			{"NUL/message", set("message", "Hello\x00world"), 400, "message"},
			{"NUL/category", set("category", "\x00"), 400, "category"},
			{"NUL/JSON", rawJSON(`{"email":"ann@example.org","subject":"a\u0000b","ts":"TS","message":"m"}`), 400, "subject"},
			{"HTML/name", set("name", `<b onmouseover="alert(1)">Ann</b>`), 400, "name"},
			{"Script/subject", set("subject", `<script>alert(document.domain)</script>`), 400, "subject"},
			{"Script/message", set("message", "Hi\n<script src=https://evil.example/x.js></script>"), 400, "message"},
			{"Link/message", set("message", `Cheap meds <a href="https://spam.example">here</a>`), 400, "message"},
			{"Iframe/category", set("category", `<iframe src=x>`), 400, "category"},
			{"EmailDisplayName", set("email", "Ann <ann@example.org>"), 400, "email"},
			{"EmailList", set("email", "ann@example.org, victim@example.net"), 400, "email"},
			{"FieldTwice", func() *http.Request {
				r := formRequest("/", e.values())
				r.Body = io.NopCloser(strings.NewReader(e.values().Encode() + "&email=victim%40example.net"))
				r.Header.Set("Accept", "application/json")
				return r
			}, 400, "email"},
			{"SubmittedAfter1s", func() *http.Request {
				v := e.values()
				v.Set("ts", e.signer.Stamp())
				e.clock.Add(time.Second)
				r := formRequest("/", v)
				r.Header.Set("Accept", "application/json")
				return r
			}, 400, "ts"},
			{"NoTimestamp", with(func(v url.Values) { v.Del("ts") }), 400, "ts"},
			{"ForgedTimestamp", set("ts", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 400, "ts"},
			{"ExpiredTimestamp", func() *http.Request {
				v := e.values()
				e.clock.Add(25 * time.Hour)
				r := formRequest("/", v)
				r.Header.Set("Accept", "application/json")
				return r
			}, 400, "ts"},
			{"ContentType", func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("email=ann@example.org"))
				r.Header.Set("Content-Type", "text/plain")
				r.Header.Set("Accept", "application/json")
				return r
			}, 400, "content-type"},
			{"JSONArray", rawJSON(`{"email":["ann@example.org","victim@example.net"],"subject":"s","ts":"TS","message":"m"}`), 400, "email"},
			{"JSONNotObject", rawJSON(`["TS"]`), 400, "body"},
			{"Honeypot", set(web.Honeypot, "https://spam.example"), 201, ""},
			{"Honeypot/JSON", rawJSON(`{"email":"ann@example.org","subject":"s","ts":"TS","message":"m","website":"x"}`), 201, ""},
			{"Honeypot/TooFast", func() *http.Request {
				v := e.values()
				v.Set("ts", e.signer.Stamp())
				v.Set(web.Honeypot, "bot")
				r := formRequest("/", v)
				r.Header.Set("Accept", "application/json")
				return r
			}, 201, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := do(t, e.handler, tc.req())
				require.Equal(t, tc.status, w.Code, w.Body.String())
				if tc.field != "" {
					b := errorBody(t, w)
					assert.Equal(t, tc.field, b.Error.Field, "message: %s", b.Error.Message)
					assert.NotEmpty(t, b.Error.Message)
				} else {
					var res struct{ Ref string }
					require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
					assert.Regexp(t, refPattern, res.Ref, "a bot is answered as if it succeeded")
				}
				reqs, msgs := e.count(t)
				assert.Zero(t, reqs, "nothing stored")
				assert.Zero(t, msgs, "nothing enqueued")
			})
		}
		time.Sleep(50 * time.Millisecond)
		assert.Empty(t, e.mail.Server.Messages(), "nothing mailed")
	})
}

func TestFormKeepsWhatWasTyped(t *testing.T) {
	e := newEnv(t, "mem")
	v := e.values()
	v.Set("email", "ann at example")
	v.Set("name", `Ann "the great" O'Neil & co`)
	v.Set("message", "Line one\nLine two & <3")
	w := do(t, e.handler, formRequest("/", v))
	require.Equal(t, http.StatusBadRequest, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `role="alert"`)
	assert.Contains(t, body, `<a href="#contact-email">`, "the summary links to the field")
	assert.Regexp(t, `aria-describedby="contact-email-use contact-email-error" aria-invalid="true"`, body)
	assert.Contains(t, body, `<strong id="contact-email-error">The email address contains a space, control or invisible character</strong>`)
	assert.Contains(t, body, `value="ann at example"`, "the address typed is kept")
	assert.Contains(t, body, `value="Ann &#34;the great&#34; O&#39;Neil &amp; co"`, "the name is kept, escaped")
	assert.Contains(t, body, "Line one\nLine two &amp; &lt;3</textarea>")
	assert.Contains(t, body, `<option selected>Support</option>`)
	assert.Contains(t, body, `value="Order 1234 has not arrived"`)
	assert.NotContains(t, body, "contact-subject-error", "only the faulty field is flagged")

	reqs, msgs := e.count(t)
	assert.Zero(t, reqs)
	assert.Zero(t, msgs)

	t.Run("EveryFaultBesideItsField", func(t *testing.T) {
		v := e.values()
		v.Set("subject", "")
		v.Set("message", "<script>alert(1)</script>")
		w := do(t, e.handler, formRequest("/", v))
		require.Equal(t, http.StatusBadRequest, w.Code)
		body := w.Body.String()
		assert.Contains(t, body, `<strong id="contact-subject-error">Subject is required</strong>`)
		assert.Contains(t, body, `<strong id="contact-message-error">Message must be plain text`)
		assert.NotContains(t, body, "<script>alert(1)", "kept text is escaped")
		assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;</textarea>")
	})
	t.Run("TooFast", func(t *testing.T) {
		v := e.values()
		v.Set("ts", e.signer.Stamp())
		w := do(t, e.handler, formRequest("/", v))
		require.Equal(t, http.StatusBadRequest, w.Code)
		body := w.Body.String()
		assert.Contains(t, body, "The form was sent too quickly")
		assert.Contains(t, body, `value="Order 1234 has not arrived"`, "kept, to send again")
		stamp := regexp.MustCompile(`name="ts" value="([^"]+)"`).FindStringSubmatch(body)
		require.Len(t, stamp, 2)
		e.clock.Add(5 * time.Second)
		v.Set("ts", stamp[1])
		w = do(t, e.handler, formRequest("/", v))
		require.Equal(t, http.StatusOK, w.Code, "waiting and sending the kept form again succeeds")
		_, err := e.store.Get(context.Background(), regexp.MustCompile(`[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(w.Body.String()))
		require.NoError(t, err)
	})
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, "mem", func(_ *contact.Config, h *contact.HandlerConfig) { h.Limiter = web.NewLimiter(1, time.Hour, 2) })
	send := func(addr string) *httptest.ResponseRecorder {
		r := formRequest("/", e.values())
		r.RemoteAddr = addr
		r.Header.Set("Accept", "application/json")
		return do(t, e.handler, r)
	}
	assert.Equal(t, http.StatusCreated, send("192.0.2.1:1000").Code)
	assert.Equal(t, http.StatusCreated, send("192.0.2.1:1001").Code)
	w := send("192.0.2.1:1002")
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.NotEmpty(t, w.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusCreated, send("198.51.100.7:1000").Code, "another client is not limited")
	reqs, _ := e.count(t)
	assert.Equal(t, 3, reqs)

	r := formRequest("/", e.values())
	r.RemoteAddr = "192.0.2.1:1003"
	w = do(t, e.handler, r)
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Contains(t, w.Body.String(), `value="Order 1234 has not arrived"`, "the HTML form keeps what was typed")
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, "mem")
	r, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	posts := []*http.Request{
		formRequest("/", e.values()),
		formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {"hi"}}),
		formRequest("/requests/"+r.Ref+"/close", nil),
	}
	for _, req := range posts {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("X-Test-Role", "support")
		w := do(t, e.handler, req)
		assert.Equal(t, http.StatusForbidden, w.Code, req.URL.Path)
	}
	req := formRequest("/", e.values())
	req.Header.Set("Origin", "https://evil.example")
	req.Host = "example.com"
	assert.Equal(t, http.StatusForbidden, do(t, e.handler, req).Code)

	reqs, _ := e.count(t)
	assert.Equal(t, 1, reqs)
	got, err := e.store.Get(context.Background(), r.Ref)
	require.NoError(t, err)
	assert.Equal(t, contact.StatusOpen, got.Status)
	assert.Empty(t, got.Thread)
}

func TestStaffHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		in := valid()
		in.Message = "Hello <3\nsecond line"
		r, err := e.svc.Submit(context.Background(), in)
		require.NoError(t, err)
		as := func(role string, req *http.Request) *http.Request {
			if role != "" {
				req.Header.Set("X-Test-Role", role)
			}
			return req
		}

		t.Run("ErrUnauthorized", func(t *testing.T) {
			for _, req := range []*http.Request{
				jsonRequest(http.MethodGet, "/requests", ""),
				jsonRequest(http.MethodGet, "/requests/"+r.Ref, ""),
				jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/reply", `{"text":"hi"}`),
				jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/close", `{}`),
			} {
				w := do(t, e.handler, req)
				assert.Equal(t, http.StatusUnauthorized, w.Code, req.URL.Path)
			}
			w := do(t, e.handler, httptest.NewRequest(http.MethodGet, "/requests", nil))
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Contains(t, w.Body.String(), "Sign in first")
		})
		t.Run("ErrForbidden", func(t *testing.T) {
			w := do(t, e.handler, as("moderator", jsonRequest(http.MethodGet, "/requests/"+r.Ref, "")))
			assert.Equal(t, http.StatusForbidden, w.Code)
			assert.NotContains(t, w.Body.String(), visitor)
		})
		assert.Empty(t, e.access(t))

		t.Run("ListJSON", func(t *testing.T) {
			w := do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests?status=all", "")))
			require.Equal(t, http.StatusOK, w.Code)
			var res struct{ Requests []contact.Request }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
			require.Len(t, res.Requests, 1)
			assert.Equal(t, r.Ref, res.Requests[0].Ref)
			assert.Equal(t, visitor, res.Requests[0].Email)
			assert.Len(t, e.access(t), 1)

			w = do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests?status=pending", "")))
			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, "status", errorBody(t, w).Error.Field)
			w = do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests?offset=-1", "")))
			assert.Equal(t, "offset", errorBody(t, w).Error.Field)
		})
		t.Run("ReadJSON", func(t *testing.T) {
			w := do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests/"+strings.ToLower(r.Ref), "")))
			require.Equal(t, http.StatusOK, w.Code)
			var got contact.Request
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, in.Message, got.Message)
			assert.Len(t, e.access(t), 2)
			assert.Equal(t, http.StatusNotFound, do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests/ZZZZ-ZZZZ", ""))).Code)
			assert.Equal(t, http.StatusNotFound, do(t, e.handler, as("support", jsonRequest(http.MethodGet, "/requests/..%2F..%2Fetc", ""))).Code)
		})
		t.Run("ListHTML", func(t *testing.T) {
			w := do(t, e.handler, as("support", httptest.NewRequest(http.MethodGet, "/requests", nil)))
			require.Equal(t, http.StatusOK, w.Code)
			assert.Contains(t, w.Body.String(), `<a href="/requests/`+r.Ref+`">Order 1234 has not arrived</a>`)
			assert.Contains(t, w.Body.String(), "Ann Example<br><span class=\"meta\">ann@example.org</span>")
		})
		t.Run("ReplyHTML", func(t *testing.T) {
			w := do(t, e.handler, as("support", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref, nil)))
			require.Equal(t, http.StatusOK, w.Code)
			body := w.Body.String()
			assert.Contains(t, body, "Hello &lt;3<br>\nsecond line", "the message is shown escaped, line by line")
			assert.Contains(t, body, `action="/requests/`+r.Ref+`/reply"`)

			w = do(t, e.handler, as("support", formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {"  "}})))
			require.Equal(t, http.StatusBadRequest, w.Code)
			assert.Contains(t, w.Body.String(), "Reply is required")

			w = do(t, e.handler, as("support", formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {"We shipped it.\nBest, Support"}})))
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			require.Equal(t, "/requests/"+r.Ref+"?done=replied", w.Header().Get("Location"), "a refresh of the answer must not send the reply again")
			w = do(t, e.handler, as("support", httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)))
			body = w.Body.String()
			assert.Contains(t, body, "Your reply was sent.")
			assert.Contains(t, body, "We shipped it.<br>\nBest, Support")
			assert.Contains(t, body, `action="/requests/`+r.Ref+`/reply"`, "links stay right on the answer to a POST")
			// The notification and the reply, in whichever order the outbox delivered them.
			msgs := e.mail.Server.Wait(2, 5*time.Second)
			require.Len(t, msgs, 2)
			assert.ElementsMatch(t, [][]string{{"support@example.com"}, {visitor}}, [][]string{msgs[0].To, msgs[1].To})
		})
		t.Run("ReplyJSON", func(t *testing.T) {
			w := do(t, e.handler, as("support", jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/reply", `{"text":"And it arrives Monday."}`)))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			var rep contact.Reply
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep))
			assert.Equal(t, "And it arrives Monday.", rep.Text)
			w = do(t, e.handler, as("support", jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/reply", `{"text":"x\u0000"}`)))
			assert.Equal(t, "text", errorBody(t, w).Error.Field)
		})
		t.Run("CloseJSON", func(t *testing.T) {
			w := do(t, e.handler, as("support", jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/close", `{}`)))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.JSONEq(t, fmt.Sprintf(`{"ref":%q,"status":"closed"}`, r.Ref), w.Body.String())
			w = do(t, e.handler, as("support", jsonRequest(http.MethodPost, "/requests/"+r.Ref+"/reply", `{"text":"late"}`)))
			assert.Equal(t, http.StatusConflict, w.Code)
			w = do(t, e.handler, as("support", httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref, nil)))
			assert.NotContains(t, w.Body.String(), "/reply\"", "no reply form on a closed request")
		})
		got, err := e.store.Get(context.Background(), r.Ref)
		require.NoError(t, err)
		assert.Len(t, got.Thread, 2)
		assert.Equal(t, contact.StatusClosed, got.Status)
	})
}

func TestMountedUnderPrefix(t *testing.T) {
	e := newEnv(t, "mem", func(_ *contact.Config, h *contact.HandlerConfig) { h.BaseURL = "https://example.com/help/contact" })
	mux := http.NewServeMux()
	mux.Handle("/help/contact/", http.StripPrefix("/help/contact", e.handler))
	w := do(t, mux, httptest.NewRequest(http.MethodGet, "/help/contact/", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `<form method="post" action="/help/contact/"`)

	w = do(t, mux, formRequest("/help/contact/", e.values()))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	rs, err := e.store.List(context.Background(), contact.Filter{})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	ref := rs[0].Ref

	req := httptest.NewRequest(http.MethodGet, "/help/contact/requests", nil)
	req.Header.Set("X-Test-Role", "support")
	w = do(t, mux, req)
	assert.Contains(t, w.Body.String(), `<a href="/help/contact/requests/`+ref+`">`)
	req = formRequest("/help/contact/requests/"+ref+"/close", nil)
	req.Header.Set("X-Test-Role", "support")
	w = do(t, mux, req)
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/help/contact/requests/"+ref+"?done=closed", w.Header().Get("Location"))
	req = httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)
	req.Header.Set("X-Test-Role", "support")
	w = do(t, mux, req)
	assert.Contains(t, w.Body.String(), `<a href="/help/contact/requests">All requests</a>`)
	assert.Contains(t, w.Body.String(), `action="/help/contact/requests/`+ref+`/reopen"`)
}

// TestCloseReopenHTML: a closed request offers no reply form but a way to reopen
// it; reopened, it takes replies again, and each step is in the access log.
func TestCloseReopenHTML(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		r, err := e.svc.Submit(context.Background(), valid())
		require.NoError(t, err)
		as := func(role string, req *http.Request) *http.Request {
			req.Header.Set("X-Test-Role", role)
			return req
		}
		step := func(action, want string) string {
			w := do(t, e.handler, as("support", formRequest("/requests/"+r.Ref+"/"+action, nil)))
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			w = do(t, e.handler, as("support", httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil)))
			require.Equal(t, http.StatusOK, w.Code)
			assert.Contains(t, w.Body.String(), want)
			return w.Body.String()
		}
		closed := step("close", "The request is closed.")
		assert.NotContains(t, closed, "/reply\"", "a closed request shows no reply form")
		assert.Contains(t, closed, "/reopen\"")
		reopened := step("reopen", "The request is open again.")
		assert.Contains(t, reopened, "/reply\"")
		got, err := e.store.Get(context.Background(), r.Ref)
		require.NoError(t, err)
		assert.Equal(t, contact.StatusOpen, got.Status)
		whys := map[string]bool{}
		for _, a := range e.access(t) {
			whys[a.Why] = true
		}
		assert.True(t, whys["closing the request"] && whys["reopening the request"], "access log: %v", whys)

		w := do(t, e.handler, formRequest("/requests/"+r.Ref+"/reopen", nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code, "reopening needs a signed-in member")
	})
}

func TestNoCookiesAnywhere(t *testing.T) {
	e := newEnv(t, "mem")
	r, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	guarded := web.NoCookies(e.handler, web.NoCookiesOptions{Strict: true})
	for _, role := range []string{"", "support", "moderator"} {
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodGet, "/", nil),
			jsonRequest(http.MethodGet, "/", ""),
			formRequest("/", e.values()),
			formRequest("/", url.Values{"email": {"bad"}}),
			httptest.NewRequest(http.MethodGet, "/requests", nil),
			httptest.NewRequest(http.MethodGet, "/requests/"+r.Ref, nil),
			formRequest("/requests/"+r.Ref+"/reply", url.Values{"text": {"hi"}}),
			formRequest("/requests/"+r.Ref+"/close", nil),
			httptest.NewRequest(http.MethodGet, "/nope", nil),
		} {
			req.Header.Set("X-Test-Role", role)
			w := do(t, guarded, req)
			assert.NotEqual(t, http.StatusInternalServerError, w.Code, "%s %s as %q", req.Method, req.URL, role)
		}
	}
}
