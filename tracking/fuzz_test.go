package tracking_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
)

// storable reports whether v is a value a Store accepts.
func storable(dim tracking.Dimension, v string) error {
	return tracking.Count{Dim: dim, Period: tracking.Day, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Value: v, N: 1}.Validate()
}

// FuzzClassify: any user agent yields a bot, "(unknown)", or a known family with at
// most a small major version — never any part of the string itself.
func FuzzClassify(f *testing.F) {
	f.Add(firefox)
	f.Add(googlebot)
	c := tracking.NewClassifier()
	f.Fuzz(func(t *testing.T, ua string) {
		browser, bot := c.Classify(ua)
		if bot {
			if browser != "" {
				t.Fatalf("bot with browser %q", browser)
			}
			return
		}
		if err := storable(tracking.Browsers, browser); err != nil {
			t.Fatalf("browser %q not storable: %v", browser, err)
		}
		if browser != tracking.Unknown {
			// A family of at most 48 bytes, then at most a version of up to 4 digits.
			family, v, _ := strings.Cut(browser[min(len(browser), 1):], " ")
			if i := strings.LastIndexByte(browser, ' '); i > 0 && strings.Trim(browser[i+1:], "0123456789") == "" {
				family, v = browser[:i], browser[i+1:]
			} else {
				family, v = browser, ""
			}
			if len(family) > 48 || len(v) > 4 {
				t.Fatalf("browser %q is not a family and version", browser)
			}
		}
		if b2, bot2 := c.Classify(ua); b2 != browser || bot2 != bot {
			t.Fatalf("classify not stable: %q,%v then %q,%v", browser, bot, b2, bot2)
		}
	})
}

var fuzzPaths = []string{"/", "/about", "/blog/{slug}", "/blog/{slug}/comments", "/docs/{rest...}", "/ü/{x}"}

// FuzzPathMatch: any request path (and mux pattern) counts as a configured path, a
// storable mux pattern, or "(other)": visitors cannot add values.
func FuzzPathMatch(f *testing.F) {
	f.Add("/blog/x", "")
	f.Add("/x?y", "GET /x/{id}")
	m, err := tracking.NewPathMatcher(fuzzPaths, true)
	if err != nil {
		f.Fatal(err)
	}
	noMux, err := tracking.NewPathMatcher(fuzzPaths, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, mux string) {
		got := noMux.Match(path, mux)
		if got != tracking.Other && !containsString(fuzzPaths, got) {
			t.Fatalf("path %q counted as %q, which is not configured", path, got)
		}
		got = m.Match(path, mux)
		if err := storable(tracking.Paths, got); err != nil {
			t.Fatalf("path %q mux %q counted as unstorable %q: %v", path, mux, got, err)
		}
		if got != tracking.Other && !containsString(fuzzPaths, got) && !strings.Contains(mux, got) {
			t.Fatalf("path %q mux %q counted as %q, from neither", path, mux, got)
		}
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzRegistrableDomain: any name from reverse DNS yields nothing or a lower-case
// registrable domain that reduces to itself.
func FuzzRegistrableDomain(f *testing.F) {
	f.Add("host.example.co.uk.")
	f.Fuzz(func(t *testing.T, name string) {
		d, ok := tracking.RegistrableDomain(name)
		if !ok {
			if d != "" {
				t.Fatalf("not ok but %q", d)
			}
			return
		}
		if err := storable(tracking.Domains, d); err != nil {
			t.Fatalf("%q -> unstorable %q: %v", name, d, err)
		}
		if d != strings.ToLower(d) || !strings.Contains(d, ".") || !utf8.ValidString(d) {
			t.Fatalf("%q -> %q", name, d)
		}
		if again, ok := tracking.RegistrableDomain(d); !ok || again != d {
			t.Fatalf("%q -> %q -> %q, %v", name, d, again, ok)
		}
		if !strings.HasSuffix(strings.TrimSuffix(strings.ToLower(name), "."), d) {
			t.Fatalf("%q -> %q, not a suffix of it", name, d)
		}
	})
}

// FuzzReportQuery: any query string gets a report or a 4xx, never a 500 or a panic,
// on every report route, the CSV and the comparison included.
func FuzzReportQuery(f *testing.F) {
	f.Add("from=2025-01-01&to=2025-01-31&top=5")
	f.Add("path=%2F&from=2025-01-01")
	f.Add("range=12m&top=3")
	f.Add("range=today&path=%2F")
	f.Add("from=0001-01-01&to=0001-01-02")
	store := memstore.New()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	_ = store.Add(context.Background(), tracking.NewKey(), []tracking.Count{
		{Dim: tracking.Paths, Period: tracking.Hour, Start: now.Add(-time.Hour).Truncate(time.Hour), Value: "/", N: 9},
		{Dim: tracking.Domains, Period: tracking.Day, Start: tracking.Day.Truncate(now), Value: "example.net", N: 9},
	})
	svc, err := tracking.New(tracking.Config{Store: store, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	h, err := tracking.NewHandler(svc, tracking.HandlerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		for _, route := range []string{"/", "/page", "/export.csv", "/api/report", "/api/compare", "/api/page"} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL.Path, r.URL.RawQuery = route, query
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK && w.Code != http.StatusBadRequest && w.Code != http.StatusNotFound {
				t.Fatalf("%s?%s: status %d: %s", route, query, w.Code, w.Body)
			}
		}
	})
}
