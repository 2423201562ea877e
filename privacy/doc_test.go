package privacy_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packageDoc returns the package comment of the doc.go in dir.
func packageDoc(t *testing.T, dir string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "doc.go"), nil, parser.PackageClauseOnly|parser.ParseComments)
	require.NoError(t, err)
	require.NotNil(t, f.Doc, "%s/doc.go has no package comment", dir)
	return f.Doc.Text()
}

var promiseRE = regexp.MustCompile(`\bP(\d+)\b`)

// The promises the code cites by number are stated in the kernel's package comment,
// and every capability's package comment names promises it keeps, all of them stated.
func TestPromisesStated(t *testing.T) {
	doc := packageDoc(t, ".")
	for i := 1; i <= 15; i++ {
		assert.Contains(t, doc, fmt.Sprintf("\n  - P%d: ", i), "privacy/doc.go states P%d", i)
	}
	for _, pkg := range []string{"accounts", "comments", "contact", "newsletter", "tracking"} {
		cited := promiseRE.FindAllStringSubmatch(packageDoc(t, filepath.Join("..", pkg)), -1)
		assert.NotEmpty(t, cited, "%s/doc.go names no promise", pkg)
		for _, m := range cited {
			assert.True(t, strings.Contains(doc, "\n  - P"+m[1]+": "), "%s/doc.go names P%s, which privacy/doc.go does not state", pkg, m[1])
		}
	}
}
