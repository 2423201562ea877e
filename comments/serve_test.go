package comments_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// request sends GET path with headers (name, value pairs) and returns the answer
// and its body, decoded when gzip-encoded, checked for addresses decoded.
func (e *env) request(t *testing.T, path string, headers ...string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := e.serve(t, r)
	b := w.Body.Bytes()
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		b, err = io.ReadAll(zr) // checks the CRC and the length
		require.NoError(t, err)
		assertNoAddress(t, string(b), "gzip "+path)
	}
	return w, string(b)
}

func withoutStamp(s string) string { return stampRE.ReplaceAllString(s, `name="ts" value="STAMP"`) }

// TestThreadServedAsRendered checks the bytes served from the per-version cache
// against the page rendered for the request, on each page and in each
// encoding, and that each view still gets its own stamp.
func TestThreadServedAsRendered(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withModeration(comments.ModerateNone))
		seedThread(t, e, "long", 120)
		for _, q := range []string{"", "?page=2", "?page=3"} {
			w, plain := e.request(t, "/t/long"+q)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, fmt.Sprint(len(plain)), w.Header().Get("Content-Length"))
			assert.Equal(t, "Accept-Encoding", w.Header().Get("Vary"))
			assert.Empty(t, w.Header().Get("Content-Encoding"))

			frag, err := e.handler.Fragment(httptest.NewRequest(http.MethodGet, "/t/long"+q, nil), "long")
			require.NoError(t, err)
			rw := httptest.NewRecorder()
			web.Plain(rw, httptest.NewRequest(http.MethodGet, "/t/long"+q, nil), http.StatusOK, "Comments", frag)
			assert.Equal(t, withoutStamp(rw.Body.String()), withoutStamp(plain), "page %q", q)

			zw, zipped := e.request(t, "/t/long"+q, "Accept-Encoding", "br;q=1.0, gzip;q=0.8")
			require.Equal(t, http.StatusOK, zw.Code)
			assert.Equal(t, "gzip", zw.Header().Get("Content-Encoding"))
			assert.Less(t, zw.Body.Len(), len(zipped)/2, "compressed")
			assert.Equal(t, withoutStamp(plain), withoutStamp(zipped))
			assert.NotEqual(t, stampRE.FindString(plain), stampRE.FindString(zipped), "a stamp per view")
			assert.NotEqual(t, w.Header().Get("ETag"), zw.Header().Get("ETag"), "a tag per encoding")

			_, refused := e.request(t, "/t/long"+q, "Accept-Encoding", "gzip;q=0")
			assert.Equal(t, withoutStamp(plain), withoutStamp(refused))
		}

		// JSON: the bytes web.WriteJSON wrote before, gzip alike.
		for _, enc := range []string{"", "gzip"} {
			w, b := e.request(t, "/t/long?page=2", "Accept", "application/json", "Accept-Encoding", enc)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			var got struct {
				comments.ThreadView
				Paging comments.Paging `json:"paging"`
				Form   struct {
					TS       string `json:"ts"`
					Honeypot string `json:"honeypot"`
					MaxBody  int    `json:"max_body"`
				} `json:"form"`
			}
			require.NoError(t, json.Unmarshal([]byte(b), &got))
			assert.Equal(t, 2, got.Paging.Page)
			assert.Equal(t, 120, got.Count)
			assert.NotEmpty(t, got.Form.TS)
			assert.Equal(t, web.Honeypot, got.Form.Honeypot)
			assert.Contains(t, b, `"paging":{"page":2,`)
			assert.True(t, strings.HasSuffix(b, "}}\n"))
		}
	})
}

// TestThreadRevalidated: a browser holding a page is told 304 while its
// version is current and its stamp may still post; otherwise it gets the page
// with a new stamp, also from another process after a change there.
func TestThreadRevalidated(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind) // moderated: a pending comment leaves the thread as it is
		first := e.post(t, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: "First"})
		require.NoError(t, e.svc.Approve(moderator(), first.Comment.ID))
		other := newEnvOn(t, e.store, e.priv, e.db, e.clock)

		for _, enc := range []string{"", "gzip"} {
			t.Run("enc="+enc, func(t *testing.T) {
				w, page := e.request(t, threadPath, "Accept-Encoding", enc)
				require.Equal(t, http.StatusOK, w.Code)
				tag := w.Header().Get("ETag")
				require.NotEmpty(t, tag)
				assert.Equal(t, "private, no-cache", w.Header().Get("Cache-Control"))
				stamp := stampRE.FindStringSubmatch(page)[1]

				w, b := e.request(t, threadPath, "Accept-Encoding", enc, "If-None-Match", tag)
				assert.Equal(t, http.StatusNotModified, w.Code)
				assert.Empty(t, b)
				assert.Equal(t, tag, w.Header().Get("ETag"))
				w, _ = other.request(t, threadPath, "Accept-Encoding", enc, "If-None-Match", `"x", W/`+tag)
				assert.Equal(t, http.StatusNotModified, w.Code, "another process, the same version")
				w, _ = e.request(t, threadPath, "Accept-Encoding", map[string]string{"": "gzip", "gzip": "identity"}[enc], "If-None-Match", tag)
				assert.Equal(t, http.StatusOK, w.Code, "another encoding")
				w, _ = e.request(t, threadPath+"?page=1&reply=1", "Accept-Encoding", enc, "If-None-Match", tag)
				assert.Equal(t, http.StatusOK, w.Code, "another view")

				// The stamp posts a comment held for a moderator: the thread is
				// unchanged, but the page on screen could post nothing more.
				e.clock.Add(time.Minute)
				v := url.Values{"name": {"Cy"}, "email": {cy}, "body": {"Held " + enc}, "ts": {stamp}}
				require.Equal(t, http.StatusSeeOther, e.postForm(t, threadPath, v).Code)
				w, b = e.request(t, threadPath, "Accept-Encoding", enc, "If-None-Match", tag)
				require.Equal(t, http.StatusOK, w.Code, "a spent stamp is not shown again")
				assert.NotContains(t, b, stamp)
				tag = w.Header().Get("ETag")

				// A change in the other process: this one serves it at once.
				p := other.post(t, comments.Input{Thread: topic, Name: "Dee", Email: dee, Body: "Approved elsewhere, encoding " + enc + "."})
				require.NoError(t, other.svc.Approve(moderator(), p.Comment.ID))
				w, b = e.request(t, threadPath, "Accept-Encoding", enc, "If-None-Match", tag)
				require.Equal(t, http.StatusOK, w.Code)
				assert.Contains(t, b, "Approved elsewhere, encoding "+enc+".")
				tag = w.Header().Get("ETag")

				// Past half the stamp's life the page is sent again with a new one.
				e.clock.Add(12*time.Hour + time.Minute)
				w, _ = e.request(t, threadPath, "Accept-Encoding", enc, "If-None-Match", tag)
				assert.Equal(t, http.StatusOK, w.Code)
			})
		}
		// JSON is revalidated alike.
		w, _ := e.request(t, threadPath, "Accept", "application/json")
		tag := w.Header().Get("ETag")
		require.NotEmpty(t, tag)
		w, _ = e.request(t, threadPath, "Accept", "application/json", "If-None-Match", tag)
		assert.Equal(t, http.StatusNotModified, w.Code)
		w, _ = e.request(t, threadPath, "If-None-Match", tag)
		assert.Equal(t, http.StatusOK, w.Code, "the HTML page is another representation")
	})
}

// TestServeThread: the host's page of a thread, framed by its own HTML.
func TestServeThread(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	e.post(t, comments.Input{Thread: topic, Name: "Ann", Email: ann, Body: "On the post"})
	r := httptest.NewRequest(http.MethodGet, "/blog/hello", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	require.NoError(t, e.handler.ServeThread(w, r, topic, "Hello", "<article>Post</article>", "<p>after</p>"))
	zr, err := gzip.NewReader(w.Body)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	page := string(b)
	assert.Contains(t, page, "<title>Hello</title>")
	assert.Regexp(t, `(?s)<article>Post</article><section class="comments".*On the post.*</section>\n<p>after</p>`, page)

	w = httptest.NewRecorder()
	err = e.handler.ServeThread(w, httptest.NewRequest(http.MethodGet, "/blog/x?page=9", nil), topic, "Hello", "", "")
	assert.Equal(t, "page", privacy.FieldOf(err))
	assert.Zero(t, w.Body.Len(), "nothing written on error")
}

// TestThreadServedFromFrameAnswers views one page many times in each encoding
// through a layout that greets the visitor the request names: the answers a
// frame's views reuse carry that frame's layout only, a new stamp each, whose
// ETag names it, and a gzip CRC and length that check out, while visitors
// alternate and when one comes back.
func TestThreadServedFromFrameAnswers(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Layout = func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
			web.Plain(w, r, status, title, template.HTML("<p>Hello, "+template.HTMLEscapeString(r.URL.Query().Get("who"))+"</p>")+body)
		}
	})
	seedThread(t, e, "long", 60)
	want := map[string]string{}
	stamps := map[string]bool{}
	for i, who := range []string{"amy", "amy", "amy", "bo", "bo", "amy", "amy", "bo", "amy", "amy", "amy"} {
		for _, enc := range []string{"", "gzip"} {
			w, page := e.request(t, "/t/long?who="+who, "Accept-Encoding", enc)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, enc, w.Header().Get("Content-Encoding"))
			assert.Equal(t, fmt.Sprint(w.Body.Len()), w.Header().Get("Content-Length"))
			assert.Contains(t, page, "<p>Hello, "+who+"</p>", "view %d", i)
			stamp := stampRE.FindStringSubmatch(page)
			require.NotNil(t, stamp)
			assert.False(t, stamps[stamp[1]], "view %d %s: a stamp served twice", i, enc)
			stamps[stamp[1]] = true
			assert.True(t, strings.HasSuffix(w.Header().Get("ETag"), "~"+stamp[1]+map[string]string{"": "~id\"", "gzip": "~gz\""}[enc]),
				"view %d %s: ETag %s names another stamp than %s", i, enc, w.Header().Get("ETag"), stamp[1])
			if want[who] == "" {
				want[who] = withoutStamp(page)
			}
			assert.Equal(t, want[who], withoutStamp(page), "view %d %s", i, enc)
		}
	}
	assert.NotEqual(t, want["amy"], want["bo"])
}

// TestLayoutKey: a Layout declared static per key (HandlerConfig.LayoutKey) is
// called once per key, title and HTML around the thread while the thread is
// unchanged, and every view carries what it wrote and the headers it set for
// that key, as a Layout called at each view does; a change to the thread, to
// the key or to the host's HTML calls it again.
func TestLayoutKey(t *testing.T) {
	calls := 0
	greet := func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
		who := r.URL.Query().Get("who")
		w.Header().Set("X-Who", who)
		w.Header().Del("X-Before")
		web.Plain(w, r, status, title, template.HTML("<p>Hello, "+template.HTMLEscapeString(who)+"</p>")+body)
	}
	keyed := newEnv(t, "mem", withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Layout = func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
			calls++
			greet(w, r, status, title, body)
		}
		h.LayoutKey = func(r *http.Request) string { return r.URL.Query().Get("who") }
	})
	each := newEnvOn(t, keyed.store, keyed.priv, nil, keyed.clock, withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Layout = greet
	})
	seedThread(t, keyed, "long", 60)
	view := func(e *env, who, enc string, post template.HTML) (*httptest.ResponseRecorder, string) {
		r := httptest.NewRequest(http.MethodGet, "/t/long?who="+who, nil)
		r.Header.Set("Accept-Encoding", enc)
		w := httptest.NewRecorder()
		w.Header().Set("X-Before", "set before the layout")
		var err error
		if post == "" {
			e.handler.ServeHTTP(w, r)
		} else {
			err = e.handler.ServeThread(w, r, "long", "A post", post, "")
		}
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, w.Code)
		b := w.Body.Bytes()
		if enc == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			require.NoError(t, err)
			b, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
		return w, withoutStamp(string(b))
	}
	want := map[string]string{}
	for _, who := range []string{"amy", "bo"} {
		for _, enc := range []string{"", "gzip"} {
			_, want[who+enc] = view(each, who, enc, "")
		}
	}
	for i, tc := range []struct {
		who   string
		calls int // calls of the keyed Layout after the view
	}{{"amy", 1}, {"amy", 1}, {"amy", 1}, {"bo", 2}, {"bo", 2}, {"amy", 3}} {
		for _, enc := range []string{"", "gzip"} {
			w, page := view(keyed, tc.who, enc, "")
			assert.True(t, want[tc.who+enc] == page, "view %d %s %s: not the page a Layout called for the view writes", i, tc.who, enc)
			assert.Equal(t, tc.who, w.Header().Get("X-Who"), "view %d: the header the Layout set for the key", i)
			assert.Empty(t, w.Header().Values("X-Before"), "view %d: and the one it removed", i)
			assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
			assert.Equal(t, tc.calls, calls, "view %d %s %s", i, tc.who, enc)
		}
	}

	_, page := view(keyed, "amy", "", "<article>One post</article>")
	assert.True(t, strings.Contains(page, "<article>One post</article>"))
	_, page = view(keyed, "amy", "", "<article>Another post</article>")
	assert.True(t, strings.Contains(page, "<article>Another post</article>"))
	assert.Equal(t, 5, calls, "a call for each post's HTML")

	keyed.post(t, comments.Input{Thread: "long", Name: "Ann", Email: ann, Body: "A new comment"})
	_, page = view(keyed, "amy", "", "")
	assert.True(t, strings.Contains(page, "61 comments"), "the thread as changed")
	assert.Equal(t, 6, calls, "a call for the thread changed")
	_, again := view(keyed, "amy", "", "")
	assert.Equal(t, page, again)
	assert.Equal(t, 6, calls)
}
