package tracking

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
)

// csv returns the figures the report page shows, one per line under the header
// dimension,value,title,views,previous_views,change_percent: the total ("total"),
// the bots ("bots"), the series (by its step: "hour", "day" or "month", the
// value its start) and each dimension's rows. A previous figure hidden by the
// K rule is written "<K", as the page words it; nothing else is in it.
func (h *Handler) csv(c *Comparison) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	k := "<" + strconv.Itoa(c.Report.K)
	line := func(dim, value, title string, x Compared, compared bool) {
		prev, chg := "", ""
		if compared {
			prev = strconv.FormatInt(x.Previous, 10)
			if x.Hidden {
				prev = k
			}
			if pct, ok := x.Change(); ok {
				chg = strconv.FormatInt(pct, 10)
			}
		}
		_ = w.Write([]string{dim, cell(value), cell(title), strconv.FormatInt(x.Views, 10), prev, chg})
	}
	_ = w.Write([]string{"dimension", "value", "title", "views", "previous_views", "change_percent"})
	line("total", "", "", c.Views, true)
	line("bots", "", "", Compared{Views: c.Report.Bots}, false)
	for _, p := range c.Report.Series {
		line(string(c.Report.Step), stepLabel(c.Report.Step, p.Start), "", Compared{Views: p.Views}, false)
	}
	for _, d := range []struct {
		dim  Dimension
		rows []Compared
	}{{Paths, c.Paths}, {Domains, c.Domains}, {Browsers, c.Browsers}, {MIMETypes, c.MIMETypes}} {
		for _, r := range d.rows {
			title := ""
			if d.dim == Paths && r.Value != Other {
				title = h.title(r.Value)
			}
			line(string(d.dim), r.Value, title, r, true)
		}
	}
	w.Flush()
	return b.Bytes()
}

// cell keeps a spreadsheet from reading a value as a formula (OWASP's CSV
// injection advice): a value a visitor could shape, a path, may start with one.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// csvName is the download's file name: the range, both days included.
func csvName(r *Report) string {
	return "usage-" + r.From.Format(dateLayout) + "-to-" + r.To.AddDate(0, 0, -1).Format(dateLayout) + ".csv"
}
