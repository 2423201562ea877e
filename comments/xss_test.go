package comments_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/privacy"
)

type xssCase struct{ name, payload string }

// loadCorpus reads testdata/xss/owasp.txt (its format is described at its top).
func loadCorpus(t testing.TB) []xssCase {
	t.Helper()
	b, err := os.ReadFile("testdata/xss/owasp.txt")
	require.NoError(t, err)
	var out []xssCase
	for _, block := range strings.Split(string(b), "\n### ")[1:] {
		name, payload, _ := strings.Cut(block, "\n")
		payload = strings.ReplaceAll(strings.TrimRight(payload, "\n"), "{{NUL}}", "\x00")
		out = append(out, xssCase{name: name, payload: payload})
	}
	return out
}

// forbiddenElements may never appear in a comment; the first three are the ones
// the issue names, the rest can load or run content just as well.
var forbiddenElements = map[string]bool{
	"script": true, "style": true, "iframe": true, "frame": true, "frameset": true, "object": true, "embed": true,
	"applet": true, "base": true, "meta": true, "link": true, "img": true, "svg": true, "math": true, "form": true,
	"input": true, "button": true, "textarea": true, "select": true, "video": true, "audio": true, "source": true,
	"template": true, "xml": true, "isindex": true, "bgsound": true, "marquee": true, "noscript": true,
}

// unsafeHTML lists what makes s unsafe. In comment HTML (strict) it also requires
// every URL to be http, https or mailto, every link to carry rel="nofollow ugc
// noopener", and none of the form elements a page of ours holds.
func unsafeHTML(s string, strict bool) []string {
	var problems []string
	lower := strings.ToLower(s)
	for _, tag := range []string{"<script", "<style", "<iframe"} {
		if strings.Contains(lower, tag) {
			problems = append(problems, "contains "+tag)
		}
	}
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				problems = append(problems, "tokenizer: "+z.Err().Error())
			}
			return problems
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if strict && forbiddenElements[tok.Data] || !strict && (tok.Data == "script" || tok.Data == "style" || tok.Data == "iframe") {
			problems = append(problems, "element <"+tok.Data+">")
		}
		rel := ""
		for _, a := range tok.Attr {
			key := strings.ToLower(a.Key)
			if strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" || key == "formaction" {
				problems = append(problems, fmt.Sprintf("attribute %s=%q on <%s>", key, a.Val, tok.Data))
			}
			v := normalizeURL(a.Val)
			for _, scheme := range []string{"javascript:", "data:", "vbscript:", "livescript:"} {
				if strings.HasPrefix(v, scheme) {
					problems = append(problems, fmt.Sprintf("%s URL in %s=%q", scheme, key, a.Val))
				}
			}
			if key == "rel" {
				rel = a.Val
			}
			if strict && (key == "href" || key == "src" || key == "cite" || key == "action") &&
				!strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "mailto:") {
				problems = append(problems, fmt.Sprintf("URL %s=%q is not http, https or mailto", key, a.Val))
			}
		}
		if strict && tok.Data == "a" && rel != comments.Rel {
			problems = append(problems, fmt.Sprintf("link without rel=%q: %s", comments.Rel, tok.String()))
		}
	}
}

// normalizeURL lower-cases v and drops what browsers ignore in a URL's scheme.
func normalizeURL(v string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(v) {
		if r > ' ' && r != 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestUnsafeHTMLDetects(t *testing.T) {
	// The checker itself must catch what it is meant to catch.
	for _, s := range []string{
		`<script>x</script>`, `<p onclick="x">`, `<a href="JaVa&#x09;Script:alert(1)" rel="nofollow ugc noopener">`,
		`<a href=" data:text/html,x" rel="nofollow ugc noopener">`, `<a href="https://x.example">`, `<IFRAME src=x>`,
		`<a href="/relative" rel="nofollow ugc noopener">`, `<img src="https://x.example/a.png">`,
	} {
		assert.NotEmpty(t, unsafeHTML(s, true), s)
	}
	assert.Empty(t, unsafeHTML(`<p><a href="https://x.example/?a=1&amp;b=2" rel="nofollow ugc noopener">x</a> javascript:alert(1)</p>`, true))
}

func TestXSSCorpus(t *testing.T) {
	cases := loadCorpus(t)
	require.GreaterOrEqual(t, len(cases), 150)
	e := newEnv(t, "mem", withModeration(comments.ModerateNone), func(c *comments.Config, _ *comments.HandlerConfig) {
		c.MaxLinks, c.DuplicateWindow = 100, -1
	})
	r := comments.NewRenderer()
	posted := 0
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.Render(tc.payload)
			require.NoError(t, err)
			for _, p := range unsafeHTML(out, true) {
				t.Errorf("rendered: %s\npayload: %s\nhtml: %s", p, tc.payload, out)
			}

			thread := fmt.Sprintf("xss/%d", i)
			p, err := e.svc.Post(ctx, comments.Input{Thread: thread, Name: "Tester", Email: ann, Body: tc.payload})
			if err != nil {
				// Refused input never reaches the page; only a refusal of the body is expected.
				require.ErrorIs(t, err, privacy.ErrInvalid)
				require.Equal(t, "body", privacy.FieldOf(err), err.Error())
				return
			}
			posted++
			stored, err := e.store.Comment(ctx, p.Comment.ID)
			require.NoError(t, err)
			for _, prob := range unsafeHTML(stored.HTML, true) {
				t.Errorf("stored: %s\nhtml: %s", prob, stored.HTML)
			}

			page := e.get(t, "/t/"+thread, "").Body.String()
			for _, prob := range unsafeHTML(page, false) {
				t.Errorf("thread page: %s", prob)
			}
			var tj struct {
				Comments []struct {
					HTML string `json:"html"`
				} `json:"comments"`
			}
			require.NoError(t, json.Unmarshal(e.get(t, "/t/"+thread, "application/json").Body.Bytes(), &tj))
			require.Len(t, tj.Comments, 1)
			for _, prob := range unsafeHTML(tj.Comments[0].HTML, true) {
				t.Errorf("thread JSON: %s", prob)
			}
			w := e.get(t, "/feed/"+thread, "")
			require.Equal(t, http.StatusOK, w.Code)
			var f atomFeed
			require.NoError(t, xml.Unmarshal(w.Body.Bytes(), &f))
			require.Len(t, f.Entries, 1)
			for _, prob := range unsafeHTML(f.Entries[0].Content.Body, true) {
				t.Errorf("feed: %s", prob)
			}
		})
	}
	// Payloads made only of HTML render to nothing and are refused ("write
	// Markdown"); the rest must be stored and served safely.
	t.Logf("%d cases, %d stored and served, %d refused as having no text", len(cases), posted, len(cases)-posted)
	assert.GreaterOrEqual(t, posted, 80, "the corpus is stored and served, not just refused")
}
