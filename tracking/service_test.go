package tracking_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

var (
	ctx    = context.Background()
	may1   = time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	june1  = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	inMay  = tracking.Query{From: may1, To: june1}
	oneDay = tracking.Query{From: may1, To: may1.AddDate(0, 0, 1)}
)

func newService(t *testing.T, cfg tracking.Config) (*tracking.Service, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	if cfg.Store == nil {
		cfg.Store = store
	}
	svc, err := tracking.New(cfg)
	require.NoError(t, err)
	return svc, store
}

// views adds n views of value in dim, one per hour (or day) from start.
func views(t *testing.T, s tracking.Store, dim tracking.Dimension, value string, start time.Time, n int) {
	t.Helper()
	var batch []tracking.Count
	for i := range n {
		c := tracking.Count{Dim: dim, Period: tracking.Day, Start: start.AddDate(0, 0, i), Value: value, N: 1}
		if dim == tracking.Paths {
			c.Period, c.Start = tracking.Hour, start.Add(time.Duration(i)*time.Hour)
		}
		batch = append(batch, c)
	}
	require.NoError(t, s.Add(ctx, tracking.NewKey(), batch))
}

func TestReportSuppression(t *testing.T) {
	svc, store := newService(t, tracking.Config{})
	for _, d := range []tracking.Dimension{tracking.Paths, tracking.Domains, tracking.Browsers, tracking.MIMETypes} {
		views(t, store, d, "five", may1, 5)
		views(t, store, d, "four", may1.AddDate(0, 0, 3), 4)
		views(t, store, d, "four", may1.AddDate(0, 1, 0), 3) // June: outside the range
	}
	rep, err := svc.Report(ctx, inMay)
	require.NoError(t, err)
	want := []tracking.Row{{Value: "five", Views: 5}, {Value: tracking.Other, Views: 4}}
	assert.Equal(t, want, rep.Paths, "seen 4 times: in (other); 5 times: shown")
	assert.Equal(t, want, rep.Domains)
	assert.Equal(t, want, rep.Browsers)
	assert.Equal(t, want, rep.MIMETypes)
	assert.Equal(t, int64(9), rep.Views)
	assert.Equal(t, 5, rep.K)

	// With k = 4 the same counts show both.
	svc4, err := tracking.New(tracking.Config{Store: store, K: 4})
	require.NoError(t, err)
	rep, err = svc4.Report(ctx, inMay)
	require.NoError(t, err)
	assert.Equal(t, []tracking.Row{{Value: "five", Views: 5}, {Value: "four", Views: 4}}, rep.Domains)
}

func TestReportTopAndOrder(t *testing.T) {
	svc, store := newService(t, tracking.Config{Top: 3})
	for i := range 8 {
		views(t, store, tracking.Domains, fmt.Sprintf("d%d.example", i), may1, 5+i%4)
	}
	views(t, store, tracking.Domains, tracking.Unresolved, may1, 20)
	rep, err := svc.Report(ctx, inMay)
	require.NoError(t, err)
	assert.Equal(t, []tracking.Row{
		{Value: tracking.Unresolved, Views: 20},
		{Value: "d3.example", Views: 8},
		{Value: "d7.example", Views: 8}, // ties by value
		{Value: tracking.Other, Views: 7 + 7 + 6 + 6 + 5 + 5},
	}, rep.Domains)

	rep, err = svc.Report(ctx, tracking.Query{From: may1, To: june1, Top: 1})
	require.NoError(t, err)
	assert.Equal(t, []tracking.Row{{Value: tracking.Unresolved, Views: 20}, {Value: tracking.Other, Views: 52}}, rep.Domains)
}

func TestReportTotalsAndSeries(t *testing.T) {
	svc, store := newService(t, tracking.Config{})
	views(t, store, tracking.Paths, "/", may1.Add(2*time.Hour), 3)  // 02:00, 03:00, 04:00 on May 1
	views(t, store, tracking.Paths, "/a", may1.AddDate(0, 0, 1), 1) // May 2
	views(t, store, tracking.Paths, "/", may1.Add(-time.Hour), 1)   // April 30: outside
	require.NoError(t, store.Add(ctx, tracking.NewKey(), []tracking.Count{{Dim: tracking.Bots, Period: tracking.Day, Start: may1, N: 40}}))

	rep, err := svc.Report(ctx, oneDay)
	require.NoError(t, err)
	assert.Equal(t, int64(3), rep.Views)
	assert.Equal(t, int64(40), rep.Bots, "bots counted apart")
	assert.Equal(t, tracking.Hour, rep.Step)
	require.Len(t, rep.Series, 24)
	assert.Equal(t, tracking.Point{Start: may1.Add(3 * time.Hour), Views: 1}, rep.Series[3])
	assert.Zero(t, rep.Series[0].Views, "empty hours are there, as zero")

	rep, err = svc.Report(ctx, inMay)
	require.NoError(t, err)
	assert.Equal(t, tracking.Day, rep.Step)
	require.Len(t, rep.Series, 31)
	assert.Equal(t, int64(3), rep.Series[0].Views)
	assert.Equal(t, int64(1), rep.Series[1].Views)
	assert.Equal(t, int64(4), rep.Views)
	assert.Empty(t, rep.Paths[:len(rep.Paths)-1], "no path reached k")
	assert.Equal(t, tracking.Row{Value: tracking.Other, Views: 4}, rep.Paths[len(rep.Paths)-1])

	rep, err = svc.Report(ctx, tracking.Query{From: may1.AddDate(0, -4, 0), To: june1})
	require.NoError(t, err)
	assert.Equal(t, tracking.Month, rep.Step)
	require.Len(t, rep.Series, 5)
	assert.Equal(t, int64(1), rep.Series[3].Views, "April")
	assert.Equal(t, int64(4), rep.Series[4].Views, "May")

	// Once rolled up into months, a day-sized step would misplace the counts.
	_, err = store.Rollup(ctx, tracking.Hour, tracking.Day, june1)
	require.NoError(t, err)
	_, err = store.Rollup(ctx, tracking.Day, tracking.Month, june1)
	require.NoError(t, err)
	rep, err = svc.Report(ctx, inMay)
	require.NoError(t, err)
	assert.Equal(t, tracking.Month, rep.Step)
	assert.Equal(t, []tracking.Point{{Start: may1, Views: 4}}, rep.Series)
}

func TestPathSeries(t *testing.T) {
	svc, store := newService(t, tracking.Config{})
	views(t, store, tracking.Paths, "/shown", may1, 6)
	views(t, store, tracking.Paths, "/rare", may1, 2)
	views(t, store, tracking.Paths, "/rarer", may1.AddDate(0, 0, 2), 1)
	views(t, store, tracking.Paths, tracking.Other, may1.AddDate(0, 0, 2), 7)

	rep, err := svc.PathSeries(ctx, "/shown", inMay)
	require.NoError(t, err)
	assert.Equal(t, int64(6), rep.Views)
	assert.Equal(t, tracking.Day, rep.Step)
	assert.Equal(t, int64(6), rep.Series[0].Views)

	_, err = svc.PathSeries(ctx, "/rare", inMay)
	require.ErrorIs(t, err, privacy.ErrNotFound, "a path under k is not shown on its own")
	_, err = svc.PathSeries(ctx, "/never", inMay)
	require.ErrorIs(t, err, privacy.ErrNotFound)

	rep, err = svc.PathSeries(ctx, tracking.Other, inMay)
	require.NoError(t, err)
	assert.Equal(t, int64(2+1+7), rep.Views, "(other) is everything a report shows as (other)")
	assert.Equal(t, int64(2), rep.Series[0].Views)
	assert.Equal(t, int64(8), rep.Series[2].Views)

	for _, bad := range []string{"", " /x", "/\x00"} {
		_, err = svc.PathSeries(ctx, bad, inMay)
		require.ErrorIs(t, err, privacy.ErrInvalid)
		assert.Equal(t, "path", privacy.FieldOf(err))
	}
}

func TestReportQueryErrors(t *testing.T) {
	svc, _ := newService(t, tracking.Config{})
	for _, tc := range []struct {
		name  string
		q     tracking.Query
		field string
	}{
		{"ErrFromRequired", tracking.Query{To: june1}, "from"},
		{"ErrToRequired", tracking.Query{From: may1}, "to"},
		{"ErrToBeforeFrom", tracking.Query{From: june1, To: may1}, "to"},
		{"ErrEmptyRange", tracking.Query{From: may1, To: may1}, "to"},
		{"ErrSpanTooLong", tracking.Query{From: may1.AddDate(-3, 0, 0), To: may1}, "from"},
		{"ErrTopNegative", tracking.Query{From: may1, To: june1, Top: -1}, "top"},
		{"ErrTopTooLarge", tracking.Query{From: may1, To: june1, Top: tracking.MaxTop + 1}, "top"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Report(ctx, tc.q)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			_, err = svc.PathSeries(ctx, "/", tc.q)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
}

func TestNewErrors(t *testing.T) {
	store := memstore.New()
	for _, tc := range []struct {
		name string
		cfg  tracking.Config
		want string
	}{
		{"ErrStoreRequired", tracking.Config{}, "Store"},
		{"ErrKOne", tracking.Config{Store: store, K: 1}, "K"},
		{"ErrKNegative", tracking.Config{Store: store, K: -5}, "K"},
		{"ErrTopTooLarge", tracking.Config{Store: store, Top: 101}, "Top"},
		{"ErrDailyBeforeHourly", tracking.Config{Store: store, HourlyFor: 100 * 24 * time.Hour}, "DailyFor"},
		{"ErrNegativeRetention", tracking.Config{Store: store, RetentionMonths: -1}, "RetentionMonths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := tracking.New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, svc)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestMaintainRollsUpAndExpires(t *testing.T) {
	now := time.Date(2027, 7, 15, 10, 30, 0, 0, time.UTC)
	svc, store := newService(t, tracking.Config{Now: func() time.Time { return now }})
	recentHour := now.Truncate(time.Hour).Add(-2 * time.Hour)
	oldHour := time.Date(2027, 6, 1, 5, 0, 0, 0, time.UTC)  // older than 31 days: into a day
	oldDay := time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC)  // older than 92 days: into a month
	expired := time.Date(2025, 6, 14, 0, 0, 0, 0, time.UTC) // older than 25 months
	// Younger than 25 months, but its month (June 2025) began before the cut: the
	// month goes whole, so no count outlives the retention period.
	partlyExpired := time.Date(2025, 6, 16, 0, 0, 0, 0, time.UTC)
	kept := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, store.Add(ctx, tracking.NewKey(), []tracking.Count{
		{Dim: tracking.Paths, Period: tracking.Hour, Start: recentHour, Value: "/", N: 1},
		{Dim: tracking.Paths, Period: tracking.Hour, Start: oldHour, Value: "/", N: 2},
		{Dim: tracking.Paths, Period: tracking.Hour, Start: oldHour.Add(time.Hour), Value: "/", N: 3},
		{Dim: tracking.Domains, Period: tracking.Day, Start: oldDay, Value: "example.net", N: 4},
		{Dim: tracking.Domains, Period: tracking.Day, Start: expired, Value: "example.net", N: 5},
		{Dim: tracking.Domains, Period: tracking.Day, Start: partlyExpired, Value: "example.net", N: 6},
		{Dim: tracking.Bots, Period: tracking.Day, Start: kept, N: 7},
	}))

	reg := &privacy.Registry{}
	reg.Register(svc)
	purged, err := reg.Purge(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"tracking": 2 + 4 + 1}, purged, "2 hours and 4 days merged, the June 2025 month deleted")

	all := func(d tracking.Dimension) []tracking.Count {
		counts, err := store.Counts(ctx, d, time.Time{}, now)
		require.NoError(t, err)
		return counts
	}
	assert.Equal(t, []tracking.Count{
		{Dim: tracking.Paths, Period: tracking.Day, Start: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC), Value: "/", N: 5},
		{Dim: tracking.Paths, Period: tracking.Hour, Start: recentHour, Value: "/", N: 1},
	}, all(tracking.Paths))
	assert.Equal(t, []tracking.Count{
		{Dim: tracking.Domains, Period: tracking.Month, Start: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Value: "example.net", N: 4},
	}, all(tracking.Domains))
	assert.Equal(t, []tracking.Count{{Dim: tracking.Bots, Period: tracking.Month, Start: kept, N: 7}}, all(tracking.Bots))

	again, err := svc.Purge(ctx, now)
	require.NoError(t, err)
	assert.Zero(t, again, "nothing left to do")
}

func TestHolder(t *testing.T) {
	svc, _ := newService(t, tracking.Config{})
	c := svc.Contract()
	assert.Equal(t, "tracking", c.Name)
	require.Len(t, c.Categories, 1)
	assert.Equal(t, tracking.CategoryCounts, c.Categories[0].Name)
	assert.Equal(t, "25 months", c.Categories[0].KeptFor())
	var h privacy.Holder = svc
	_, exports := h.(privacy.Exporter)
	_, erases := h.(privacy.Eraser)
	assert.False(t, exports, "nothing personal to export")
	assert.False(t, erases, "nothing personal to erase")

	reg := &privacy.Registry{}
	reg.Register(svc)
	require.NoError(t, reg.Check())
	exp, err := reg.Export(ctx, "someone@example.com")
	require.NoError(t, err)
	assert.NotContains(t, exp, "tracking")
}
