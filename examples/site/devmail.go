package main

import (
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes text and turns the URLs in it into links.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range linkRE.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		u := template.HTMLEscapeString(text[m[0]:m[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String())
}

// devMailbox shows the messages the built-in dev mailbox received, newest first.
// It exists only when no real relay is configured.
func (s *Site) devMailbox(w http.ResponseWriter, r *http.Request) {
	type message struct {
		From, To, Subject, At, Unsubscribe string
		Text                               template.HTML
	}
	var list []message
	for _, m := range slices.Backward(s.mailbox.Messages()) {
		list = append(list, message{From: m.Header.Get("From"), To: strings.Join(m.To, ", "), Subject: m.Subject(),
			At: m.At.Format("15:04:05"), Unsubscribe: m.Header.Get("List-Unsubscribe"), Text: linkify(m.Text)})
	}
	s.page(w, r, http.StatusOK, "Dev mailbox", "mailbox.html", list)
}
