package comments

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// The pages hold no script and no style attribute, so a host's strict
// Content-Security-Policy needs no exception for them. Classes (avatar-1 …
// avatar-8, field-error, …) are the host stylesheet's to style.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
}).Parse(`
{{define "thread-head"}}<section class="comments" id="comments" aria-labelledby="comments-title">
<h2 id="comments-title">{{if eq .View.Count 1}}1 comment{{else}}{{.View.Count}} comments{{end}}</h2>
{{if .View.Comments}}<ol class="comment-list">{{else}}<p>No comments yet.</p>{{end}}{{end}}
{{define "thread-tail"}}{{if .View.Comments}}</ol>{{end}}
{{with .Paging}}{{if gt .Pages 1}}<nav class="comments-pages" aria-label="Pages of comments"><p>
{{if .Prev}}<a rel="prev" href="{{.Prev}}#comments">Older comments</a>{{end}}
<span class="comments-page">Page {{.Page}} of {{.Pages}}</span>
{{if .Next}}<a rel="next" href="{{.Next}}#comments">Newer comments</a>{{end}}
</p></nav>{{end}}{{end}}
<p class="comments-feed"><a href="{{.Feed}}" type="application/atom+xml">Follow these comments (Atom feed)</a></p>
<h2 id="comment-form-title">{{if .Parent}}Reply to {{.Parent.Name}}{{else}}Leave a comment{{end}}</h2>
{{template "form" .}}
</section>
{{end}}

{{define "form"}}<form id="comment-form" class="comment-form" method="post" action="{{.Action}}" aria-labelledby="comment-form-title">
{{if .Errors}}<div class="form-errors" role="alert"><p>The comment was not posted:</p><ul>{{range .Errors}}<li>{{if .ID}}<a href="#{{.ID}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</li>{{end}}</ul></div>{{end}}
<input type="hidden" name="ts" value="{{.Stamp}}">
{{with .Parent}}<input type="hidden" name="parent" value="{{.ID}}"><p class="replying">Replying to {{.Name}}. <a href="?#comment-form">Write a new comment instead</a></p>{{end}}
<p class="hp" hidden><label for="cf-website">Leave this field empty</label> <input id="cf-website" name="website" tabindex="-1" autocomplete="off"></p>
<p><label for="cf-name">Name (shown with the comment)</label><br>
<input id="cf-name" name="name" required maxlength="{{.MaxName}}" autocomplete="name" value="{{.Values.Name}}"{{with .Err.name}} aria-invalid="true" aria-describedby="cf-name-error"{{end}}>
{{with .Err.name}}<span id="cf-name-error" class="field-error">{{.}}</span>{{end}}</p>
<p><label for="cf-email">Email address (never shown, never shared)</label><br>
<input id="cf-email" name="email" type="email" required maxlength="{{.MaxEmail}}" autocomplete="email" aria-describedby="cf-email-note{{with .Err.email}} cf-email-error{{end}}"{{with .Err.email}} aria-invalid="true"{{end}}>
<span id="cf-email-note" class="field-note">{{if .Errors}}For your privacy the address is never sent back to the browser: please type it again. {{end}}It is used only to hold your first comment for a moderator and, if you ask, to tell you about replies.</span>
{{with .Err.email}}<span id="cf-email-error" class="field-error">{{.}}</span>{{end}}</p>
<p><label for="cf-body">Comment (Markdown; at most {{.MaxLinks}} links; no images are shown)</label><br>
<textarea id="cf-body" name="body" required rows="8" cols="60" maxlength="{{.MaxBody}}"{{with .Err.body}} aria-invalid="true" aria-describedby="cf-body-error"{{end}}>{{.Values.Body}}</textarea>
{{with .Err.body}}<span id="cf-body-error" class="field-error">{{.}}</span>{{end}}</p>
<p><input type="checkbox" id="cf-follow" name="follow_up" value="on"{{if .Values.FollowUp}} checked{{end}}>
<label for="cf-follow">Email me about replies to this comment. We first send a link to confirm the address; every email has a link to stop.</label></p>
<p><button type="submit">Post comment</button></p>
</form>
{{end}}

{{define "posted"}}<p>{{if eq .Status "approved"}}Your comment is published.{{else}}Thank you. Your comment will appear once a moderator has approved it.{{end}}</p>
{{if .FollowUp}}<p>You asked to be emailed about replies: unless this address is confirmed already, we sent it a link to confirm. Nothing is sent before you confirm.</p>{{end}}
{{if .ManageURL}}<p>Keep this link to edit your comment in the next {{.EditMinutes}} minutes or delete it at any time. It is shown only now, and whoever has it can change your comment:<br>
<a href="{{.ManageURL}}">{{.ManageURL}}</a></p>{{end}}
<p><a href="{{.ThreadURL}}">Back to the page</a></p>
{{end}}

{{define "manage"}}{{if .Message}}<p role="status">{{.Message}}</p>{{end}}
{{with .M}}<p>Your comment on <a href="{{$.ThreadURL}}">{{.Thread}}</a> is {{if eq .Status "approved"}}published{{else if eq .Status "pending"}}waiting for a moderator{{else}}{{.Status}}{{end}}.</p>
<div class="comment-body">{{.Comment.HTML}}</div>
{{if .Editable}}<form method="post" class="comment-edit">
<input type="hidden" name="action" value="edit">
{{if $.Errors}}<div class="form-errors" role="alert"><ul>{{range $.Errors}}<li>{{.Text}}</li>{{end}}</ul></div>{{end}}
<p><label for="cm-body">Edit your comment (until {{date .EditUntil}})</label><br>
<textarea id="cm-body" name="body" required rows="8" cols="60"{{with $.Err.body}} aria-invalid="true" aria-describedby="cm-body-error"{{end}}>{{if $.Body}}{{$.Body}}{{else}}{{.Source}}{{end}}</textarea>
{{with $.Err.body}}<span id="cm-body-error" class="field-error">{{.}}</span>{{end}}</p>
<p><button type="submit">Save</button></p>
</form>{{else}}<p>The time to edit this comment has passed; you can still delete it.</p>{{end}}
<form method="post" class="comment-delete">
<input type="hidden" name="action" value="delete">
<p><button type="submit">Delete my comment</button></p>
</form>{{end}}
{{end}}

{{define "message"}}{{range .Paragraphs}}<p>{{.}}</p>{{end}}
{{with .Form}}<form method="post">{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}<p><button type="submit">{{.Button}}</button></p></form>{{end}}
{{with .Link}}<p><a href="{{.}}">Back</a></p>{{end}}
{{end}}

{{define "queue"}}<form method="get" action="{{.Action}}"><p><label for="mq-status">Show</label>
<select id="mq-status" name="status">{{range .Statuses}}<option value="{{.}}"{{if eq . $.Status}} selected{{end}}>{{.}}</option>{{end}}</select>
<button type="submit">Show</button></p></form>
{{if .Email}}<p role="status">The address of comment {{.EmailID}} is <strong>{{.Email}}</strong>. This reading was recorded in the access log.</p>{{end}}
{{if .Held}}<ol class="moderation-queue">{{range .Held}}<li id="m{{.ID}}"><article>
<header><strong>{{.Name}}</strong> on <code>{{.Thread}}</code>{{if .ParentID}} (reply to {{.ParentID}}){{end}}, {{date .Created}}{{if .FollowUp}}, asked for follow-up{{end}}</header>
<div class="comment-body">{{.HTML}}</div>
<details><summary>Markdown source</summary><pre>{{.Source}}</pre></details>
<form method="post" action="{{$.Action}}/{{.ID}}/approve" class="inline"><button type="submit">Approve</button></form>
<form method="post" action="{{$.Action}}/{{.ID}}/reject" class="inline"><button type="submit">Reject</button></form>
<form method="post" action="{{$.Action}}/{{.ID}}/delete" class="inline"><button type="submit">Delete</button></form>
<form method="post" action="{{$.Action}}/{{.ID}}/email" class="inline"><label for="why-{{.ID}}">Reason for reading the address</label>
<input id="why-{{.ID}}" name="why" maxlength="200" value="moderating comments"> <button type="submit">Show address</button></form>
</article></li>{{end}}</ol>{{else}}<p>Nothing here.</p>{{end}}
{{end}}
`))

// writeComments writes the comment list by hand rather than through html/template:
// a thread of a thousand comments is the page that must stay fast, and the
// template engine's reflection cost most of its time. Every piece of text is
// escaped here; only the stored HTML, sanitized at write, is written as is.
// reply is the start of each reply link, up to the comment's id.
func writeComments(b *bytes.Buffer, ps []Public, reply string, scratch []byte) []byte {
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
		b.Write(created.AppendFormat(scratch[id:], "2 January 2006, 15:04 UTC"))
		b.WriteString(`</time></a>`)
		if p.Edited != nil {
			b.WriteString(` <span class="comment-edited">(edited)</span>`)
		}
		b.WriteString("</header>\n")
		if p.Deleted {
			b.WriteString(`<p class="comment-body"><em>This comment was deleted.</em></p>` + "\n")
		} else {
			b.WriteString(`<div class="comment-body">`)
			b.WriteString(string(p.HTML))
			b.WriteString("</div>\n" + `<p class="comment-actions"><a href="`)
			b.WriteString(reply)
			b.Write(scratch[:id])
			b.WriteString(`#comment-form">Reply<span class="visually-hidden"> to `)
			template.HTMLEscape(b, []byte(p.Name))
			b.WriteString("</span></a></p>\n")
		}
		if len(p.Replies) > 0 {
			b.WriteString(`<ol class="comment-replies">`)
			scratch = writeComments(b, p.Replies, reply, scratch)
			b.WriteString("</ol>\n")
		}
		b.WriteString("</article></li>\n")
	}
	return scratch
}

// listHTML writes the part of page n of the thread section every visitor sees
// alike: the heading and the page's comments, v.Comments. It is cached with the
// thread.
func listHTML(v ThreadView, page int) (string, error) {
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
	if err := pages.ExecuteTemplate(&b, "thread-head", threadPage{View: v}); err != nil {
		return "", err
	}
	reply := "?reply="
	if page > 1 {
		// Answering a comment keeps its page on screen.
		reply = "?page=" + strconv.Itoa(page) + "&amp;reply="
	}
	writeComments(&b, v.Comments, reply, make([]byte, 0, 64))
	return b.String(), nil
}

// threadHTML writes the thread section: the cached list, then the form, which
// differs for each view (its stamp, the comment answered, the errors).
func threadHTML(p threadPage) (template.HTML, error) {
	// A strings.Builder, unlike a bytes.Buffer, hands over its bytes without
	// copying them: on a thread of 1,000 comments that is a megabyte less per view.
	var b strings.Builder
	b.Grow(len(p.List) + 8<<10)
	b.WriteString(p.List)
	if err := pages.ExecuteTemplate(&b, "thread-tail", p); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}
