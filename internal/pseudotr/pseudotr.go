// Package pseudotr checks that a capability's words are all in its templates: it
// pseudo-translates the templates (every word a person reads put in capitals) and
// finds the lowercase words left in what renders from them, which are English
// written in Go unless they are the data shown.
package pseudotr

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Translate returns the template files at the root of fsys with the text outside
// actions put in capitals, and in *.html files outside tags and character
// references too.
func Translate(t testing.TB, fsys fs.FS) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f.Name())
		if err != nil {
			t.Fatal(err)
		}
		s, isHTML := string(b), strings.HasSuffix(f.Name(), ".html")
		var sb strings.Builder
		for i := 0; i < len(s); {
			end := ""
			switch {
			case strings.HasPrefix(s[i:], "{{"):
				end = "}}"
			case isHTML && s[i] == '<':
				end = ">"
			case isHTML && s[i] == '&':
				end = ";"
			}
			if end == "" {
				sb.WriteString(strings.ToUpper(s[i : i+1]))
				i++
				continue
			}
			j := strings.Index(s[i:], end)
			if j < 0 {
				t.Fatalf("%s: %q at %d is not closed", f.Name(), s[i:i+1], i)
			}
			sb.WriteString(s[i : i+j+len(end)])
			i += j + len(end)
		}
		out[f.Name()] = []byte(sb.String())
	}
	return out
}

var lowercase = regexp.MustCompile(`[a-z]{2,}`)

// Left returns the lowercase words of text once every string of data is taken out.
func Left(text string, data []string) []string {
	for _, d := range data {
		text = strings.ReplaceAll(text, d, "")
	}
	return lowercase.FindAllString(text, -1)
}

// LeftOnPage returns the lowercase words of page's text nodes (the title and
// SVG text included) once every string of data is taken out.
func LeftOnPage(t testing.TB, page string, data []string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for n := range doc.Descendants() {
		if n.Type == html.TextNode {
			left = append(left, Left(n.Data, data)...)
		}
	}
	return left
}
