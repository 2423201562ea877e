package bounce_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentkit/consentkit/privacy/bounce"
)

// FuzzParse: any input is read into a report or refused with ErrMalformed,
// never a panic. The seed corpus is testdata/fuzz/FuzzParse plus the samples.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/reports/*.eml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := bounce.Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, bounce.ErrMalformed) || rep != nil {
				t.Fatalf("Parse = %v, %v", rep, err)
			}
			return
		}
		if rep.Kind < bounce.Ignored || rep.Kind > bounce.Complaint || (rep.Status == "") == (rep.Feedback == "") {
			t.Fatalf("Parse = %+v", rep)
		}
	})
}
