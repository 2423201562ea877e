package privacy

import (
	"strings"
	"time"
)

// MinAge is the age below which a parent's consent is needed before any personal
// data is collected (COPPA, P5).
const MinAge = 13

// birthLayouts are the date-of-birth formats accepted by the neutral age screen: a
// free entry, so the form does not hint at the cutoff.
var birthLayouts = []string{"2006-01-02", "2006-1-2", "02/01/2006", "2/1/2006", "02.01.2006", "2.1.2006", "2 January 2006", "January 2 2006", "January 2, 2006"}

// ParseBirthDate reads a date of birth as typed in the age screen. Returns ErrInvalid
// naming the field "birth_date" for a date it cannot read or one in the future.
// Slash dates are read day first.
func ParseBirthDate(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, Invalid("birth_date", "enter your date of birth")
	}
	if len(s) > 40 {
		return time.Time{}, Invalid("birth_date", "enter a date such as 2001-04-30")
	}
	for _, l := range birthLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.After(now) || t.Year() < now.Year()-130 {
				return time.Time{}, Invalid("birth_date", "enter your real date of birth")
			}
			return t, nil
		}
	}
	return time.Time{}, Invalid("birth_date", "enter a date such as 2001-04-30")
}

// IsChild reports whether someone born on birth is younger than MinAge at now. Only
// this answer may be kept, never the date itself.
func IsChild(birth, now time.Time) bool {
	return now.Before(birth.AddDate(MinAge, 0, 0))
}
