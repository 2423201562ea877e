package tracking

import (
	"context"
	"fmt"
	"time"
)

// A Preset names a range relative to today (UTC), as the report page offers it.
type Preset string

// The presets, in the order the report page shows them.
const (
	PresetToday    Preset = "today" // today so far
	Preset7Days    Preset = "7d"    // the last 7 days, today included
	Preset30Days   Preset = "30d"   // the last 30 days, today included; the default range
	Preset12Months Preset = "12m"   // this month so far and the 11 whole months before it
)

// Presets returns every preset, in a fixed order.
func Presets() []Preset { return []Preset{PresetToday, Preset7Days, Preset30Days, Preset12Months} }

// Range returns the preset's range at now: [from, to), to being the start of
// tomorrow. ok is false for an unknown preset.
func (p Preset) Range(now time.Time) (from, to time.Time, ok bool) {
	today := Day.Truncate(now)
	to = today.AddDate(0, 0, 1)
	switch p {
	case PresetToday:
		return today, to, true
	case Preset7Days:
		return today.AddDate(0, 0, -6), to, true
	case Preset30Days:
		return today.AddDate(0, 0, -29), to, true
	case Preset12Months:
		// Whole months: a range of this length is charted and kept by the month.
		return Month.Truncate(today).AddDate(0, -11, 0), to, true
	}
	return time.Time{}, time.Time{}, false
}

// PreviousRange returns the period of the same length that ends where [from, to)
// starts. A range charted by the month (over 92 days) that starts on the first of a
// month is shifted by whole months, since older counters are kept per month: the 12
// months of Preset12Months are compared with the 12 before them. Any other range is
// shifted by its own length.
func PreviousRange(from, to time.Time) (time.Time, time.Time) {
	from, to = from.UTC(), to.UTC()
	if to.Sub(from) > 92*24*time.Hour && Month.Truncate(from).Equal(from) {
		last := Month.Truncate(to.Add(-time.Nanosecond))
		months := (last.Year()-from.Year())*12 + int(last.Month()-from.Month()) + 1
		return from.AddDate(0, -months, 0), from
	}
	return from.Add(-to.Sub(from)), from
}

// Comparison is a Report beside the period of the same length just before it
// (PreviousRange). Each row of the report carries the same value's views in the
// previous period, under the same rule as the report: a value shown by name whose
// previous views are fewer than K is not given a number (Hidden), and those views
// count in the previous figure of "(other)", so no rare value can be worked out
// from the others.
type Comparison struct {
	Report       *Report    `json:"report"`
	PreviousFrom time.Time  `json:"previous_from"`
	PreviousTo   time.Time  `json:"previous_to"`
	Views        Compared   `json:"views"` // every page view; its Value is ""
	Paths        []Compared `json:"paths"`
	Domains      []Compared `json:"domains"`
	Browsers     []Compared `json:"browsers"`
	MIMETypes    []Compared `json:"mime_types"`
}

// Compared is one value's views in a report's range and in the period before.
type Compared struct {
	Value    string `json:"value"`
	Views    int64  `json:"views"`
	Previous int64  `json:"previous"`                  // 0 when Hidden
	Hidden   bool   `json:"previous_hidden,omitempty"` // the previous views were 1 to K-1
}

// Change returns the change from the previous period in whole per cent, rounded
// half away from zero. ok is false when there is nothing to compare with: the
// previous views are hidden or 0.
func (c Compared) Change() (pct int64, ok bool) {
	if c.Hidden || c.Previous <= 0 {
		return 0, false
	}
	d := (c.Views - c.Previous) * 100
	if d < 0 {
		return -((-d*2 + c.Previous) / (2 * c.Previous)), true
	}
	return (d*2 + c.Previous) / (2 * c.Previous), true
}

// Compare returns the report of q's range compared with the period before it.
// Returns ErrInvalid naming "from", "to" or "top" for a bad query.
func (s *Service) Compare(ctx context.Context, q Query) (*Comparison, error) {
	rep, err := s.Report(ctx, q)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Report: rep}
	c.PreviousFrom, c.PreviousTo = PreviousRange(rep.From, rep.To)
	prev := map[Dimension]map[string]int64{}
	for _, d := range []Dimension{Paths, Domains, Browsers, MIMETypes} {
		counts, err := s.store.Counts(ctx, d, c.PreviousFrom, c.PreviousTo)
		if err != nil {
			return nil, fmt.Errorf("tracking: compare %s: %w", d, err)
		}
		t := map[string]int64{}
		for _, n := range counts {
			t[n.Value] += n.N
		}
		prev[d] = t
	}
	c.Views = Compared{Views: rep.Views}
	for _, n := range prev[Paths] {
		c.Views.Previous += n
	}
	c.Paths = s.compared(rep.Paths, prev[Paths])
	c.Domains = s.compared(rep.Domains, prev[Domains])
	c.Browsers = s.compared(rep.Browsers, prev[Browsers])
	c.MIMETypes = s.compared(rep.MIMETypes, prev[MIMETypes])
	return c, nil
}

// compared gives each row its previous views. "(other)" gets every previous view
// not given by name, whether its value is hidden, not shown now or gone; it is
// added, with no views now, when it has any.
func (s *Service) compared(rows []Row, prev map[string]int64) []Compared {
	out := make([]Compared, 0, len(rows)+1)
	var total, named int64
	for _, n := range prev {
		total += n
	}
	other := -1
	for _, r := range rows {
		c := Compared{Value: r.Value, Views: r.Views}
		if r.Value == Other {
			other = len(out)
		} else if p := prev[r.Value]; p >= int64(s.k) {
			c.Previous = p
			named += p
		} else {
			c.Hidden = p > 0
		}
		out = append(out, c)
	}
	if rest := total - named; other >= 0 {
		out[other].Previous = rest
	} else if rest > 0 {
		out = append(out, Compared{Value: Other, Previous: rest})
	}
	return out
}
