package tracking_test

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/tracking"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// TestPresetsAndCustomRange: on a fixed clock (June 1, 2025, 09:00 UTC), each
// preset and a custom range select the days they name, and the period compared
// is the one of the same length just before.
func TestPresetsAndCustomRange(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	for _, tc := range []struct {
		query                        string
		from, to, prevFrom, prevTo   time.Time
		step                         tracking.Period
		shownFrom, shownTo, selected string
	}{
		{"range=today", day(2025, 6, 1), day(2025, 6, 2), day(2025, 5, 31), day(2025, 6, 1), tracking.Hour, "2025-06-01", "2025-06-01", "today"},
		{"range=7d", day(2025, 5, 26), day(2025, 6, 2), day(2025, 5, 19), day(2025, 5, 26), tracking.Day, "2025-05-26", "2025-06-01", "7d"},
		{"range=30d", day(2025, 5, 3), day(2025, 6, 2), day(2025, 4, 3), day(2025, 5, 3), tracking.Day, "2025-05-03", "2025-06-01", "30d"},
		{"", day(2025, 5, 3), day(2025, 6, 2), day(2025, 4, 3), day(2025, 5, 3), tracking.Day, "2025-05-03", "2025-06-01", "30d"},
		{"range=12m", day(2024, 7, 1), day(2025, 6, 2), day(2023, 7, 1), day(2024, 7, 1), tracking.Month, "2024-07-01", "2025-06-01", "12m"},
		{"from=2025-05-01&to=2025-05-31", day(2025, 5, 1), day(2025, 6, 1), day(2025, 3, 31), day(2025, 5, 1), tracking.Day, "2025-05-01", "2025-05-31", ""},
		{"from=2025-05-06&to=2025-05-06", day(2025, 5, 6), day(2025, 5, 7), day(2025, 5, 5), day(2025, 5, 6), tracking.Hour, "2025-05-06", "2025-05-06", ""},
		{"from=2025-01-01&to=2025-05-31", day(2025, 1, 1), day(2025, 6, 1), day(2024, 8, 1), day(2025, 1, 1), tracking.Month, "2025-01-01", "2025-05-31", ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := do(h, http.MethodGet, "/api/compare?"+tc.query)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var c tracking.Comparison
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &c))
			assert.Equal(t, tc.from, c.Report.From, "from")
			assert.Equal(t, tc.to, c.Report.To, "to")
			assert.Equal(t, tc.prevFrom, c.PreviousFrom, "previous from")
			assert.Equal(t, tc.prevTo, c.PreviousTo, "previous to")
			assert.Equal(t, tc.step, c.Report.Step)

			w = do(h, http.MethodGet, "/?"+tc.query)
			require.Equal(t, http.StatusOK, w.Code)
			body := w.Body.String()
			assert.Contains(t, body, `name="from" value="`+tc.shownFrom+`"`, "the custom range shows the days selected")
			assert.Contains(t, body, `name="to" value="`+tc.shownTo+`"`)
			current := regexp.MustCompile(`href="/stats/\?range=(\w+)" aria-current="page"`).FindAllStringSubmatch(body, -1)
			if tc.selected == "" {
				assert.Empty(t, current, "a custom range marks no preset")
			} else if assert.Len(t, current, 1) {
				assert.Equal(t, tc.selected, current[0][1])
			}
			assert.Contains(t, body, `<form method="get" action="/stats/" class="tracking-range">`, "the form goes to the report, under the base")
		})
	}
}

func TestPresetRange(t *testing.T) {
	// Just before midnight on New Year's Eve: "today" and "12m" stay in the old year.
	now := time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
	for _, tc := range []struct {
		p        tracking.Preset
		from, to time.Time
	}{
		{tracking.PresetToday, day(2025, 12, 31), day(2026, 1, 1)},
		{tracking.Preset7Days, day(2025, 12, 25), day(2026, 1, 1)},
		{tracking.Preset30Days, day(2025, 12, 2), day(2026, 1, 1)},
		{tracking.Preset12Months, day(2025, 1, 1), day(2026, 1, 1)},
	} {
		from, to, ok := tc.p.Range(now)
		require.True(t, ok, tc.p)
		assert.Equal(t, tc.from, from, tc.p)
		assert.Equal(t, tc.to, to, tc.p)
	}
	_, _, ok := tracking.Preset("1y").Range(now)
	assert.False(t, ok)

	from, to := tracking.PreviousRange(day(2025, 1, 1), day(2026, 1, 1))
	assert.Equal(t, []time.Time{day(2024, 1, 1), day(2025, 1, 1)}, []time.Time{from, to}, "a calendar year: the year before")
	from, to = tracking.PreviousRange(day(2025, 3, 1), day(2025, 3, 8))
	assert.Equal(t, []time.Time{day(2025, 2, 22), day(2025, 3, 1)}, []time.Time{from, to}, "a week: the 7 days before")
}

func TestHandlerRangeErrors(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	for _, tc := range []struct{ name, query, want string }{
		{"ErrUnknownPreset", "range=1y", "Period must be one of today, 7d, 30d or 12m"},
		{"ErrPresetWithDates", "range=7d&from=2025-05-01", "Period must not be given with from or to"},
		{"ErrPresetTwice", "range=7d&range=30d", "Period was given more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, http.MethodGet, "/api/compare?"+tc.query)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), `"field":"range"`)
			w = do(h, http.MethodGet, "/?"+tc.query)
			require.Equal(t, http.StatusBadRequest, w.Code)
			assert.Contains(t, html.UnescapeString(w.Body.String()), tc.want)
			assert.Equal(t, http.StatusBadRequest, do(h, http.MethodGet, "/export.csv?"+tc.query).Code)
		})
	}
}

// TestCompare: each value's views beside the period before's. A value shown by
// name whose previous views are under k gets no number and no change, and those
// views, with every other not given by name, are the previous "(other)", so the
// previous figures still add up to the previous total and none can be worked out.
func TestCompare(t *testing.T) {
	svc, store := newService(t, tracking.Config{})
	april := day(2025, 4, 1)
	views(t, store, tracking.Paths, "/up", april, 8)    // 8 -> 10: +25 %
	views(t, store, tracking.Paths, "/down", april, 10) // 10 -> 6: -40 %
	views(t, store, tracking.Paths, "/rare", april, 3)  // 3 -> 7: hidden
	views(t, store, tracking.Paths, "/new", april, 0)   // 0 -> 5: new
	views(t, store, tracking.Paths, "/gone", april, 6)  // 6 -> 0: in (other)
	views(t, store, tracking.Paths, "/half", april, 8)  // 8 -> 9: +12.5, rounds to +13
	views(t, store, tracking.Paths, "/halfd", april, 8) // 8 -> 7: -12.5, rounds to -13
	views(t, store, tracking.Paths, "/same", april, 5)  // 5 -> 5: 0
	views(t, store, tracking.Domains, "a.example", april, 4)
	views(t, store, tracking.Paths, "/up", may1, 10)
	views(t, store, tracking.Paths, "/down", may1, 6)
	views(t, store, tracking.Paths, "/rare", may1, 7)
	views(t, store, tracking.Paths, "/new", may1, 5)
	views(t, store, tracking.Paths, "/half", may1, 9)
	views(t, store, tracking.Paths, "/halfd", may1, 7)
	views(t, store, tracking.Paths, "/same", may1, 5)
	views(t, store, tracking.Paths, "/few", may1, 2) // under k now: (other)
	views(t, store, tracking.Domains, "a.example", may1, 5)

	c, err := svc.Compare(ctx, inMay)
	require.NoError(t, err)
	assert.Equal(t, day(2025, 3, 31), c.PreviousFrom, "the 31 days before May")
	assert.Equal(t, may1, c.PreviousTo)
	assert.Equal(t, tracking.Compared{Views: 51, Previous: 48}, c.Views)
	byValue := map[string]tracking.Compared{}
	for _, r := range c.Paths {
		byValue[r.Value] = r
	}
	want := map[string]struct {
		prev   int64
		hidden bool
		pct    int64
		ok     bool
	}{
		"/up":          {8, false, 25, true},
		"/down":        {10, false, -40, true},
		"/rare":        {0, true, 0, false},
		"/new":         {0, false, 0, false},
		"/half":        {8, false, 13, true},
		"/halfd":       {8, false, -13, true},
		"/same":        {5, false, 0, true},
		tracking.Other: {6 + 3, false, -78, true}, // /gone and the hidden /rare; 2 views now, from /few
	}
	require.Len(t, c.Paths, len(want))
	var prevSum int64
	for v, w := range want {
		got := byValue[v]
		assert.Equal(t, w.prev, got.Previous, v)
		assert.Equal(t, w.hidden, got.Hidden, v)
		pct, ok := got.Change()
		assert.Equal(t, w.ok, ok, v)
		assert.Equal(t, w.pct, pct, v)
		prevSum += got.Previous
	}
	assert.Equal(t, c.Views.Previous, prevSum, "the previous figures add up to the previous total")
	assert.Equal(t, tracking.Other, c.Paths[len(c.Paths)-1].Value, "(other) comes last")
	assert.Equal(t, []tracking.Compared{{Value: "a.example", Views: 5, Hidden: true}, {Value: tracking.Other, Previous: 4}}, c.Domains,
		"(other) is added, with no views now, for previous views not given by name")
	assert.Empty(t, c.Browsers, "no views, nothing to compare")
}

// csvRows reads a CSV into records keyed by dimension and value.
func csvRows(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"dimension", "value", "title", "views", "previous_views", "change_percent"}, recs[0])
	out := map[string][]string{}
	for _, r := range recs[1:] {
		out[r[0]+" "+r[1]] = r[2:]
	}
	return out
}

// TestCSV: the download holds exactly the figures of the page, a rare value is
// not in it, a hidden previous figure is "<k", and a value that starts like a
// spreadsheet formula is written as text.
func TestCSV(t *testing.T) {
	svc, store := newService(t, tracking.Config{Now: func() time.Time { return time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC) }})
	views(t, store, tracking.Paths, "/blog/hello", may1, 6)
	views(t, store, tracking.Paths, "/blog/hello", day(2025, 4, 20), 3)
	views(t, store, tracking.Paths, "/blog/=cmd", may1, 5)
	views(t, store, tracking.Paths, "/blog/secret", may1, 1)
	views(t, store, tracking.Domains, "example.net", may1, 8)
	views(t, store, tracking.Domains, "lone-visitor.example", may1, 1)
	views(t, store, tracking.Domains, "=HYPERLINK(1)", may1, 5)
	require.NoError(t, store.Add(ctx, tracking.NewKey(), []tracking.Count{{Dim: tracking.Bots, Period: tracking.Day, Start: may1, N: 7}}))
	h, err := tracking.NewHandler(svc, tracking.HandlerConfig{Title: func(p string) string {
		return map[string]string{"/blog/hello": "Hello, world", "/blog/=cmd": "-2+3"}[p]
	}})
	require.NoError(t, err)

	w := do(h, http.MethodGet, "/export.csv?from=2025-05-01&to=2025-05-31")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, `attachment; filename="usage-2025-05-01-to-2025-05-31.csv"`, w.Header().Get("Content-Disposition"))
	assert.Empty(t, w.Header().Values("Set-Cookie"))
	body := w.Body.String()
	for _, rare := range []string{"secret", "lone-visitor"} {
		assert.NotContains(t, body, rare, "a value seen once is not in the CSV")
	}
	rows := csvRows(t, w.Body.Bytes())
	assert.Equal(t, []string{"", "12", "3", "300"}, rows["total "])
	assert.Equal(t, []string{"", "7", "", ""}, rows["bots "])
	assert.Equal(t, []string{"Hello, world", "6", "<5", ""}, rows["path /blog/hello"], "3 views in April: under k, not given")
	assert.Equal(t, []string{"'-2+3", "5", "0", ""}, rows["path /blog/=cmd"], "a title like a formula is text")
	assert.Equal(t, []string{"", "1", "3", "-67"}, rows["path (other)"], "the hidden April views are in (other)")
	assert.Equal(t, []string{"", "5", "0", ""}, rows["domain '=HYPERLINK(1)"])
	assert.Equal(t, []string{"", "1", "0", ""}, rows["domain (other)"])
	assert.Equal(t, []string{"", "8", "0", ""}, rows["domain example.net"])
	var days int
	for k, r := range rows {
		if strings.HasPrefix(k, "day ") {
			days++
			assert.Equal(t, "", r[2], k)
		}
	}
	assert.Equal(t, 31, days, "a row per day of the series")
	assert.Equal(t, []string{"", "12", "", ""}, rows["day 2025-05-01"], "every view of May 1, the rare page's too")

	// The page's download link holds the same bytes, readable without credentials.
	page := do(h, http.MethodGet, "/?from=2025-05-01&to=2025-05-31").Body.String()
	m := regexp.MustCompile(`<a href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)" download="usage-2025-05-01-to-2025-05-31.csv">`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	link, err := base64.StdEncoding.DecodeString(m[1])
	require.NoError(t, err)
	assert.Equal(t, body, string(link))
	assert.Contains(t, page, "Hello, world <code>/blog/hello</code>", "the page shows the title beside the path")
	assert.Contains(t, page, "<td>fewer than 5</td>")
}

// TestEmptyState: a range without views says so, with no chart and no lists.
func TestEmptyState(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	w := do(h, http.MethodGet, "/?from=2024-01-01&to=2024-01-31")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<p class="tracking-empty">No page views in this range.</p>`)
	assert.NotContains(t, body, "<svg")
	assert.NotContains(t, body, "<table")
	assert.Contains(t, body, "download=", "the (empty) figures can still be downloaded")
}
