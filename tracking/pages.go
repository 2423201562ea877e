package tracking

import (
	"html/template"
	"strconv"
	"time"
	"unicode/utf8"
)

// The report pages draw their charts as SVG on the server: no script, no style
// attribute (a strict CSP stays intact), and every chart has its figures in a table
// beside it for screen readers and text browsers. Classes (tracking-*) let a host
// style them.

// columnChart is a time series as vertical bars.
type columnChart struct {
	ID, Title   string
	W, H        int
	Bars        []column
	Max         string
	Base, Top   string // y of the axis and of the max label
	First, Last string // labels under the first and last bar
	LastX       string
}

type column struct {
	X, Y, W, H string
	Label      string // "2025-01-31: 42 views"
}

// barChart is one dimension's top values as horizontal bars.
type barChart struct {
	ID, Title string
	W, H      int
	Bars      []bar
}

type bar struct {
	Y, TextY, W, CountX string
	Value, Short, Views string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func stepLabel(step Period, t time.Time) string {
	switch step {
	case Hour:
		return t.Format("2006-01-02 15:00")
	case Day:
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01")
}

func newColumnChart(id, title string, step Period, points []Point) columnChart {
	const w, h, left, right, top, bottom = 720, 220, 56, 8, 14, 30
	c := columnChart{ID: id, Title: title, W: w, H: h, Base: f1(h - bottom), Top: f1(top)}
	var most int64
	for _, p := range points {
		most = max(most, p.Views)
	}
	c.Max = strconv.FormatInt(most, 10)
	if len(points) == 0 {
		return c
	}
	slot := float64(w-left-right) / float64(len(points))
	plotH := float64(h - top - bottom)
	for i, p := range points {
		bh := 0.0
		if most > 0 {
			bh = plotH * float64(p.Views) / float64(most)
		}
		c.Bars = append(c.Bars, column{
			X: f1(left + slot*float64(i) + slot*0.1), W: f1(max(slot*0.8, 1)),
			Y: f1(float64(top) + plotH - bh), H: f1(bh),
			Label: stepLabel(step, p.Start) + ": " + strconv.FormatInt(p.Views, 10) + " views",
		})
	}
	c.First = stepLabel(step, points[0].Start)
	c.Last = stepLabel(step, points[len(points)-1].Start)
	c.LastX = f1(w - right)
	return c
}

func newBarChart(id, title string, rows []Row) barChart {
	const w, rowH, labelW, barW = 720, 24, 280, 360
	c := barChart{ID: id, Title: title, W: w, H: max(len(rows), 1)*rowH + 4}
	var most int64
	for _, r := range rows {
		most = max(most, r.Views)
	}
	for i, r := range rows {
		bw := 0.0
		if most > 0 {
			bw = barW * float64(r.Views) / float64(most)
		}
		short := r.Value
		if utf8.RuneCountInString(short) > 36 {
			short = string([]rune(short)[:35]) + "…"
		}
		c.Bars = append(c.Bars, bar{
			Y: f1(float64(i*rowH) + 4), TextY: f1(float64(i*rowH) + 20), W: f1(max(bw, 1)),
			CountX: f1(labelW + bw + 6), Value: r.Value, Short: short, Views: strconv.FormatInt(r.Views, 10),
		})
	}
	return c
}

type section struct {
	Title string
	Chart barChart
	Rows  []Row
	Links bool // rows link to the path page
}

type reportData struct {
	Form     params
	R        *Report
	Series   columnChart
	Sections []section
}

func reportPage(r *Report, in params) reportData {
	return reportData{
		Form:   in,
		R:      r,
		Series: newColumnChart("tracking-series", "Page views per "+string(r.Step), r.Step, r.Series),
		Sections: []section{
			{Title: "Pages", Chart: newBarChart("tracking-paths", "Views per page", r.Paths), Rows: r.Paths, Links: true},
			{Title: "Visitor domains", Chart: newBarChart("tracking-domains", "Views per visitor domain", r.Domains), Rows: r.Domains},
			{Title: "Browsers", Chart: newBarChart("tracking-browsers", "Views per browser", r.Browsers), Rows: r.Browsers},
			{Title: "Content types", Chart: newBarChart("tracking-mime", "Views per content type", r.MIMETypes), Rows: r.MIMETypes},
		},
	}
}

type pathData struct {
	Form   params
	R      *PathReport
	Series columnChart
}

func pathPage(r *PathReport, in params) pathData {
	return pathData{Form: in, R: r, Series: newColumnChart("tracking-path-series", "Views of "+r.Path+" per "+string(r.Step), r.Step, r.Series)}
}

// pages are the report's templates; base, the path the Handler is mounted at, is
// set by each Handler's clone.
var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"base":  func() string { return "" },
	"date":  func(t time.Time) string { return t.Format(dateLayout) },
	"label": stepLabel,
	"last":  func(t time.Time) string { return t.AddDate(0, 0, -1).Format(dateLayout) },
}).Parse(`
{{define "form"}}
<form method="get" action="" class="tracking-range">
{{if .Path}}<input type="hidden" name="path" value="{{.Path}}">{{end}}
<p><label for="tracking-from">From</label>
<input type="date" id="tracking-from" name="from" value="{{.From}}"{{if .Error "from"}} aria-invalid="true" aria-describedby="tracking-from-error"{{end}}>
{{with .Error "from"}}<strong id="tracking-from-error" class="tracking-error">{{.}}</strong>{{end}}</p>
<p><label for="tracking-to">To</label>
<input type="date" id="tracking-to" name="to" value="{{.To}}"{{if .Error "to"}} aria-invalid="true" aria-describedby="tracking-to-error"{{end}}>
{{with .Error "to"}}<strong id="tracking-to-error" class="tracking-error">{{.}}</strong>{{end}}</p>
{{if not .Path}}<p><label for="tracking-top">Values shown per list</label>
<input type="number" id="tracking-top" name="top" min="1" max="100" value="{{.Top}}"{{if .Error "top"}} aria-invalid="true" aria-describedby="tracking-top-error"{{end}}>
{{with .Error "top"}}<strong id="tracking-top-error" class="tracking-error">{{.}}</strong>{{end}}</p>{{end}}
{{with .Error "path"}}<p><strong class="tracking-error">Page: {{.}}</strong></p>{{end}}
<p><button type="submit">Show</button></p>
</form>
{{end}}

{{define "columns"}}
<figure class="tracking-chart">
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-labelledby="{{.ID}}-title">
<title id="{{.ID}}-title">{{.Title}}</title>
<line x1="56" y1="{{.Base}}" x2="{{.LastX}}" y2="{{.Base}}" stroke="currentColor" stroke-width="1"/>
<text x="50" y="{{.Top}}" text-anchor="end" font-size="12" fill="currentColor">{{.Max}}</text>
<text x="50" y="{{.Base}}" text-anchor="end" font-size="12" fill="currentColor">0</text>
{{range .Bars}}<rect class="tracking-bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="currentColor" fill-opacity="0.6"><title>{{.Label}}</title></rect>
{{end}}<text x="56" y="{{$.H}}" dy="-8" font-size="12" fill="currentColor">{{.First}}</text>
<text x="{{.LastX}}" y="{{$.H}}" dy="-8" text-anchor="end" font-size="12" fill="currentColor">{{.Last}}</text>
</svg>
<figcaption>{{.Title}}</figcaption>
</figure>
{{end}}

{{define "bars"}}
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-labelledby="{{.ID}}-title" class="tracking-chart">
<title id="{{.ID}}-title">{{.Title}}</title>
{{range .Bars}}<text x="272" y="{{.TextY}}" text-anchor="end" font-size="13" fill="currentColor">{{.Short}}<title>{{.Value}}</title></text>
<rect class="tracking-bar" x="280" y="{{.Y}}" width="{{.W}}" height="18" fill="currentColor" fill-opacity="0.6"><title>{{.Value}}: {{.Views}} views</title></rect>
<text x="{{.CountX}}" y="{{.TextY}}" font-size="13" fill="currentColor">{{.Views}}</text>
{{end}}</svg>
{{end}}

{{define "report"}}
{{template "form" .Form}}
<p class="tracking-summary"><strong>{{.R.Views}}</strong> page views from {{date .R.From}} to {{last .R.To}} (UTC).
Requests from bots and prefetches, left out of every figure: {{.R.Bots}}.
A value seen fewer than {{.R.K}} times in the range, or beyond the top of its list, is counted in “(other)”.
No figure here is tied to a visitor: each list is counted on its own.</p>
{{template "columns" .Series}}
<details><summary>Views per {{.R.Step}} as a table</summary>
<table class="tracking-table"><thead><tr><th scope="col">{{.R.Step}}</th><th scope="col">Views</th></tr></thead><tbody>
{{range .R.Series}}<tr><td>{{label $.R.Step .Start}}</td><td>{{.Views}}</td></tr>
{{end}}</tbody></table></details>
{{range $s := .Sections}}
<section class="tracking-section"><h2>{{.Title}}</h2>
{{if .Rows}}{{template "bars" .Chart}}
<table class="tracking-table"><thead><tr><th scope="col">{{.Title}}</th><th scope="col">Views</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{if $s.Links}}<a href="{{base}}/page?path={{.Value}}&amp;from={{$.Form.From}}&amp;to={{$.Form.To}}">{{.Value}}</a>{{else}}{{.Value}}{{end}}</td><td>{{.Views}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No views in this range.</p>{{end}}
</section>
{{end}}
{{end}}

{{define "path"}}
<p><a href="{{base}}/?from={{.Form.From}}&amp;to={{.Form.To}}">All pages</a></p>
{{template "form" .Form}}
<p class="tracking-summary"><strong>{{.R.Views}}</strong> views of <code>{{.R.Path}}</code> from {{date .R.From}} to {{last .R.To}} (UTC).</p>
{{template "columns" .Series}}
<table class="tracking-table"><thead><tr><th scope="col">{{.R.Step}}</th><th scope="col">Views</th></tr></thead><tbody>
{{range .R.Series}}<tr><td>{{label $.R.Step .Start}}</td><td>{{.Views}}</td></tr>
{{end}}</tbody></table>
{{end}}

{{define "failed"}}
<p class="tracking-error" role="alert">{{.Message}}</p>
{{template "form" .Form}}
{{end}}
`))
