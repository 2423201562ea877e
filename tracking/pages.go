package tracking

import (
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"strconv"
	"time"
	"unicode/utf8"
)

//go:embed templates/*.html
var embedded embed.FS

// DefaultTemplates holds every word the report pages show (*.html, html/template),
// the charts' SVG markup with them. A host restyles or translates the pages through
// HandlerConfig.Templates, overriding whole files or single {{define}}s.
var DefaultTemplates, _ = fs.Sub(embedded, "templates") // a literal embedded directory: no error

// The charts' geometry is computed here; their words (titles, "views") are in the
// templates, which tell the charts apart by ID.

// columnChart is a time series as vertical bars.
type columnChart struct {
	ID          string
	Step        Period
	Path        string // the path a path page charts; "" on the report
	W, H        int
	Bars        []column
	Max         string
	Base, Top   string // y of the axis and of the max label
	First, Last string // labels under the first and last bar
	LastX       string
}

type column struct {
	X, Y, W, H string
	Label      string // the period's start: "2025-01-31"
	Views      string
}

// barChart is one dimension's top values as horizontal bars.
type barChart struct {
	ID   string
	W, H int
	Bars []bar
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

func newColumnChart(id, path string, step Period, points []Point) columnChart {
	const w, h, left, right, top, bottom = 720, 220, 56, 8, 14, 30
	c := columnChart{ID: id, Step: step, Path: path, W: w, H: h, Base: f1(h - bottom), Top: f1(top)}
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
			Label: stepLabel(step, p.Start), Views: strconv.FormatInt(p.Views, 10),
		})
	}
	c.First = stepLabel(step, points[0].Start)
	c.Last = stepLabel(step, points[len(points)-1].Start)
	c.LastX = f1(w - right)
	return c
}

func newBarChart(id string, rows []Row) barChart {
	const w, rowH, labelW, barW = 720, 24, 280, 360
	c := barChart{ID: id, W: w, H: max(len(rows), 1)*rowH + 4}
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

// section is one dimension's list; the templates title it by its chart's ID.
type section struct {
	Chart barChart
	Rows  []shownRow
	Links bool // rows link to the path page
}

// shownRow is a row of a list as the page shows it.
type shownRow struct {
	Compared
	Title  string // the page's title, from HandlerConfig.Title
	Change string // the change in per cent, signed ("+25", "−40"); "" when there is none
}

func (r shownRow) New() bool { return r.Views > 0 && r.Previous == 0 && !r.Hidden }

type reportData struct {
	Form     params
	R        *Report
	C        *Comparison
	Views    shownRow
	Series   columnChart
	Sections []section
	Presets  []Preset
	CSV      template.URL // the CSV download, as a data: URL: a link the page's reader can follow without credentials
	CSVName  string
}

func (h *Handler) reportPage(c *Comparison, in params) reportData {
	r := c.Report
	rows := func(cs []Compared, titled bool) []shownRow {
		out := make([]shownRow, len(cs))
		for i, x := range cs {
			out[i] = shownRow{Compared: x, Change: change(x)}
			if titled && x.Value != Other {
				out[i].Title = h.title(x.Value)
			}
		}
		return out
	}
	return reportData{
		Form:    in,
		R:       r,
		C:       c,
		Views:   shownRow{Compared: c.Views, Change: change(c.Views)},
		Series:  newColumnChart("tracking-series", "", r.Step, r.Series),
		Presets: Presets(),
		Sections: []section{
			{Chart: newBarChart("tracking-paths", r.Paths), Rows: rows(c.Paths, true), Links: true},
			{Chart: newBarChart("tracking-domains", r.Domains), Rows: rows(c.Domains, false)},
			{Chart: newBarChart("tracking-browsers", r.Browsers), Rows: rows(c.Browsers, false)},
			{Chart: newBarChart("tracking-mime", r.MIMETypes), Rows: rows(c.MIMETypes, false)},
		},
		CSV:     template.URL("data:text/csv;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(h.csv(c))),
		CSVName: csvName(r),
	}
}

// change formats Compared.Change with its sign.
func change(c Compared) string {
	pct, ok := c.Change()
	switch {
	case !ok:
		return ""
	case pct > 0:
		return "+" + strconv.FormatInt(pct, 10)
	case pct < 0:
		return "−" + strconv.FormatInt(-pct, 10)
	}
	return "0"
}

type pathData struct {
	Form    params
	Presets []Preset
	R       *PathReport
	Series  columnChart
}

func pathPage(r *PathReport, in params) pathData {
	return pathData{Form: in, Presets: Presets(), R: r, Series: newColumnChart("tracking-path-series", r.Path, r.Step, r.Series)}
}
