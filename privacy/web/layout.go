package web

import (
	"html/template"
	"net/http"
)

// Layout writes a full HTML page around a capability's content, so a host's pages
// share one look. Capabilities call it for every server-rendered page.
type Layout func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML)

var plain = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main>
<h1>{{.Title}}</h1>
{{.Body}}
</main></body></html>
`))

// Plain is the default Layout: a bare HTML page with no script and no external resources.
func Plain(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = plain.Execute(w, struct {
		Title string
		Body  template.HTML
	}{title, body})
}
