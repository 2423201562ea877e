package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/tracking"
)

// Run runs every conformance test; newStore returns a new, empty store.
func Run(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	t.Run("AddAndCounts", func(t *testing.T) { testAddAndCounts(t, newStore(t)) })
	t.Run("AddIsAdditive", func(t *testing.T) { testAdditive(t, newStore(t)) })
	t.Run("AddInvalid", func(t *testing.T) { testInvalid(t, newStore) })
	t.Run("AddOncePerKey", func(t *testing.T) { testKeys(t, newStore) })
	t.Run("ValuesKeptApart", func(t *testing.T) { testDistinct(t, newStore(t)) })
	t.Run("ConcurrentAdd", func(t *testing.T) { testConcurrentAdd(t, newStore(t)) })
	t.Run("Rollup", func(t *testing.T) { testRollup(t, newStore) })
	t.Run("ConcurrentRollup", func(t *testing.T) { testConcurrentRollup(t, newStore(t)) })
	t.Run("DeleteBefore", func(t *testing.T) { testDelete(t, newStore(t)) })
}

var (
	ctx = context.Background()
	day = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
)

func hour(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }

func c(dim tracking.Dimension, p tracking.Period, start time.Time, value string, n int64) tracking.Count {
	return tracking.Count{Dim: dim, Period: p, Start: start, Value: value, N: n}
}

// sum returns the total of dim over all time, and per value.
func sum(t *testing.T, s tracking.Store, dim tracking.Dimension) (int64, map[string]int64) {
	t.Helper()
	counts, err := s.Counts(ctx, dim, time.Time{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	var total int64
	by := map[string]int64{}
	for _, c := range counts {
		total += c.N
		by[c.Value] += c.N
	}
	return total, by
}

func testAddAndCounts(t *testing.T, s tracking.Store) {
	require.NoError(t, s.Add(ctx, tracking.NewKey(), nil), "an empty batch is a no-op")
	require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
		c(tracking.Paths, tracking.Hour, hour(1), "/b", 2),
		c(tracking.Paths, tracking.Hour, hour(1), "/a", 3),
		c(tracking.Paths, tracking.Hour, hour(0), "/a", 1),
		c(tracking.Paths, tracking.Day, day, "/a", 7),
		c(tracking.Paths, tracking.Hour, hour(24), "/a", 4), // the next day
		c(tracking.Domains, tracking.Day, day, "example.net", 5),
		c(tracking.Browsers, tracking.Day, day, "Firefox 128", 6),
		c(tracking.MIMETypes, tracking.Day, day, "text/html", 6),
		c(tracking.Bots, tracking.Day, day, "", 9),
	}))

	got, err := s.Counts(ctx, tracking.Paths, day, day.AddDate(0, 0, 1))
	require.NoError(t, err)
	want := []tracking.Count{
		c(tracking.Paths, tracking.Hour, hour(0), "/a", 1),
		c(tracking.Paths, tracking.Day, day, "/a", 7),
		c(tracking.Paths, tracking.Hour, hour(1), "/a", 3),
		c(tracking.Paths, tracking.Hour, hour(1), "/b", 2),
	}
	require.Equal(t, want, got, "ordered by start, then period, then value; the range's end excluded")

	got, err = s.Counts(ctx, tracking.Paths, hour(1), hour(2))
	require.NoError(t, err)
	assert.Len(t, got, 2, "the range's start is included")

	for _, tc := range []struct {
		dim   tracking.Dimension
		value string
		n     int64
	}{
		{tracking.Domains, "example.net", 5},
		{tracking.Browsers, "Firefox 128", 6},
		{tracking.MIMETypes, "text/html", 6},
		{tracking.Bots, "", 9},
	} {
		got, err := s.Counts(ctx, tc.dim, day, day.AddDate(0, 0, 1))
		require.NoError(t, err)
		require.Equal(t, []tracking.Count{c(tc.dim, tracking.Day, day, tc.value, tc.n)}, got, "dimension %s kept apart", tc.dim)
	}

	got, err = s.Counts(ctx, tracking.Domains, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2))
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = s.Counts(ctx, tracking.Dimension("ip"), day, day.AddDate(0, 0, 1))
	assert.ErrorIs(t, err, privacy.ErrInvalid)

	// A start in another time zone names the same instant.
	berlin := time.FixedZone("CET", 3600)
	require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{c(tracking.Paths, tracking.Hour, hour(5).In(berlin), "/z", 1)}))
	got, err = s.Counts(ctx, tracking.Paths, hour(5), hour(6))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.True(t, got[0].Start.Equal(hour(5)))
	assert.Equal(t, time.UTC, got[0].Start.Location(), "starts come back in UTC")
}

func testAdditive(t *testing.T, s tracking.Store) {
	for range 3 {
		require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
			c(tracking.Paths, tracking.Hour, hour(3), "/a", 2),
			c(tracking.Bots, tracking.Day, day, "", 1),
		}))
	}
	// The same counter twice in one batch adds both.
	require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
		c(tracking.Paths, tracking.Hour, hour(3), "/a", 10),
		c(tracking.Paths, tracking.Hour, hour(3), "/a", 100),
	}))
	n, _ := sum(t, s, tracking.Paths)
	assert.Equal(t, int64(116), n)
	n, _ = sum(t, s, tracking.Bots)
	assert.Equal(t, int64(3), n)

	require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{c(tracking.Paths, tracking.Hour, hour(3), "/a", 1<<40)}))
	n, _ = sum(t, s, tracking.Paths)
	assert.Equal(t, int64(116+1<<40), n, "counters are 64-bit")
}

func testInvalid(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	ok := c(tracking.Paths, tracking.Hour, hour(1), "/ok", 1)
	for _, tc := range []struct {
		name  string
		count tracking.Count
		field string
	}{
		{"ErrDimension", c("ip", tracking.Day, day, "x", 1), "dimension"},
		{"ErrPeriod", c(tracking.Paths, "week", day, "/a", 1), "period"},
		{"ErrStartNotOnHour", c(tracking.Paths, tracking.Hour, hour(1).Add(time.Minute), "/a", 1), "start"},
		{"ErrStartNotOnDay", c(tracking.Domains, tracking.Day, hour(1), "example.net", 1), "start"},
		{"ErrStartNotOnMonth", c(tracking.Domains, tracking.Month, day, "example.net", 1), "start"},
		{"ErrNegative", c(tracking.Paths, tracking.Hour, hour(1), "/a", -1), "n"},
		{"ErrBotsValue", c(tracking.Bots, tracking.Day, day, "Googlebot", 1), "value"},
		{"ErrValueRequired", c(tracking.Paths, tracking.Hour, hour(1), "", 1), "value"},
		{"ErrValueTooLong", c(tracking.Paths, tracking.Hour, hour(1), "/"+strings.Repeat("é", 255), 1), "value"},
		{"ErrValueNotUTF8", c(tracking.Paths, tracking.Hour, hour(1), "/\xff", 1), "value"},
		{"ErrValueControl", c(tracking.Paths, tracking.Hour, hour(1), "/a\nb", 1), "value"},
		{"ErrValueTrailingSpace", c(tracking.Domains, tracking.Day, day, "example.net ", 1), "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := s.Add(ctx, tracking.NewKey(), []tracking.Count{ok, tc.count})
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			n, _ := sum(t, s, tracking.Paths)
			assert.Zero(t, n, "a batch with an invalid count adds nothing")
		})
	}
}

func testKeys(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	a := []tracking.Count{c(tracking.Paths, tracking.Hour, hour(1), "/a", 3), c(tracking.Bots, tracking.Day, day, "", 1)}
	t.Run("SameKeyAddsOnce", func(t *testing.T) {
		s := newStore(t)
		key := tracking.NewKey()
		require.NoError(t, s.Add(ctx, key, a))
		require.NoError(t, s.Add(ctx, key, a), "a batch sent again is no error")
		require.NoError(t, s.Add(ctx, key, []tracking.Count{c(tracking.Paths, tracking.Hour, hour(1), "/b", 5)}),
			"the key names the batch, whatever it holds")
		_, paths := sum(t, s, tracking.Paths)
		assert.Equal(t, map[string]int64{"/a": 3}, paths)
		require.NoError(t, s.Add(ctx, tracking.NewKey(), a))
		_, paths = sum(t, s, tracking.Paths)
		assert.Equal(t, map[string]int64{"/a": 6}, paths, "another key adds again")
	})
	t.Run("RefusedBatchLeavesKeyFree", func(t *testing.T) {
		s := newStore(t)
		key := tracking.NewKey()
		require.ErrorIs(t, s.Add(ctx, key, []tracking.Count{c(tracking.Paths, "week", day, "/a", 1)}), privacy.ErrInvalid)
		require.NoError(t, s.Add(ctx, key, a))
		_, paths := sum(t, s, tracking.Paths)
		assert.Equal(t, map[string]int64{"/a": 3}, paths)
	})
	t.Run("SameKeyConcurrently", func(t *testing.T) {
		s := newStore(t)
		key := tracking.NewKey()
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() { errs <- addRetryingAs(s, key, a) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		_, paths := sum(t, s, tracking.Paths)
		assert.Equal(t, map[string]int64{"/a": 3}, paths)
	})
	for _, key := range []string{"", strings.Repeat("k", tracking.MaxKeyLen+1), "a b", "schlüssel", "a\x00"} {
		t.Run("ErrKey", func(t *testing.T) {
			s := newStore(t)
			err := s.Add(ctx, key, a)
			require.ErrorIs(t, err, privacy.ErrInvalid, "key %q", key)
			assert.Equal(t, "key", privacy.FieldOf(err))
			n, _ := sum(t, s, tracking.Paths)
			assert.Zero(t, n)
		})
	}
	require.NoError(t, tracking.CheckKey(strings.Repeat("k", tracking.MaxKeyLen)), "the longest key")
	require.NoError(t, tracking.CheckKey(tracking.NewKey()))
}

func testDistinct(t *testing.T, s tracking.Store) {
	long := "/" + strings.Repeat("ü", tracking.MaxValueLen-1)
	values := []string{"/a", "/A", "/é", "/e", "/a b", long, "/日本"}
	var batch []tracking.Count
	for i, v := range values {
		batch = append(batch, c(tracking.Paths, tracking.Hour, hour(2), v, int64(i+1)))
	}
	require.NoError(t, s.Add(ctx, tracking.NewKey(), batch))
	_, by := sum(t, s, tracking.Paths)
	require.Len(t, by, len(values), "no two values merged: %v", by)
	for i, v := range values {
		assert.Equal(t, int64(i+1), by[v], "value %q", v)
	}
}

func testConcurrentAdd(t *testing.T, s tracking.Store) {
	const workers, rounds = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				// Overlapping counters in every batch, in both orders.
				batch := []tracking.Count{
					c(tracking.Paths, tracking.Hour, hour(r%3), "/a", 1),
					c(tracking.Paths, tracking.Hour, hour(r%3), "/b", 2),
					c(tracking.Domains, tracking.Day, day, "example.net", 1),
					c(tracking.Bots, tracking.Day, day, "", 1),
				}
				if w%2 == 1 {
					batch[0], batch[1] = batch[1], batch[0]
				}
				if err := addRetrying(s, batch); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, paths := sum(t, s, tracking.Paths)
	assert.Equal(t, map[string]int64{"/a": workers * rounds, "/b": 2 * workers * rounds}, paths)
	n, _ := sum(t, s, tracking.Domains)
	assert.Equal(t, int64(workers*rounds), n)
	n, _ = sum(t, s, tracking.Bots)
	assert.Equal(t, int64(workers*rounds), n)
}

// addRetrying retries an Add the store refused as busy, as the Tracker's next flush
// would; a retried batch must not count twice.
func addRetrying(s tracking.Store, batch []tracking.Count) error {
	return addRetryingAs(s, tracking.NewKey(), batch)
}

func addRetryingAs(s tracking.Store, key string, batch []tracking.Count) error {
	for {
		err := s.Add(ctx, key, batch)
		if !errors.Is(err, privacy.ErrUnavailable) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testRollup(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	t.Run("HoursToDays", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
			c(tracking.Paths, tracking.Hour, hour(0), "/a", 1),
			c(tracking.Paths, tracking.Hour, hour(23), "/a", 2),
			c(tracking.Paths, tracking.Day, day, "/a", 10), // an earlier rollup's row
			c(tracking.Paths, tracking.Hour, hour(5), "/b", 4),
			c(tracking.Paths, tracking.Hour, hour(24), "/a", 8), // the next day stays hourly
			c(tracking.Domains, tracking.Day, day, "example.net", 3),
		}))
		n, err := s.Rollup(ctx, tracking.Hour, tracking.Day, day.AddDate(0, 0, 1))
		require.NoError(t, err)
		assert.Equal(t, 3, n, "three hourly counters merged away")

		got, err := s.Counts(ctx, tracking.Paths, day, day.AddDate(0, 0, 2))
		require.NoError(t, err)
		assert.Equal(t, []tracking.Count{
			c(tracking.Paths, tracking.Day, day, "/a", 13),
			c(tracking.Paths, tracking.Day, day, "/b", 4),
			c(tracking.Paths, tracking.Hour, hour(24), "/a", 8),
		}, got)
		got, err = s.Counts(ctx, tracking.Domains, day, day.AddDate(0, 0, 1))
		require.NoError(t, err)
		assert.Equal(t, []tracking.Count{c(tracking.Domains, tracking.Day, day, "example.net", 3)}, got, "daily counters are not hours")

		n, err = s.Rollup(ctx, tracking.Hour, tracking.Day, day.AddDate(0, 0, 1))
		require.NoError(t, err)
		assert.Zero(t, n, "a second rollup finds nothing")
	})

	t.Run("DaysToMonths", func(t *testing.T) {
		s := newStore(t)
		mar, apr := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
		require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
			c(tracking.Domains, tracking.Day, mar, "example.net", 1),
			c(tracking.Domains, tracking.Day, day, "example.net", 2),
			c(tracking.Domains, tracking.Day, time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), "example.org", 3),
			c(tracking.Bots, tracking.Day, day, "", 5),
			c(tracking.Bots, tracking.Day, apr, "", 7),
			c(tracking.Browsers, tracking.Day, apr, "Chrome 120", 1),
		}))
		n, err := s.Rollup(ctx, tracking.Day, tracking.Month, apr)
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		got, err := s.Counts(ctx, tracking.Domains, mar, apr.AddDate(0, 1, 0))
		require.NoError(t, err)
		assert.Equal(t, []tracking.Count{
			c(tracking.Domains, tracking.Month, mar, "example.net", 3),
			c(tracking.Domains, tracking.Month, mar, "example.org", 3),
		}, got)
		got, err = s.Counts(ctx, tracking.Bots, mar, apr.AddDate(0, 1, 0))
		require.NoError(t, err)
		assert.Equal(t, []tracking.Count{
			c(tracking.Bots, tracking.Month, mar, "", 5),
			c(tracking.Bots, tracking.Day, apr, "", 7),
		}, got)
	})

	for _, tc := range []struct {
		name     string
		from, to tracking.Period
		before   time.Time
		field    string
	}{
		{"ErrNotCoarser", tracking.Day, tracking.Hour, day, "to"},
		{"ErrSamePeriod", tracking.Day, tracking.Day, day, "to"},
		{"ErrUnknownPeriod", "week", tracking.Month, day, "from"},
		{"ErrBeforeNotOnBoundary", tracking.Hour, tracking.Day, hour(3), "before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{c(tracking.Paths, tracking.Hour, hour(1), "/a", 1)}))
			_, err := s.Rollup(ctx, tc.from, tc.to, tc.before)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			got, err := s.Counts(ctx, tracking.Paths, day, day.AddDate(0, 0, 1))
			require.NoError(t, err)
			assert.Equal(t, []tracking.Count{c(tracking.Paths, tracking.Hour, hour(1), "/a", 1)}, got, "nothing changed")
		})
	}
}

// testConcurrentRollup runs rollups from several goroutines (as several processes
// would) while counts keep arriving: no count is lost or doubled.
func testConcurrentRollup(t *testing.T, s tracking.Store) {
	var batch []tracking.Count
	for d := range 4 {
		for h := range 6 {
			batch = append(batch, c(tracking.Paths, tracking.Hour, hour(24*d+h), "/a", 1), c(tracking.Paths, tracking.Hour, hour(24*d+h), "/b", 2))
		}
	}
	require.NoError(t, s.Add(ctx, tracking.NewKey(), batch))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 3 {
		wg.Go(func() {
			_, err := s.Rollup(ctx, tracking.Hour, tracking.Day, day.AddDate(0, 0, 3))
			for errors.Is(err, privacy.ErrUnavailable) {
				_, err = s.Rollup(ctx, tracking.Hour, tracking.Day, day.AddDate(0, 0, 3))
			}
			errs <- err
		})
	}
	wg.Go(func() {
		for range 10 {
			errs <- addRetrying(s, []tracking.Count{c(tracking.Paths, tracking.Hour, hour(2), "/a", 1)})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, by := sum(t, s, tracking.Paths)
	assert.Equal(t, map[string]int64{"/a": 24 + 10, "/b": 48}, by)

	// Late counts for a rolled-up hour are rolled up by the next run.
	_, err := s.Rollup(ctx, tracking.Hour, tracking.Day, day.AddDate(0, 0, 3))
	require.NoError(t, err)
	_, by = sum(t, s, tracking.Paths)
	assert.Equal(t, map[string]int64{"/a": 24 + 10, "/b": 48}, by)
	got, err := s.Counts(ctx, tracking.Paths, day, day.AddDate(0, 0, 3))
	require.NoError(t, err)
	for _, x := range got {
		assert.Equal(t, tracking.Day, x.Period, "no hourly counter left before the cut: %+v", x)
	}
}

func testDelete(t *testing.T, s tracking.Store) {
	require.NoError(t, s.Add(ctx, tracking.NewKey(), []tracking.Count{
		c(tracking.Paths, tracking.Hour, hour(-1), "/old", 1),
		c(tracking.Paths, tracking.Hour, hour(0), "/kept", 1),
		c(tracking.Domains, tracking.Month, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), "example.net", 1),
		c(tracking.Browsers, tracking.Day, day.AddDate(0, 0, -1), "Firefox 1", 1),
		c(tracking.MIMETypes, tracking.Day, day, "text/html", 1),
		c(tracking.Bots, tracking.Day, day.AddDate(0, 0, -3), "", 1),
	}))
	n, err := s.DeleteBefore(ctx, day)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	for _, d := range tracking.Dimensions() {
		counts, err := s.Counts(ctx, d, time.Time{}, day.AddDate(1, 0, 0))
		require.NoError(t, err)
		for _, x := range counts {
			assert.False(t, x.Start.Before(day), "%s counter %+v outlived the cut", d, x)
		}
	}
	_, by := sum(t, s, tracking.Paths)
	assert.Equal(t, map[string]int64{"/kept": 1}, by)
	n, err = s.DeleteBefore(ctx, day)
	require.NoError(t, err)
	assert.Zero(t, n)
}
