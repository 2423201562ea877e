package comments_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy/web"
)

// FuzzRender renders and sanitizes arbitrary Markdown: it must never fail, and
// never yield an element, attribute or URL that could run script or load content.
func FuzzRender(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.payload)
	}
	r := comments.NewRenderer()
	f.Fuzz(func(t *testing.T, src string) {
		out, err := r.Render(src)
		if err != nil {
			t.Fatalf("Render(%q): %v", src, err)
		}
		for _, p := range unsafeHTML(out, true) {
			t.Errorf("Render(%q) = %q: %s", src, out, p)
		}
	})
}

// FuzzPost sends arbitrary comment forms to the handler: whatever arrives, the
// answer is never a server error.
func FuzzPost(f *testing.F) {
	f.Add(topic, "Ann", ann, "Hello *world*", "", "on")
	f.Add("a//b", "", "not-an-address", "", "12x", "")
	f.Add("blog/x", "Bob\r\nBcc: x", bob, "<script>alert(1)</script>", "-1", "yes")
	f.Add("../etc", strings.Repeat("n", 90), "a@b.c", strings.Repeat("[x](https://x.example.net) ", 10), "99999999999999999999", "")
	e := newEnv(f, "mem", withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Limiter = web.NewLimiter(1000000, time.Second, 1000000)
	})
	stamp := e.stamp()
	f.Fuzz(func(t *testing.T, thread, name, email, body, parent, follow string) {
		v := url.Values{"name": {name}, "email": {email}, "body": {body}, "parent": {parent}, "follow_up": {follow}, "ts": {stamp}}
		for _, asJSON := range []bool{false, true} {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(v.Encode()))
			r.URL.Path, r.URL.RawPath = "/t/"+thread, ""
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if asJSON {
				r.Header.Set("Accept", "application/json")
			}
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("POST /t/%q %v: %d %s", thread, v, w.Code, w.Body.String())
			}
			if w.Header().Get("Set-Cookie") != "" {
				t.Fatalf("a cookie was set")
			}
		}
	})
}

// FuzzModerateForm sends any body to the queue's bulk form and any query to
// the queue, as a moderator: never a server error, and a refused form changes
// no comment.
func FuzzModerateForm(f *testing.F) {
	f.Add("action=approve&comment-1=on&comment-2=on&status=pending&page=2&limit=1", "status=pending&page=2&limit=1")
	f.Add("action=reject&ids=1,2,x", "thread=a//b&page=-1")
	f.Add("action=approve&ids=99999999999999999999&thread=../x", "limit=0&status=deleted")
	f.Add("action=delete&comment-=on&comment-1=on&comment-1=on", "page=1000000&limit=500")
	e := newEnv(f, "mem")
	e.post(f, comments.Input{Name: "Ann", Email: ann, Body: "One"})
	e.post(f, comments.Input{Name: "Bob", Email: bob, Body: "Two"})
	pending := func() int {
		q, err := e.svc.Queue(moderator(), comments.QueueFilter{})
		if err != nil {
			f.Fatal(err)
		}
		return len(q)
	}
	f.Fuzz(func(t *testing.T, body, query string) {
		before := pending()
		r := httptest.NewRequest(http.MethodPost, "/moderate", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r.WithContext(moderator()))
		if w.Code >= 500 {
			t.Fatalf("POST /moderate %q: %d %s", body, w.Code, w.Body.String())
		}
		if w.Code >= 400 && pending() != before {
			t.Fatalf("POST /moderate %q was refused (%d) but changed the queue", body, w.Code)
		}
		r = httptest.NewRequest(http.MethodGet, "/moderate", nil)
		r.URL.RawQuery = query
		w = httptest.NewRecorder()
		e.handler.ServeHTTP(w, r.WithContext(moderator()))
		if w.Code >= 500 {
			t.Fatalf("GET /moderate?%s: %d %s", query, w.Code, w.Body.String())
		}
	})
}
