package tracking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Config configures a Service.
type Config struct {
	// Store holds the counters. Required.
	Store Store
	// Logger receives internal errors. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time

	// K is the least number of views in a report's range for a value to be shown on its
	// own; values seen fewer times are merged into "(other)". Default 5; at least 2.
	K int
	// Top is how many values of each dimension a report shows by default. Default 10.
	Top int

	// HourlyFor is how long paths keep hourly counters; older ones are rolled up into
	// days. Default 31 days.
	HourlyFor time.Duration
	// DailyFor is how long daily counters are kept; older ones are rolled up into
	// months. Default 92 days. At least HourlyFor.
	DailyFor time.Duration
	// RetentionMonths is how long any counter is kept. A counter is deleted as soon as
	// any part of its period is older than this, so no count outlives it. Default 25.
	RetentionMonths int
}

// Service reports on the counters and keeps them within their retention. It holds no
// personal data: see Purge.
type Service struct {
	store     Store
	log       *slog.Logger
	now       func() time.Time
	k         int
	top       int
	hourlyFor time.Duration
	dailyFor  time.Duration
	retention int
}

// Limits on a report query.
const (
	MaxTop  = 100
	MaxSpan = 800 * 24 * time.Hour
)

// New returns a Service. Returns an error naming the Config field at fault.
func New(cfg Config) (*Service, error) {
	s := &Service{
		store:     cfg.Store,
		log:       cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:       cfg.Now,
		k:         cmp.Or(cfg.K, 5),
		top:       cmp.Or(cfg.Top, 10),
		hourlyFor: cmp.Or(cfg.HourlyFor, 31*24*time.Hour),
		dailyFor:  cmp.Or(cfg.DailyFor, 92*24*time.Hour),
		retention: cmp.Or(cfg.RetentionMonths, 25),
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case cfg.Store == nil:
		return nil, errors.New("tracking: Config.Store is required")
	case s.k < 2:
		return nil, errors.New("tracking: Config.K must be at least 2; 1 would show every value however rare")
	case s.top < 1 || s.top > MaxTop:
		return nil, fmt.Errorf("tracking: Config.Top must be between 1 and %d", MaxTop)
	case s.hourlyFor < 0 || s.dailyFor < 0 || s.retention < 0:
		return nil, errors.New("tracking: Config.HourlyFor, DailyFor and RetentionMonths must not be negative")
	case s.dailyFor < s.hourlyFor:
		return nil, errors.New("tracking: Config.DailyFor must be at least HourlyFor")
	}
	return s, nil
}

// K returns the suppression threshold.
func (s *Service) K() int { return s.k }

// Query selects a report's range: counters whose period starts in [From, To). Once
// counters are rolled up, a range resolves to whole days or months.
type Query struct {
	From, To time.Time
	Top      int // values shown per dimension; 0: the Service's default
}

// Report is the page views in a range, each dimension on its own. Bots are left out of
// every figure but Bots.
type Report struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	K         int       `json:"k"`
	Views     int64     `json:"views"`
	Bots      int64     `json:"bots"`
	Step      Period    `json:"step"`
	Series    []Point   `json:"series"`
	Paths     []Row     `json:"paths"`
	Domains   []Row     `json:"domains"`
	Browsers  []Row     `json:"browsers"`
	MIMETypes []Row     `json:"mime_types"`
}

// Row is one value's views in a range.
type Row struct {
	Value string `json:"value"`
	Views int64  `json:"views"`
}

// Point is the views in one step of a time series.
type Point struct {
	Start time.Time `json:"start"`
	Views int64     `json:"views"`
}

// PathReport is one path's views over a range.
type PathReport struct {
	Path   string    `json:"path"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	K      int       `json:"k"`
	Views  int64     `json:"views"`
	Step   Period    `json:"step"`
	Series []Point   `json:"series"`
}

func (s *Service) check(q *Query) error {
	switch {
	case q.From.IsZero():
		return privacy.InvalidRule("from", "required", "is required")
	case q.To.IsZero():
		return privacy.InvalidRule("to", "required", "is required")
	case !q.To.After(q.From):
		return privacy.InvalidRule("to", "after-from", "must be after from")
	case q.To.Sub(q.From) > MaxSpan:
		return privacy.Invalid("from", "the range may span at most %d days", int(MaxSpan/(24*time.Hour)))
	case q.Top < 0 || q.Top > MaxTop:
		return &privacy.Error{Kind: privacy.ErrInvalid, Field: "top", Code: "range", Limit: MaxTop, Message: fmt.Sprintf("must be between 1 and %d", MaxTop)}
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if q.Top == 0 {
		q.Top = s.top
	}
	return nil
}

// Report returns the views in q's range: the total, a time series, and the top values
// of each dimension. Every value with fewer than K views in the range, and every value
// past the top, is merged into "(other)". Returns ErrInvalid naming "from", "to" or
// "top" for a bad query.
func (s *Service) Report(ctx context.Context, q Query) (*Report, error) {
	if err := s.check(&q); err != nil {
		return nil, err
	}
	rep := &Report{From: q.From, To: q.To, K: s.k}
	totals := map[Dimension]map[string]int64{}
	var paths []Count
	for _, d := range Dimensions() {
		counts, err := s.store.Counts(ctx, d, q.From, q.To)
		if err != nil {
			return nil, fmt.Errorf("tracking: report %s: %w", d, err)
		}
		if d == Paths {
			paths = counts
		}
		t := map[string]int64{}
		for _, c := range counts {
			t[c.Value] += c.N
		}
		totals[d] = t
	}
	rep.Bots = totals[Bots][""]
	for _, n := range totals[Paths] {
		rep.Views += n
	}
	rep.Step, rep.Series = series(paths, q.From, q.To)
	rep.Paths = s.rows(totals[Paths], q.Top)
	rep.Domains = s.rows(totals[Domains], q.Top)
	rep.Browsers = s.rows(totals[Browsers], q.Top)
	rep.MIMETypes = s.rows(totals[MIMETypes], q.Top)
	return rep, nil
}

// rows applies the suppression: values under k and past the top go to Other, which
// comes last.
func (s *Service) rows(totals map[string]int64, top int) []Row {
	rows := []Row{}
	var other int64
	for v, n := range totals {
		if v == Other || n < int64(s.k) {
			other += n
			continue
		}
		rows = append(rows, Row{Value: v, Views: n})
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Or(cmp.Compare(b.Views, a.Views), cmp.Compare(a.Value, b.Value)) })
	if len(rows) > top {
		for _, r := range rows[top:] {
			other += r.Views
		}
		rows = rows[:top]
	}
	if other > 0 {
		rows = append(rows, Row{Value: Other, Views: other})
	}
	return rows
}

// PathSeries returns the views of one path over q's range. The path is a value as
// reports show it: an allow-listed path, a pattern, or "(other)", which stands for
// every path shown as "(other)" in a report of the same range. Returns ErrNotFound
// when the path has fewer than K views in the range (so a rare page is not singled
// out), and ErrInvalid for a bad query.
func (s *Service) PathSeries(ctx context.Context, path string, q Query) (*PathReport, error) {
	if err := s.check(&q); err != nil {
		return nil, err
	}
	if err := checkValue(path); err != nil || path == "" {
		return nil, privacy.InvalidRule("path", "unknown", "is not a path a report shows")
	}
	counts, err := s.store.Counts(ctx, Paths, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("tracking: path series: %w", err)
	}
	totals := map[string]int64{}
	for _, c := range counts {
		totals[c.Value] += c.N
	}
	shown := func(v string) bool { return v != Other && totals[v] >= int64(s.k) }
	if path != Other && !shown(path) {
		return nil, privacy.Errorf(privacy.ErrNotFound, "no page with at least %d views in this range", s.k)
	}
	var mine []Count
	for _, c := range counts {
		if c.Value == path || path == Other && !shown(c.Value) {
			mine = append(mine, c)
		}
	}
	rep := &PathReport{Path: path, From: q.From, To: q.To, K: s.k}
	for _, c := range mine {
		rep.Views += c.N
	}
	rep.Step, rep.Series = series(mine, q.From, q.To)
	return rep, nil
}

// series buckets counts by the step that suits the range: hours up to two days, days
// up to about three months, months beyond; coarser if the range holds rolled-up
// counters, so no bucket is part-filled.
func series(counts []Count, from, to time.Time) (Period, []Point) {
	step := Month
	switch span := to.Sub(from); {
	case span <= 48*time.Hour:
		step = Hour
	case span <= 92*24*time.Hour:
		step = Day
	}
	for _, c := range counts {
		if c.Period.coarser(step) {
			step = c.Period
		}
	}
	byStart := map[time.Time]int64{}
	for _, c := range counts {
		byStart[step.Truncate(c.Start)] += c.N
	}
	points := []Point{}
	for t := step.Truncate(from); t.Before(to); t = step.Next(t) {
		points = append(points, Point{Start: t, Views: byStart[t]})
	}
	return step, points
}

// Maintenance is what one Maintain run did.
type Maintenance struct {
	RolledUp int `json:"rolled_up"` // counters merged into coarser ones
	Deleted  int `json:"deleted"`   // counters past retention
}

// Maintain rolls hourly counters older than HourlyFor into days and daily counters
// older than DailyFor into months, and deletes counters older than the retention
// period. It is safe to run from several processes at once. On a Store error it
// stops and returns what it did so far with the error; running it again finishes.
func (s *Service) Maintain(ctx context.Context, now time.Time) (Maintenance, error) {
	var m Maintenance
	n, err := s.store.Rollup(ctx, Hour, Day, Day.Truncate(now.Add(-s.hourlyFor)))
	m.RolledUp += n
	if err != nil {
		return m, fmt.Errorf("tracking: roll up hours: %w", err)
	}
	n, err = s.store.Rollup(ctx, Day, Month, Month.Truncate(now.Add(-s.dailyFor)))
	m.RolledUp += n
	if err != nil {
		return m, fmt.Errorf("tracking: roll up days: %w", err)
	}
	m.Deleted, err = s.store.DeleteBefore(ctx, now.UTC().AddDate(0, -s.retention, 0))
	if err != nil {
		return m, fmt.Errorf("tracking: delete expired counters: %w", err)
	}
	return m, nil
}
