package proof_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
)

// TestLargestPhoto uploads the costliest photo the site accepts: 6300 x 6300
// pixels, inside its 40-megapixel limit, of 16-bit RGBA (317 MB once decoded) in
// a file of 300 KB. Decoding a photo must fit the server's memory budget, 64 MiB
// a photo (twice that for the garbage collector), or be refused with a 400.
func TestLargestPhoto(t *testing.T) {
	endToEnd(t)
	dsn := mysqltest.NewDSN(t)
	importAccounts(t, dsn, "member@example.org")
	site := startSite(t, siteOptions{DSN: dsn})
	token := signIn(t, site.Base, "member@example.org")
	data, err := os.ReadFile(filepath.Join("testdata/hostile/images", inLimitBomb))
	require.NoError(t, err)
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	p, _ := w.CreateFormFile("file", inLimitBomb)
	p.Write(data)
	w.Close()
	hwm0 := memory(t, site.PID(), "VmHWM")
	start := time.Now()
	a := do(newClient(2*time.Minute), request{Method: "POST", URL: site.Base + "/accounts/me/resources", Body: &b,
		ContentType: w.FormDataContentType(), Token: token, Accept: "application/json"})
	took := time.Since(start)
	hwm1 := memory(t, site.PID(), "VmHWM")
	require.NoError(t, a.Err)
	t.Logf("answered %d in %s; VmHWM %d -> %d KiB (+%d MiB) (load %s)", a.Status, took.Round(time.Millisecond), hwm0, hwm1, (hwm1-hwm0)>>10, loadavg())
	assert.Contains(t, []int{http.StatusCreated, http.StatusBadRequest}, a.Status, a.String())
	assert.LessOrEqual(t, hwm1-hwm0, int64(128<<10), "one photo's decoding costs at most 128 MiB")
}
