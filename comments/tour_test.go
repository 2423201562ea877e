package comments_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

// shown is one page or mail the tour saw.
type shown struct {
	name, text string
}

// volatile are the parts of a page that differ between two identical tours:
// form stamps and the tokens in links.
var volatile = regexp.MustCompile(`name="ts" value="[^"]+"|/(manage|confirm|stop)/[A-Za-z0-9_-]{43}`)

// withPages makes a thread's pages hold n comments.
func withPages(n int) option {
	return func(c *comments.Config, _ *comments.HandlerConfig) { c.PageComments = n }
}

// tour visits every page of the package in e, in every state a visitor,
// author or moderator meets, and returns them with the mail sent, stamps and
// tokens blanked.
func tour(t *testing.T, e *env) []shown {
	t.Helper()
	var out []shown
	add := func(name, body string) {
		out = append(out, shown{name, volatile.ReplaceAllString(body, "${1}…")})
	}
	get := func(name, path string, want int) {
		t.Helper()
		w := e.get(t, path, "")
		require.Equal(t, want, w.Code, "%s: %s", name, w.Body.String())
		add(name, w.Body.String())
	}
	// form posts v and returns the page shown after it: the one its 303 leads to.
	form := func(name, path string, v url.Values, want int) string {
		t.Helper()
		w := e.postForm(t, path, v)
		require.Equal(t, want, w.Code, "%s: %s", name, w.Body.String())
		if want == http.StatusSeeOther {
			to, _, _ := strings.Cut(strings.TrimPrefix(w.Header().Get("Location"), base), "#")
			w = e.get(t, to, "")
			require.Equal(t, http.StatusOK, w.Code, "%s: %s", name, to)
		}
		add(name, w.Body.String())
		return w.Body.String()
	}

	get("thread empty", "/t/nothing-yet", http.StatusOK)
	first := e.form("Ann Lee", ann, "Hello *there*, see https://go.dev")
	first.Set("follow_up", "on")
	posted := form("thread, posted pending with follow-up", threadPath, first, http.StatusSeeOther)
	ids, err := e.svc.Queue(moderator(), comments.QueueFilter{})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	get("queue", "/moderate", http.StatusUnauthorized)
	q := e.asModerator(t, httptestRequest(http.MethodGet, "/moderate?status=pending", nil))
	add("queue as moderator", q.Body.String())
	r := httptestRequest(http.MethodPost, "/moderate/"+itoa(ids[0].ID)+"/email", url.Values{"why": {"checking"}})
	add("queue with address", e.asModerator(t, r).Body.String())
	require.NoError(t, e.svc.Approve(moderator(), ids[0].ID))
	for i := range 3 {
		require.NoError(t, e.svc.Approve(moderator(), e.post(t, comments.Input{Name: "Bob", Email: bob, Body: "Trusted " + itoa(int64(i))}).Comment.ID))
	}
	reply := e.form("Bob", bob, "A reply")
	reply.Set("parent", itoa(ids[0].ID))
	form("thread, posted published", threadPath, reply, http.StatusSeeOther)
	gone := e.post(t, comments.Input{ParentID: ids[0].ID, Name: "Cy", Email: cy, Body: "Soon gone"})
	require.NoError(t, e.svc.Approve(moderator(), gone.Comment.ID))
	under := e.post(t, comments.Input{ParentID: gone.Comment.ID, Name: "Dee", Email: dee, Body: "Under a deleted one"})
	require.NoError(t, e.svc.Approve(moderator(), under.Comment.ID))
	require.NoError(t, e.svc.Remove(moderator(), gone.Comment.ID))

	manage := strings.TrimPrefix(manageLink.FindString(posted), base)
	get("manage", manage, http.StatusOK)
	form("manage edit error", manage, url.Values{"action": {"edit"}, "body": {""}}, http.StatusBadRequest)
	form("manage edited", manage, url.Values{"action": {"edit"}, "body": {"Hello *again*"}}, http.StatusOK)
	get("thread", threadPath, http.StatusOK)
	get("thread page 2", threadPath+"?page=2", http.StatusOK)
	get("thread reply", threadPath+"?reply="+itoa(ids[0].ID), http.StatusOK)
	bad := e.form("", "not an address", strings.Repeat("https://go.dev/x ", 9))
	form("thread form errors", threadPath, bad, http.StatusBadRequest)
	preview := e.form("Ann Lee", ann, "Seen *first*")
	preview.Set("preview", "1")
	form("thread preview", threadPath, preview, http.StatusOK)
	e.clock.Add(time.Hour)
	get("manage too late", manage, http.StatusOK)
	form("manage edit too late", manage, url.Values{"action": {"edit"}, "body": {"Later"}}, http.StatusGone)

	msgs := e.mail.Server.Wait(1, wait)
	require.NotEmpty(t, msgs)
	add("confirm mail", msgs[0].Subject()+"\n"+msgs[0].Text)
	confirm := link(t, msgs[0].Text, "confirm")
	stop := link(t, msgs[0].Text, "stop")
	get("confirm", confirm, http.StatusOK)
	form("confirmed", confirm, url.Values{}, http.StatusOK)
	form("confirm again", confirm, url.Values{}, http.StatusNotFound)
	eve := e.post(t, comments.Input{ParentID: ids[0].ID, Name: "Eve", Email: eve, Body: "Mailed to Ann"})
	require.NoError(t, e.svc.Approve(moderator(), eve.Comment.ID))
	msgs = e.mail.Server.Wait(2, wait)
	require.Len(t, msgs, 2)
	add("reply mail", msgs[1].Subject()+"\n"+msgs[1].Text)
	get("stop", stop, http.StatusOK)
	form("stopped", stop, url.Values{}, http.StatusOK)
	form("resumed", stop, url.Values{"action": {"resume"}}, http.StatusOK)
	form("deleted", manage, url.Values{"action": {"delete"}}, http.StatusOK)
	get("bad page", threadPath+"?page=x", http.StatusBadRequest)
	get("feed", "/feed/"+topic, http.StatusOK)
	return out
}

func httptestRequest(method, path string, v url.Values) *http.Request {
	r, _ := http.NewRequest(method, path, strings.NewReader(v.Encode()))
	if v != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	return r
}
