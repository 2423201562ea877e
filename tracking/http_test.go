package tracking_test

import (
	"encoding/json"
	"flag"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
)

var update = flag.Bool("update", false, "rewrite golden files")

// reportSite is a handler over May 2025's counts, seen on June 1.
func reportSite(t *testing.T, cfg tracking.HandlerConfig) http.Handler {
	t.Helper()
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	svc, store := newService(t, tracking.Config{Now: func() time.Time { return now }})
	views(t, store, tracking.Paths, "/five", may1, 5)
	views(t, store, tracking.Paths, "/four", may1.AddDate(0, 0, 2), 4)
	views(t, store, tracking.Paths, "/blog/{slug}", may1.AddDate(0, 0, 5), 12)
	views(t, store, tracking.Domains, "example.net", may1, 14)
	views(t, store, tracking.Domains, "rare-company.example", may1.AddDate(0, 0, 3), 4)
	views(t, store, tracking.Domains, tracking.Unresolved, may1, 3)
	views(t, store, tracking.Browsers, "Firefox 128", may1, 11)
	views(t, store, tracking.Browsers, "Chrome 124", may1, 10)
	views(t, store, tracking.MIMETypes, "text/html", may1, 21)
	require.NoError(t, store.Add(ctx, tracking.NewKey(), []tracking.Count{{Dim: tracking.Bots, Period: tracking.Day, Start: may1, N: 99}}))
	h, err := tracking.NewHandler(svc, cfg)
	require.NoError(t, err)
	return h
}

func do(h http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func TestHandlerJSON(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	w := do(h, http.MethodGet, "/api/report?from=2025-05-01&to=2025-05-31&top=10")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Empty(t, w.Header().Values("Set-Cookie"))
	var rep tracking.Report
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep))
	assert.Equal(t, int64(21), rep.Views)
	assert.Equal(t, int64(99), rep.Bots)
	assert.Equal(t, []tracking.Row{{Value: "/blog/{slug}", Views: 12}, {Value: "/five", Views: 5}, {Value: tracking.Other, Views: 4}}, rep.Paths)
	assert.Equal(t, []tracking.Row{{Value: "example.net", Views: 14}, {Value: tracking.Other, Views: 7}}, rep.Domains,
		"4 views from a rare domain and 3 unresolved are (other)")
	assert.Len(t, rep.Series, 31)
	assert.NotContains(t, w.Body.String(), "rare-company")

	w = do(h, http.MethodGet, "/api/page?path=%2Ffive&from=2025-05-01&to=2025-05-01")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var pr tracking.PathReport
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pr))
	assert.Equal(t, "/five", pr.Path)
	assert.Equal(t, tracking.Hour, pr.Step)
	assert.Equal(t, int64(5), pr.Views)

	w = do(h, http.MethodGet, "/api/page?path=%2Ffour&from=2025-05-01&to=2025-05-31")
	assert.Equal(t, http.StatusNotFound, w.Code, "a path under k is not shown")
	var eb web.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
	assert.Contains(t, eb.Error.Message, "at least 5 views")

	// The default range is the 30 days up to today.
	w = do(h, http.MethodGet, "/api/report")
	require.Equal(t, http.StatusOK, w.Code)
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep))
	assert.Equal(t, time.Date(2025, 5, 3, 0, 0, 0, 0, time.UTC), rep.From)
	assert.Equal(t, time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC), rep.To)
}

func TestHandlerBadInput(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	for _, tc := range []struct {
		name, query, field string
	}{
		{"ErrFromNotADate", "from=2025-13-01", "from"},
		{"ErrToNotADate", "to=31.05.2025", "to"},
		{"ErrToBeforeFrom", "from=2025-05-10&to=2025-05-01", "to"},
		{"ErrSpanTooLong", "from=2020-01-01&to=2025-05-01", "from"},
		{"ErrTopZero", "top=0", "top"},
		{"ErrTopNotANumber", "top=ten", "top"},
		{"ErrTopHuge", "top=99999999999999999999999", "top"},
		{"ErrFromTwice", "from=2025-05-01&from=2025-05-02", "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, http.MethodGet, "/api/report?"+tc.query)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			var eb web.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
			assert.Equal(t, tc.field, eb.Error.Field)
			assert.NotEmpty(t, eb.Error.Message)

			w = do(h, http.MethodGet, "/?"+tc.query)
			require.Equal(t, http.StatusBadRequest, w.Code)
			body := w.Body.String()
			assert.Contains(t, body, `id="tracking-`+tc.field+`-error"`, "the message sits beside the field")
			assert.Contains(t, body, `aria-describedby="tracking-`+tc.field+`-error"`)
			if v := firstValue(tc.query, tc.field); v != "" && !strings.Contains(tc.name, "Twice") {
				assert.Contains(t, body, `value="`+template.HTMLEscapeString(v)+`"`, "what was typed is kept")
			}
			assert.Empty(t, w.Header().Values("Set-Cookie"))
		})
	}
	t.Run("ErrPathRequired", func(t *testing.T) {
		w := do(h, http.MethodGet, "/api/page?from=2025-05-01")
		require.Equal(t, http.StatusBadRequest, w.Code)
		var eb web.ErrorBody
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
		assert.Equal(t, "path", eb.Error.Field)
	})
}

func firstValue(query, field string) string {
	v, _ := url.ParseQuery(query)
	return v.Get(field)
}

func TestHandlerMethodsAndRoutes(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	for _, target := range []string{"/", "/page?path=%2F", "/api/report", "/api/page?path=%2F"} {
		w := do(h, http.MethodPost, target)
		assert.Equal(t, http.StatusMethodNotAllowed, w.Code, target)
		assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
	}
	w := do(h, http.MethodPost, "/api/report")
	var eb web.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
	assert.Equal(t, http.StatusMethodNotAllowed, eb.Error.Status)

	assert.Equal(t, http.StatusOK, do(h, http.MethodHead, "/").Code)
	assert.Equal(t, http.StatusNotFound, do(h, http.MethodGet, "/admin").Code)
	assert.Equal(t, http.StatusNotFound, do(h, http.MethodGet, "/page?path=%2Ffour&from=2025-05-01&to=2025-05-31").Code)
}

func TestHandlerPage(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	w := do(h, http.MethodGet, "/?from=2025-05-01&to=2025-05-31")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Empty(t, w.Header().Values("Set-Cookie"))
	assert.Contains(t, body, `<svg`)
	assert.Contains(t, body, `role="img"`)
	assert.Equal(t, 5, strings.Count(body, "<svg"), "a series and four dimensions")
	assert.NotContains(t, body, "<script")
	assert.NotContains(t, body, "style=", "no inline style: the host's CSP stays strict")
	assert.Contains(t, body, "example.net")
	assert.NotContains(t, body, "rare-company", "a domain seen 4 times is not shown")
	assert.Contains(t, body, `href="/stats/page?path=%2fblog%2f%7bslug%7d&amp;from=2025-05-01&amp;to=2025-05-31"`, "links under BaseURL")
	golden(t, "report.golden.html", body)

	w = do(h, http.MethodGet, "/page?path=%2Fblog%2F%7Bslug%7D&from=2025-05-01&to=2025-05-31")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "<strong>12</strong> views of <code>/blog/{slug}</code>")
	assert.Contains(t, w.Body.String(), `href="/stats/?from=2025-05-01&amp;to=2025-05-31"`)
	assert.Contains(t, w.Body.String(), `<input type="hidden" name="path" value="/blog/{slug}">`)
}

// golden compares got with testdata/name; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got, "rendered page differs from %s (go test -update rewrites it)", path)
}

func TestHandlerUnderPrefixWithLayout(t *testing.T) {
	var titles []string
	layout := func(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
		titles = append(titles, title)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<host-page>" + string(body) + "</host-page>"))
	}
	mux := http.NewServeMux()
	mux.Handle("/reports/", http.StripPrefix("/reports", reportSite(t, tracking.HandlerConfig{Layout: layout, BaseURL: "/reports"})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/reports/?from=2025-05-01&to=2025-05-31")
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "<host-page>"), "the host's layout wraps the page")
	href := regexp.MustCompile(`href="(/reports/page\?[^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, href)
	link, err := url.Parse(srv.URL + "/reports/")
	require.NoError(t, err)
	next, err := link.Parse(template.HTMLEscapeString(strings.ReplaceAll(href[1], "&amp;", "&")))
	require.NoError(t, err)
	assert.Equal(t, "/reports/page", next.Path, "links stay under the prefix")
	resp, err = srv.Client().Get(next.String())
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"Page views", "Views of /blog/{slug}"}, titles)

	resp, err = srv.Client().Get(srv.URL + "/reports/api/report?from=2025-05-01&to=2025-05-31")
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	return string(b)
}

func TestHandlerRole(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{Role: privacy.RoleAdmin})
	for _, tc := range []struct {
		name  string
		actor privacy.Actor
		want  int
	}{
		{"ErrAnonymous", privacy.Actor{}, http.StatusUnauthorized},
		{"ErrWrongRole", privacy.Actor{ID: "a1", Roles: []privacy.Role{privacy.RoleEditor}}, http.StatusForbidden},
		{"OK", privacy.Actor{ID: "a2", Roles: []privacy.Role{privacy.RoleAdmin}}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []string{"/", "/api/report"} {
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r = r.WithContext(privacy.WithActor(r.Context(), tc.actor))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				assert.Equal(t, tc.want, w.Code, target)
				if tc.want != http.StatusOK {
					assert.NotContains(t, w.Body.String(), "example.net", "no figures before the role check")
				}
			}
		})
	}
}

func TestHandlerEveryFaultAtOnce(t *testing.T) {
	h := reportSite(t, tracking.HandlerConfig{})
	w := do(h, http.MethodGet, "/?from=x&to=2025-05-01&to=2025-05-02&top=0")
	require.Equal(t, http.StatusBadRequest, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `<strong id="tracking-from-error" class="tracking-error">From must be a date like 2025-06-01</strong>`)
	assert.Contains(t, body, `<strong id="tracking-to-error" class="tracking-error">To was given more than once</strong>`)
	assert.Contains(t, body, `<strong id="tracking-top-error" class="tracking-error">Values shown per list must be a number from 1 to 100</strong>`)
	assert.Contains(t, body, `role="alert">From must be a date like 2025-06-01<br>`+"\n"+`To was given more than once<br>`, "the summary lists them in the form's order")

	w = do(h, http.MethodGet, "/api/report?from=x&to=2025-05-01&to=2025-05-02&top=0")
	require.Equal(t, http.StatusBadRequest, w.Code)
	var eb web.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
	assert.Equal(t, "from", eb.Error.Field, "JSON names the first")
}
