package comments

import (
	"bytes"
	"embed"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"strconv"
	"strings"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/consentkit/consentkit/privacy"
)

//go:embed templates/*.html templates/*.txt
var embedded embed.FS

// DefaultTemplates holds the package's markup, every word a person reads in it:
// the pages and the form (*.html, html/template) and the follow-up mail and the
// feed's titles (*.txt, text/template). A host overrides any of them through
// HandlerConfig.Templates (pages) and Config.Templates (mail and feed), with a
// file of the same name or single {{define}}s (see privacy.ParseTemplates); copying
// these files is the way to start a translation.
//
// The pages hold no script and no style attribute, so a host's strict
// Content-Security-Policy needs no exception for them. Classes (avatar-1 …
// avatar-8, field-error, …) are the host stylesheet's to style.
var DefaultTemplates, _ = fs.Sub(embedded, "templates") // a literal embedded directory: no error

// funcs are the templates' helpers: they hold no words.
var funcs = map[string]any{
	"utc": func(t time.Time) time.Time { return t.UTC() },
	// sentence starts a message with a capital letter.
	"sentence": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
}

// parseTemplates parses DefaultTemplates with override on top.
func parseTemplates(override fs.FS) (*privacy.Templates, error) {
	t, err := privacy.ParseTemplates(DefaultTemplates, override, funcs)
	if err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	return t, nil
}

// markup is a Handler's pages, with what the comment list, written without the
// template engine, takes from them once.
type markup struct {
	tpl     *privacy.Templates
	edited  []byte   // after the header's time of an edited comment
	deleted []byte   // in place of a deleted comment's body
	reply   [][]byte // the reply link's text, split where the author's name goes; nil to run comment-reply for each comment
	// layout is the Go time layout of the date template when that is a bare
	// .Format of one; "" to run the template for each comment.
	layout string
	labels map[string]string // the form's fields as named in their errors
	title  string            // the thread page's, for the Layout
	// inline is set when thread-tail leaves the form out of a view that shows
	// it under the comment answered; a host's thread-tail written before that
	// view existed shows it at the end, so answers are written there.
	inline bool
}

// nameMarker stands for a name while the reply link's text is made; nameProbe
// checks that the template escapes a name as template.HTMLEscape does (in text
// or a quoted attribute; html/template's further escape of '+' is not needed
// there), and not as a URL, a script or an unquoted attribute.
const (
	nameMarker = "consentkitNAMEmarker"
	nameProbe  = `a<b>"c'd&e f`
)

func newMarkup(override fs.FS) (*markup, error) {
	t, err := parseTemplates(override)
	if err != nil {
		return nil, err
	}
	m := &markup{tpl: t, labels: map[string]string{}}
	exec := func(name string, data any) (string, error) {
		var b strings.Builder
		if err := t.HTML.ExecuteTemplate(&b, name, data); err != nil {
			return "", fmt.Errorf("comments: template %s: %w", name, err)
		}
		return b.String(), nil
	}
	// Before the first execution, which adds the escapers to the tree.
	m.layout = formatLayout(t.HTML.Lookup("date"))
	for _, f := range []string{"name", "email", "body"} {
		l, err := exec("field-label", f)
		if err != nil {
			return nil, err
		}
		m.labels[f] = html.UnescapeString(l)
	}
	title, err := exec("thread-title", nil)
	if err != nil {
		return nil, err
	}
	m.title = html.UnescapeString(title)
	edited, err := exec("comment-edited", nil)
	if err != nil {
		return nil, err
	}
	deleted, err := exec("comment-deleted", nil)
	if err != nil {
		return nil, err
	}
	m.edited, m.deleted = []byte(edited), []byte(deleted)
	tail, err := exec("thread-tail", threadPage{Inline: true, Parent: &Public{ID: 1, Name: nameMarker}, Err: map[string]string{}})
	if err != nil {
		return nil, err
	}
	m.inline = !strings.Contains(tail, `id="comment-form"`)
	reply, err := exec("comment-reply", nameMarker)
	if err != nil {
		return nil, err
	}
	probe, err := exec("comment-reply", nameProbe)
	if err != nil {
		return nil, err
	}
	if strings.ReplaceAll(reply, nameMarker, template.HTMLEscapeString(nameProbe)) == probe {
		for part := range strings.SplitSeq(reply, nameMarker) {
			m.reply = append(m.reply, []byte(part))
		}
	}
	return m, nil
}

// formatLayout returns the layout of a template that is only {{.Format
// "layout"}}, when the layout needs no escaping, else "".
func formatLayout(t *template.Template) string {
	if t == nil || t.Tree == nil || len(t.Tree.Root.Nodes) != 1 {
		return ""
	}
	a, ok := t.Tree.Root.Nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 2 {
		return ""
	}
	f, ok := a.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	s, isString := a.Pipe.Cmds[0].Args[1].(*parse.StringNode)
	if !ok || !isString || len(f.Ident) != 1 || f.Ident[0] != "Format" || strings.ContainsAny(s.Text, "<>&'\"\x00") {
		return ""
	}
	return s.Text
}

// label names a form field in its errors; "" for a field the forms do not show.
func (m *markup) label(field string) string { return m.labels[field] }

// writeComments writes the comment list by hand rather than through html/template:
// a thread of a thousand comments is the page that must stay fast, and the
// template engine's reflection cost most of its time. Every piece of text is
// escaped here; only the stored HTML, sanitized at write, and the words made
// once from the templates are written as they are. reply is the start of each
// reply link, up to the comment's id.
func (m *markup) writeComments(b *bytes.Buffer, ps []Public, reply string, scratch []byte) ([]byte, error) {
	for i := range ps {
		p := &ps[i]
		scratch = strconv.AppendInt(scratch[:0], p.ID, 10)
		id := len(scratch)
		b.WriteString(`<li id="c`)
		b.Write(scratch[:id])
		if p.Deleted {
			b.WriteString(`" class="comment comment-deleted"><article>` + "\n<header>")
		} else {
			b.WriteString(`" class="comment"><article>` + "\n<header>")
		}
		if a := p.Avatar; a != nil {
			b.WriteString(`<span class="avatar avatar-`)
			b.Write(strconv.AppendInt(scratch[id:], int64(a.Hue), 10))
			b.WriteString(`" aria-hidden="true">`)
			template.HTMLEscape(b, []byte(a.Initials))
			b.WriteString(`</span> `)
		}
		b.WriteString(`<strong class="comment-author">`)
		template.HTMLEscape(b, []byte(p.Name))
		b.WriteString(`</strong> <a class="comment-time" href="#c`)
		b.Write(scratch[:id])
		b.WriteString(`"><time datetime="`)
		created := p.Created.UTC()
		b.Write(created.AppendFormat(scratch[id:], time.RFC3339))
		b.WriteString(`">`)
		if m.layout != "" {
			b.Write(created.AppendFormat(scratch[id:], m.layout))
		} else if err := m.tpl.HTML.ExecuteTemplate(b, "date", created); err != nil {
			return scratch, err
		}
		b.WriteString(`</time></a>`)
		if p.Edited != nil {
			b.Write(m.edited)
		}
		b.WriteString("</header>\n")
		if p.Deleted {
			b.Write(m.deleted)
			b.WriteByte('\n')
		} else {
			b.WriteString(`<div class="comment-body">`)
			b.WriteString(string(p.HTML))
			b.WriteString("</div>\n" + `<p class="comment-actions"><a href="`)
			b.WriteString(reply)
			b.Write(scratch[:id])
			b.WriteString(`#comment-form">`)
			if m.reply == nil {
				if err := m.tpl.HTML.ExecuteTemplate(b, "comment-reply", p.Name); err != nil {
					return scratch, err
				}
			}
			for k, part := range m.reply {
				if k > 0 {
					template.HTMLEscape(b, []byte(p.Name))
				}
				b.Write(part)
			}
			b.WriteString("</a></p>\n")
		}
		if len(p.Replies) > 0 {
			b.WriteString(`<ol class="comment-replies">`)
			var err error
			if scratch, err = m.writeComments(b, p.Replies, reply, scratch); err != nil {
				return scratch, err
			}
			b.WriteString("</ol>\n")
		}
		b.WriteString("</article></li>\n")
	}
	return scratch, nil
}

// listHTML writes the part of page n of the thread section every visitor sees
// alike: the heading and the page's comments, v.Comments. It is cached with the
// thread.
func (m *markup) listHTML(v ThreadView, page int) (string, error) {
	n := 1 << 10
	var size func([]Public)
	size = func(ps []Public) {
		for i := range ps {
			n += pageCost(&ps[i])
			size(ps[i].Replies)
		}
	}
	size(v.Comments)
	var b bytes.Buffer
	b.Grow(n)
	if err := m.tpl.HTML.ExecuteTemplate(&b, "thread-head", threadPage{View: v}); err != nil {
		return "", err
	}
	reply := "?reply="
	if page > 1 {
		// Answering a comment keeps its page on screen.
		reply = "?page=" + strconv.Itoa(page) + "&amp;reply="
	}
	if _, err := m.writeComments(&b, v.Comments, reply, make([]byte, 0, 64)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// threadHTML writes the thread section: the cached list, then the form, which
// differs for each view (its stamp, the comment answered, the errors).
func (m *markup) threadHTML(p threadPage) (template.HTML, error) {
	// A strings.Builder, unlike a bytes.Buffer, hands over its bytes without
	// copying them: on a thread of 1,000 comments that is a megabyte less per view.
	var b strings.Builder
	b.Grow(len(p.List) + 8<<10)
	if p.Posted != nil {
		if err := m.tpl.HTML.ExecuteTemplate(&b, "posted", p.Posted); err != nil {
			return "", err
		}
	}
	list := p.List
	if p.Inline {
		if at := replyFormAt(list, p.Parent.ID); at >= 0 {
			b.WriteString(list[:at])
			if err := m.tpl.HTML.ExecuteTemplate(&b, "reply-form", p); err != nil {
				return "", err
			}
			list = list[at:]
		} else {
			p.Inline = false
		}
	}
	b.WriteString(list)
	if err := m.tpl.HTML.ExecuteTemplate(&b, "thread-tail", p); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

// replyFormAt returns where, in a list writeComments wrote, the form answering
// comment id goes: after its actions, before its replies. -1 when the comment
// is not in the list.
func replyFormAt(list string, id int64) int {
	start := strings.Index(list, `<li id="c`+strconv.FormatInt(id, 10)+`" `)
	if start < 0 {
		return -1
	}
	const actions, end = `<p class="comment-actions">`, "</p>\n"
	i := strings.Index(list[start:], actions)
	if i < 0 {
		return -1
	}
	j := strings.Index(list[start+i:], end)
	if j < 0 {
		return -1
	}
	return start + i + j + len(end)
}
