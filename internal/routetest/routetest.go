// Package routetest finds the routes a package registers on an http.ServeMux, so a
// test can prove it exercised every one of them: a route added later, and not added
// to the test's table, fails the test instead of escaping it (P11: every staff read
// is audited, including the next one written).
package routetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pattern is a ServeMux pattern with a method, as the handlers in this module
// register every route.
var pattern = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE) /\S*$`)

// Patterns returns, sorted and without repeats, every string literal in the
// package in dir (its non-test Go files) that is a ServeMux pattern with a method,
// such as "GET /requests/{ref}". It fails tb when the package cannot be parsed or
// registers no such pattern.
func Patterns(tb testing.TB, dir string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		tb.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			tb.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && pattern.MatchString(s) {
				out = append(out, s)
			}
			return true
		})
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		tb.Fatalf("routetest: no route pattern in %s", dir)
	}
	return out
}

// Covered fails tb for every route the package in dir registers that is in
// neither public nor staff, and for every entry of either that names no route:
// the test holding the tables then speaks for every route, no more and no fewer.
func Covered(tb testing.TB, dir string, public, staff []string) {
	tb.Helper()
	routes := Patterns(tb, dir)
	for _, r := range routes {
		if !slices.Contains(public, r) && !slices.Contains(staff, r) {
			tb.Errorf("route %q is neither listed as public nor tested as a staff route", r)
		}
	}
	for _, r := range append(slices.Clone(public), staff...) {
		if !slices.Contains(routes, r) {
			tb.Errorf("route %q is listed but not registered (routes: %q)", r, routes)
		}
	}
}
