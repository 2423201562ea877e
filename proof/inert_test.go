package proof_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// dangerous are what the corpus's markup would be on a page if it were live.
var dangerous = []string{"<script>alert", "onerror=alert", "onload=alert", "javascript:alert", "<svg", "<img src=x"}

// TestHostileTextIsInert posts the corpus's hostile free text (class "text":
// markup, SQL, template syntax, header injection, bidi overrides) as comments and
// as contact requests. The site may refuse some of it, naming the field (the
// contact form takes plain text only; a comment of bare markup has nothing to
// show), and then stores nothing. What it accepts must come out inert: stored byte for byte as sent, escaped or sanitized on every page
// that shows it (the post with its comments, the comment feed, the staff's view
// of a contact request), and never a header of the mail it causes.
func TestHostileTextIsInert(t *testing.T) {
	endToEnd(t)
	dsn := mysqltest.NewDSN(t)
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	staff(t, dsn, "staff@example.com", "support", "moderator")
	site := startSite(t, siteOptions{DSN: dsn, Relay: relay})
	token := signIn(t, site.Base, "staff@example.com")
	commentStamps := fetchCommentStamps(t, site.Base, 100)
	stamp := formStamp(t, site.Base)
	db := openDB(t, dsn)

	type posted struct {
		text, line, ref string
		id              int64
	}
	var all []posted
	for i, v := range loadValues(t) {
		if v.Class != "text" {
			continue
		}
		p := posted{text: v.Value, line: v.Value}
		if strings.ContainsAny(v.Value, "\r\n<>") {
			p.line = fmt.Sprintf("Line %d", i) // a subject refuses line breaks and markup
		}
		a := postJSON(newClient(30*time.Second), site.Base+"/contact/", map[string]string{"name": "Ann", "email": fmt.Sprintf("inert%d@example.org", i),
			"subject": p.line, "message": p.text, "ts": stamp}, "")
		if a.Status == http.StatusBadRequest {
			// The contact form takes plain text only: markup, or a direction
			// override in the subject, is refused, naming the field.
			assert.Regexp(t, `"field":"(message|subject)"`, string(a.Body), "contact %q", v.Value)
		} else {
			require.Equal(t, http.StatusCreated, a.Status, "contact %q: %s", v.Value, a)
			var c struct {
				Ref string `json:"ref"`
			}
			require.NoError(t, json.Unmarshal(a.Body, &c))
			p.ref = c.Ref
		}
		a = postJSON(newClient(30*time.Second), site.Base+"/comments/t/"+commentThread, map[string]string{"name": "Ann",
			"email": fmt.Sprintf("inert%d@example.org", i), "body": p.text, "ts": commentStamps.next()}, "")
		if a.Status == http.StatusBadRequest {
			// Markup with no text left once sanitized: refused, by name.
			assert.Contains(t, string(a.Body), `"field":"body"`, "comment %q", v.Value)
			if p.ref != "" {
				all = append(all, p)
			}
			continue
		}
		require.Equal(t, http.StatusCreated, a.Status, "comment %q: %s", v.Value, a)
		var cm struct {
			Comment struct {
				ID int64 `json:"id"`
			} `json:"comment"`
		}
		require.NoError(t, json.Unmarshal(a.Body, &cm))
		p.id = cm.Comment.ID
		a = postJSON(newClient(30*time.Second), fmt.Sprintf("%s/comments/moderate/%d/approve", site.Base, p.id), map[string]string{}, token)
		require.Equal(t, http.StatusOK, a.Status, "approve: %s", a)
		all = append(all, p)
	}
	require.NotEmpty(t, all)

	comments := 0
	for _, p := range all {
		if p.id != 0 {
			comments++
			var source string
			require.NoError(t, db.Get(&source, `SELECT source FROM comments_comments WHERE id = ?`, p.id))
			assert.Equal(t, p.text, source, "the comment's source stored as sent")
		}
		if p.ref == "" {
			continue
		}
		var row struct {
			Subject string `db:"subject"`
			Message string `db:"message"`
		}
		require.NoError(t, db.Get(&row, `SELECT subject, message FROM contact_requests WHERE ref = ?`, p.ref))
		assert.Equal(t, strings.ReplaceAll(p.text, "\r\n", "\n"), row.Message, "stored as sent (line breaks made \\n)")
		assert.Equal(t, p.line, row.Subject, "stored as sent")

		staffPage := do(newClient(30*time.Second), request{Method: "GET", URL: site.Base + "/contact/requests/" + p.ref, Token: token})
		require.Equal(t, http.StatusOK, staffPage.Status, staffPage.String())
		assertInert(t, "the staff's view of "+p.ref, string(staffPage.Body))
	}
	for _, page := range []string{"/blog/2026-03-01-hello", "/comments/feed/2026-03-01-hello", "/comments/t/2026-03-01-hello"} {
		a := get(newClient(30*time.Second), site.Base+page)
		require.Equal(t, http.StatusOK, a.Status, "%s: %s", page, a)
		assertInert(t, page, string(a.Body))
	}
	// The comments page shows them all: a marker of each proves they are there.
	a := get(newClient(30*time.Second), site.Base+"/blog/2026-03-01-hello")
	assert.Contains(t, string(a.Body), "DROP TABLE contact_requests", "the comments are shown, escaped")

	refs := 0
	for _, p := range all {
		if p.ref != "" {
			refs++
		}
	}
	require.True(t, eventually(30*time.Second, 50*time.Millisecond, func() bool { return len(relay.Messages()) >= refs }))
	assert.Equal(t, refs, count(t, db, `SELECT COUNT(*) FROM contact_requests`), "markup refused, nothing stored")
	assert.Equal(t, comments, count(t, db, `SELECT COUNT(*) FROM comments_comments`), "bare markup refused, nothing stored")
	for _, p := range all {
		if p.ref == "" {
			continue
		}
		var n int
		for _, m := range relay.Messages() {
			if !strings.HasPrefix(m.Subject(), "["+p.ref+"]") {
				continue
			}
			n++
			assert.Equal(t, []string{"support@example.com"}, m.To, "the notification goes to the support inbox only")
			assert.Equal(t, "["+p.ref+"] "+p.line, m.Subject())
			for _, h := range []string{"Bcc", "Cc", "X-Injected"} {
				assert.Empty(t, m.Header.Get(h), "no %s header in the notification of %s", h, p.ref)
			}
		}
		assert.Equal(t, 1, n, "one notification of %s", p.ref)
	}
	site.Stop()
	assert.Empty(t, site.Errors())
	t.Logf("%d hostile texts: %d contact requests and %d comments accepted, stored as sent and shown inert; the rest refused naming the field",
		textValues(t), refs, comments)
}

func textValues(t *testing.T) int {
	n := 0
	for _, v := range loadValues(t) {
		if v.Class == "text" {
			n++
		}
	}
	return n
}

func assertInert(t *testing.T, where, body string) {
	t.Helper()
	lower := strings.ToLower(body)
	for _, d := range dangerous {
		assert.NotContains(t, lower, d, "%s holds live markup", where)
	}
}

// TestAddressLookalikes sends addresses that look like another or like nothing:
// invisible characters (a zero-width space, a soft hyphen), a right-to-left
// override that makes the domain read backwards, and domain labels no DNS name
// can have. The site must refuse each, naming the field: an address that shows
// as ann@example.org but is not would be a second account for "one address, one
// account" (P1), data an export or erasure for ann@example.org misses, and a
// spoofed sender on the staff's pages.
func TestAddressLookalikes(t *testing.T) {
	endToEnd(t)
	site := startSite(t, siteOptions{})
	stamp := formStamp(t, site.Base)
	for i, v := range loadValues(t) {
		if v.Class != "email" {
			continue
		}
		a := postJSON(newClient(30*time.Second), site.Base+"/contact/", map[string]string{"email": v.Value, "subject": "Hello",
			"message": "Hello.", "ts": stamp}, "")
		assert.Equal(t, http.StatusBadRequest, a.Status, "contact from %q: %s", v.Value, a)
		assert.Contains(t, string(a.Body), `"field":"email"`)
		a = register(newClient(30*time.Second), site.Base, v.Value)
		assert.Equal(t, http.StatusBadRequest, a.Status, "value#%d: register %q: %s", i, v.Value, a)
	}
}
