package comments_test

import (
	"encoding/json"
	"encoding/xml"
	"html/template"
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
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

const threadPath = "/t/" + topic

func (e *env) form(name, email, body string) url.Values {
	return url.Values{"name": {name}, "email": {email}, "body": {body}, "ts": {e.stamp()}}
}

func TestThreadPage(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	a := e.post(t, comments.Input{Name: "Ann Lee", Email: ann, Body: "I *like* it. See https://go.dev"})
	e.post(t, comments.Input{ParentID: a.Comment.ID, Name: "Bob", Email: bob, Body: "Me too."})
	e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "<b>raw</b> & 'quotes'"})

	w := e.get(t, threadPath, "")
	require.Equal(t, http.StatusOK, w.Code)
	page := w.Body.String()
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Contains(t, page, "3 comments")
	assert.Contains(t, page, `<em>like</em>`)
	assert.Contains(t, page, `<a href="https://go.dev" rel="nofollow ugc noopener">https://go.dev</a>`)
	assert.Contains(t, page, `<span class="avatar avatar-`)
	assert.Contains(t, page, `>AL</span>`)
	assert.Contains(t, page, `raw &amp; &#39;quotes&#39;`, "raw HTML from a comment is dropped, text is escaped")
	assert.Contains(t, page, `action="/comments/t/`+topic+`"`)
	assert.Contains(t, page, `href="https://blog.example.com/comments/feed/`+topic+`"`)
	assert.Regexp(t, `<input type="hidden" name="ts" value="[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+">`, page)
	assert.Contains(t, page, `<p class="hp" hidden>`)
	for _, id := range []string{"cf-name", "cf-email", "cf-body", "cf-follow", "cf-website"} {
		assert.Contains(t, page, `<label for="`+id+`"`, "every input has a label")
	}
	assert.Contains(t, page, `<ol class="comment-replies">`)
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "style=")
	// Kept by the browser and revalidated at each use (TestThreadRevalidated).
	assert.Equal(t, "private, no-cache", w.Header().Get("Cache-Control"))
	assert.NotEmpty(t, w.Header().Get("ETag"))
	assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))

	w = e.get(t, threadPath+"?reply="+itoa(a.Comment.ID), "")
	assert.Contains(t, w.Body.String(), `<input type="hidden" name="parent" value="`+itoa(a.Comment.ID)+`">`)
	assert.Contains(t, w.Body.String(), "Reply to Ann Lee")

	w = e.get(t, "/t/no-comments-here", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "No comments yet.")
}

func itoa(id int64) string { return strings.TrimSpace(strings.ReplaceAll(jsonString(id), `"`, "")) }

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestThreadJSON(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	a := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Hello"})
	e.post(t, comments.Input{ParentID: a.Comment.ID, Name: "Bob", Email: bob, Body: "Hi"})
	w := e.get(t, threadPath, "application/json")
	require.Equal(t, http.StatusOK, w.Code)
	var got struct {
		Thread   string `json:"thread"`
		Count    int    `json:"count"`
		Comments []struct {
			ID      int64  `json:"id"`
			Name    string `json:"name"`
			HTML    string `json:"html"`
			Replies []struct {
				Name string `json:"name"`
			} `json:"replies"`
		} `json:"comments"`
		Form struct {
			TS       string `json:"ts"`
			Honeypot string `json:"honeypot"`
		} `json:"form"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, topic, got.Thread)
	assert.Equal(t, 2, got.Count)
	require.Len(t, got.Comments, 1)
	assert.Equal(t, "<p>Hello</p>", got.Comments[0].HTML)
	require.Len(t, got.Comments[0].Replies, 1)
	assert.Equal(t, "Bob", got.Comments[0].Replies[0].Name)
	assert.NotEmpty(t, got.Form.TS)
	assert.Equal(t, web.Honeypot, got.Form.Honeypot)
	assert.NotContains(t, w.Body.String(), `"email"`)

	w = e.get(t, "/t/empty", "application/json")
	assert.Contains(t, w.Body.String(), `"comments":[]`)

	w = e.get(t, "/t/a%20b", "application/json")
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `"field":"thread"`)
}

var manageLink = regexp.MustCompile(`https://blog\.example\.com/comments/manage/[A-Za-z0-9_-]{43}`)

func TestPostThroughForm(t *testing.T) {
	e := newEnv(t, "mem")
	v := e.form("Ann", ann, "Hello *there*")
	v.Set("follow_up", "on")
	w := e.postForm(t, threadPath, v)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	to := w.Header().Get("Location")
	require.Regexp(t, `^`+regexp.QuoteMeta(base+threadPath)+`\?posted=[A-Za-z0-9_-]{43}#comment-posted$`, to,
		"back to the thread's page, with the manage token for the author to see their comment")
	to, _, _ = strings.Cut(strings.TrimPrefix(to, base), "#")
	w = e.get(t, to, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
	page := w.Body.String()
	assert.Contains(t, page, "will appear once a moderator has approved it")
	assert.Contains(t, page, "we sent it a link to confirm")
	assert.Contains(t, page, `<div class="comment-body"><p>Hello <em>there</em></p></div>`, "the author sees their pending comment")
	assert.Contains(t, page, "awaiting moderation")
	m := manageLink.FindString(page)
	require.NotEmpty(t, m, "the manage link")
	for _, other := range []string{threadPath, threadPath + "?posted=" + strings.Repeat("A", 43), threadPath + "?posted=x"} {
		w = e.get(t, other, "")
		require.Equal(t, http.StatusOK, w.Code, other)
		assert.NotContains(t, w.Body.String(), "Hello <em>there</em>", "%s: no one else sees it", other)
	}

	w = e.get(t, strings.TrimPrefix(m, base), "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "waiting for a moderator")
	assert.Contains(t, w.Body.String(), "Hello *there*</textarea>")

	q, err := e.svc.Queue(moderator(), comments.QueueFilter{})
	require.NoError(t, err)
	require.Len(t, q, 1)
	assert.True(t, q[0].FollowUp)
	assert.Equal(t, template.HTML("<p>Hello <em>there</em></p>"), q[0].HTML)
}

func TestPostFormErrors(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Limiter = web.NewLimiter(100, time.Minute, 100)
	})
	e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Said before"})
	tests := []struct {
		name   string
		mutate func(v url.Values)
		status int
		field  string // the id of the message beside the field, or "" for the summary only
		says   string
	}{
		{"NameMissing", func(v url.Values) { v.Del("name") }, 400, "cf-name-error", "Name is required"},
		{"NameTooLong", func(v url.Values) { v.Set("name", strings.Repeat("n", 81)) }, 400, "cf-name-error", "longer than 80"},
		{"EmailMissing", func(v url.Values) { v.Del("email") }, 400, "cf-email-error", "email address is required"},
		{"EmailBad", func(v url.Values) { v.Set("email", "bob@@example.org") }, 400, "cf-email-error", "not an email address"},
		{"BodyMissing", func(v url.Values) { v.Set("body", "") }, 400, "cf-body-error", "Comment is required"},
		{"BodyLinks", func(v url.Values) {
			v.Set("body", "http://a.example.net http://b.example.net http://c.example.net http://d.example.net")
		}, 400, "cf-body-error", "4 links"},
		{"BodyTooLarge", func(v url.Values) { v.Set("body", strings.Repeat("é", 70000)) }, 400, "cf-body-error", "Comment is longer than 10000 characters"},
		{"Duplicate", func(v url.Values) { v.Set("email", ann); v.Set("body", "Said before") }, 409, "cf-body-error", "already posted"},
		{"StampMissing", func(v url.Values) { v.Del("ts") }, 400, "", "reload the page"},
		{"StampForged", func(v url.Values) { v.Set("ts", "AAAA") }, 400, "", "reload the page"},
		{"StampTooFresh", func(v url.Values) {
			v.Set("ts", (&web.Signer{Key: e.key, Now: e.clock.Now}).Stamp())
		}, 400, "", "too quickly"},
		{"ParentNotANumber", func(v url.Values) { v.Set("parent", "12abc") }, 400, "", "not a comment"},
		{"ParentUnknown", func(v url.Values) { v.Set("parent", "999") }, 400, "", "not on this page"},
		{"FieldTwice", func(v url.Values) { v.Add("name", "Mallory") }, 400, "cf-name-error", "more than once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := e.form("Bob", bob, "My *own* words")
			tc.mutate(v)
			w := e.postForm(t, threadPath, v)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			page := w.Body.String()
			assert.Contains(t, page, tc.says)
			assert.Contains(t, page, `role="alert"`)
			if tc.field != "" {
				assert.Regexp(t, `id="`+tc.field+`" class="field-error">[^<]*`+regexp.QuoteMeta(tc.says), page, "the message sits beside its field")
			}
			if v.Get("name") == "Bob" && !strings.Contains(tc.name, "Name") && tc.name != "FieldTwice" && tc.name != "BodyTooLarge" {
				assert.Contains(t, page, `value="Bob"`, "what was typed is kept")
			}
			if tc.name == "StampMissing" {
				assert.Contains(t, page, "My *own* words</textarea>")
			}
			assert.Contains(t, page, "please type it again", "the address is asked for again, never sent back")
			th, err := e.svc.Thread(ctx, topic)
			require.NoError(t, err)
			assert.Equal(t, 1, th.Count, "nothing stored")
		})
	}

	t.Run("BadThread", func(t *testing.T) {
		w := e.postForm(t, "/t/a%20b", e.form("Bob", bob, "Hi"))
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "Thread: may hold only")
	})
}

func TestPostJSON(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	w := e.postJSON(t, threadPath, `{"name":"Ann","email":"`+ann+`","body":"From a *script*","follow_up":true,"ts":"`+e.stamp()+`"}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var got struct {
		Status  string `json:"status"`
		Manage  string `json:"manage_url"`
		Comment struct {
			ID   int64  `json:"id"`
			HTML string `json:"html"`
		} `json:"comment"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, "approved", got.Status)
	assert.Regexp(t, manageLink, got.Manage)
	assert.Equal(t, "<p>From a <em>script</em></p>", got.Comment.HTML)
	assert.Equal(t, 1, e.outbox(t, "comments:confirm"), "follow_up: true asks for confirmation")

	reply := `{"name":"Bob","email":"` + bob + `","body":"Answer","parent":` + itoa(got.Comment.ID) + `,"ts":"` + e.stamp() + `"}`
	require.Equal(t, http.StatusCreated, e.postJSON(t, threadPath, reply).Code)

	for _, tc := range []struct{ body, field string }{
		{`{"name":"Bob","email":"nope","body":"x","ts":"` + e.stamp() + `"}`, "email"},
		{`{"name":["Bob"],"email":"` + bob + `","body":"x","ts":"` + e.stamp() + `"}`, "name"},
		{`{"name":"Bob","email":"` + bob + `","body":"x"}`, "ts"},
		{`[1,2]`, "body"},
	} {
		w := e.postJSON(t, threadPath, tc.body)
		require.Equal(t, http.StatusBadRequest, w.Code, tc.body)
		assert.Equal(t, tc.field, privacyField(t, w.Body.Bytes()), tc.body)
	}
}

func privacyField(t *testing.T, b []byte) string {
	t.Helper()
	var eb web.ErrorBody
	require.NoError(t, json.Unmarshal(b, &eb), string(b))
	return eb.Error.Field
}

func TestHoneypot(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	v := e.form("Bot", bob, "Buy now")
	v.Set(web.Honeypot, "http://spam.example.net")
	w := e.postForm(t, threadPath, v)
	assert.Equal(t, http.StatusSeeOther, w.Code, "a bot is told it succeeded")
	assert.Equal(t, base+"/t/"+topic+"#comments", w.Header().Get("Location"), "and given no token")
	w = e.postJSON(t, threadPath, `{"name":"Bot","email":"`+bob+`","body":"Buy","website":"x"}`)
	assert.Equal(t, http.StatusCreated, w.Code)
	th, _ := e.svc.Thread(ctx, topic)
	assert.Zero(t, th.Count, "nothing stored")
}

func TestRateLimitPerClient(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(_ *comments.Config, h *comments.HandlerConfig) {
		h.Limiter = web.NewLimiter(1, time.Hour, 2)
	})
	for i := range 2 {
		w := e.postForm(t, threadPath, e.form("Ann", ann, "Comment "+strings.Repeat("!", i+1)))
		require.Equal(t, http.StatusSeeOther, w.Code)
	}
	w := e.postForm(t, threadPath, e.form("Ann", ann, "One too many"))
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.NotEmpty(t, w.Header().Get("Retry-After"))
	w = e.postJSON(t, threadPath, `{"name":"Bob","email":"`+bob+`","body":"Another client","ts":"`+e.stamp()+`"}`)
	assert.Equal(t, http.StatusCreated, w.Code, "another client address is not limited")
}

func TestCrossOriginPostsRefused(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example.net"}} {
		r := httptest.NewRequest(http.MethodPost, threadPath, strings.NewReader(e.form("Ann", ann, "Hi").Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Host = "blog.example.com"
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := e.serve(t, r)
		assert.Equal(t, http.StatusForbidden, w.Code, h)
	}
	th, _ := e.svc.Thread(ctx, topic)
	assert.Zero(t, th.Count)
}

func TestMountedUnderPrefix(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	mux := http.NewServeMux()
	mux.Handle("/comments/", http.StripPrefix("/comments", e.handler))
	host := web.NoCookies(mux, web.NoCookiesOptions{Strict: true})

	w := httptest.NewRecorder()
	host.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/comments"+threadPath, nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `action="/comments`+threadPath+`"`)

	r := httptest.NewRequest(http.MethodPost, "/comments"+threadPath, strings.NewReader(e.form("Ann", ann, "Mounted").Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	host.ServeHTTP(w, r)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assertNoAddress(t, w.Header().Get("Location"), "mounted post")

	frag, err := e.handler.Fragment(httptest.NewRequest(http.MethodGet, "/blog/2026/hello-world", nil), topic)
	require.NoError(t, err)
	assert.Contains(t, string(frag), "Mounted")
	assert.Contains(t, string(frag), `action="/comments`+threadPath+`"`, "the fragment in the host's page posts to the handler")
	_, err = e.handler.Fragment(httptest.NewRequest(http.MethodGet, "/", nil), "../x")
	assert.Equal(t, "thread", privacy.FieldOf(err))
}

func TestManagePage(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Typo hree"})
	path := "/manage/" + p.ManageToken

	w := e.postForm(t, path, url.Values{"action": {"edit"}, "body": {"x http://a.example.net http://b.example.net http://c.example.net http://d.example.net"}})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `id="cm-body-error" class="field-error">Comment has 4 links`)
	assert.Contains(t, w.Body.String(), "http://d.example.net</textarea>", "what was typed is kept")

	w = e.postForm(t, path, url.Values{"action": {"edit"}, "body": {"Typo here"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "Your comment was saved.")
	assert.Contains(t, e.get(t, threadPath, "").Body.String(), "Typo here")

	e.clock.Add(16 * time.Minute)
	w = e.postForm(t, path, url.Values{"action": {"edit"}, "body": {"Too late"}})
	assert.Equal(t, http.StatusGone, w.Code)
	assert.Contains(t, w.Body.String(), "you can still delete it")
	w = e.get(t, path, "application/json")
	assert.Contains(t, w.Body.String(), `"editable":false`)

	assert.Equal(t, http.StatusBadRequest, e.postForm(t, path, url.Values{"action": {"rename"}}).Code)
	w = e.postForm(t, path, url.Values{"action": {"delete"}})
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, http.StatusNotFound, e.get(t, path, "").Code)
	assert.Contains(t, e.get(t, threadPath, "").Body.String(), "No comments yet.")
}

func TestModerationHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		p := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "Please approve"})
		id := itoa(p.Comment.ID)

		assert.Equal(t, http.StatusUnauthorized, e.get(t, "/moderate", "").Code)
		assert.Equal(t, http.StatusUnauthorized, e.get(t, "/moderate", "application/json").Code)
		assert.Equal(t, http.StatusUnauthorized, e.postForm(t, "/moderate/"+id+"/approve", url.Values{}).Code)
		w := e.postForm(t, "/moderate/"+id+"/email", url.Values{})
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assertNoAddress(t, w.Body.String(), "refused email read")

		w = e.asModerator(t, httptest.NewRequest(http.MethodGet, "/moderate", nil))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), "Please approve")
		assert.Contains(t, w.Body.String(), `action="/comments/moderate/`+id+`/approve"`)
		r := httptest.NewRequest(http.MethodGet, "/moderate?status=pending", nil)
		r.Header.Set("Accept", "application/json")
		w = e.asModerator(t, r)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"source":"Please approve"`)

		r = httptest.NewRequest(http.MethodPost, "/moderate/"+id+"/email", strings.NewReader("why=spam+report"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w = e.asModerator(t, r)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), ann, "the moderator sees the address")
		access, err := e.priv.ListAccess(ctx, privacy.AccessFilter{Subject: ann})
		require.NoError(t, err)
		require.Len(t, access, 4, "the two views of the queue, the address, the queue shown with it")
		assert.Equal(t, "spam report", access[1].Why)
		assert.Equal(t, "address of comment "+id, access[1].What)

		r = httptest.NewRequest(http.MethodPost, "/moderate/"+id+"/approve", nil)
		w = e.asModerator(t, r)
		assert.Equal(t, http.StatusSeeOther, w.Code)
		assert.Contains(t, e.get(t, threadPath, "").Body.String(), "Please approve")

		for path, status := range map[string]int{"/moderate/x/approve": 400, "/moderate/" + id + "/publish": 400,
			"/moderate/" + id + "/approve": 409, "/moderate/999999/reject": 404} {
			r := httptest.NewRequest(http.MethodPost, path, nil)
			r.Header.Set("Accept", "application/json")
			assert.Equal(t, status, e.asModerator(t, r).Code, path)
		}
	})
}

type atomFeed struct {
	Title   string `xml:"title"`
	Entries []struct {
		ID     string `xml:"id"`
		Title  string `xml:"title"`
		Author struct {
			Name  string `xml:"name"`
			Email string `xml:"email"`
		} `xml:"author"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
		Link struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
	} `xml:"entry"`
}

func TestAtomFeed(t *testing.T) {
	e := newEnv(t, "mem", withModeration(comments.ModerateNone))
	a := e.post(t, comments.Input{Name: "Ann", Email: ann, Body: "First <3"})
	e.clock.Add(time.Minute)
	b := e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Second **one**"})
	hidden := e.post(t, comments.Input{Name: "Cy", Email: cy, Body: "Rejected later"})
	require.NoError(t, e.svc.Reject(moderator(), hidden.Comment.ID))

	w := e.get(t, "/feed/"+topic, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/atom+xml; charset=utf-8", w.Header().Get("Content-Type"))
	var f atomFeed
	require.NoError(t, xml.Unmarshal(w.Body.Bytes(), &f))
	assert.Equal(t, "Comments on "+topic, f.Title)
	require.Len(t, f.Entries, 2)
	assert.Equal(t, "Bob", f.Entries[0].Author.Name, "newest first")
	assert.Empty(t, f.Entries[0].Author.Email)
	assert.Equal(t, "html", f.Entries[0].Content.Type)
	assert.Equal(t, "<p>Second <strong>one</strong></p>", f.Entries[0].Content.Body)
	assert.Equal(t, base+"/t/"+topic+"#c"+itoa(b.Comment.ID), f.Entries[0].Link.Href)
	assert.Equal(t, "tag:blog.example.com,2026-11-02:comment-"+itoa(a.Comment.ID), f.Entries[1].ID)
	assert.NotContains(t, w.Body.String(), "<email>")

	assert.Equal(t, http.StatusBadRequest, e.get(t, "/feed/a%20b", "").Code)
}
