package comments_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/comments"
)

func TestRender(t *testing.T) {
	r := comments.NewRenderer()
	tests := []struct{ name, src, want string }{
		{"Paragraphs", "one\n\ntwo", "<p>one</p>\n<p>two</p>"},
		{"Emphasis", "*a* **b** ~~c~~ `d`", "<p><em>a</em> <strong>b</strong> <del>c</del> <code>d</code></p>"},
		{"Link", "[go](https://go.dev)", `<p><a href="https://go.dev" rel="nofollow ugc noopener">go</a></p>`},
		{"BareURL", "see https://go.dev/doc", `<p>see <a href="https://go.dev/doc" rel="nofollow ugc noopener">https://go.dev/doc</a></p>`},
		{"Mailto", "[write](mailto:me@example.net)", `<p><a href="mailto:me@example.net" rel="nofollow ugc noopener">write</a></p>`},
		{"RelativeLinkUnwrapped", "[home](/admin)", "<p>home</p>"},
		{"ProtocolRelativeUnwrapped", "[x](//evil.example.net/)", "<p>x</p>"},
		{"FragmentUnwrapped", "[x](#c1)", "<p>x</p>"},
		{"JavascriptUnwrapped", "[x](javascript:alert(1))", "<p>x</p>"},
		{"FTPUnwrapped", "[x](ftp://files.example.net/)", "<p>x</p>"},
		{"ImageBecomesLink", "![a cat](https://example.net/cat.png)", `<p><a href="https://example.net/cat.png" rel="nofollow ugc noopener">a cat</a></p>`},
		{"ImageWithoutAlt", "![](https://example.net/cat.png)", `<p><a href="https://example.net/cat.png" rel="nofollow ugc noopener">image</a></p>`},
		{"ImageInLinkBecomesText", "[![a cat](https://example.net/cat.png)](https://example.net/)", `<p><a href="https://example.net/" rel="nofollow ugc noopener">a cat</a></p>`},
		{"RawHTMLDropped", "a <b>b</b> c", "<p>a b c</p>"},
		{"HTMLBlockDropped", "<div onclick=\"x\">hi</div>\n\ntext", "<p>text</p>"},
		{"Escaped", "5 > 3 & 'x'", "<p>5 &gt; 3 &amp; &#39;x&#39;</p>"},
		{"CodeBlock", "```\n<script>\n```", "<pre><code>&lt;script&gt;\n</code></pre>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Render(tc.src)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	got, _ := r.Render("[a](https://a.example.net) [b](/b) https://c.example.net ![d](https://d.example.net/d.png)")
	assert.Equal(t, 3, comments.Links(got), "unwrapped links do not count")
}
