package pseudotr_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"

	"github.com/consentkit/consentkit/internal/pseudotr"
)

func TestTranslate(t *testing.T) {
	got := pseudotr.Translate(t, fstest.MapFS{
		"page.html": {Data: []byte(`{{define "p"}}<p class="note">Sent &amp; {{.Name | printf "%s"}} kept</p>{{end}}`)},
		"mail.txt":  {Data: []byte(`{{define "m"}}Hello <{{.Email}}>{{end}}`)},
	})
	assert.Equal(t, `{{define "p"}}<p class="note">SENT &amp; {{.Name | printf "%s"}} KEPT</p>{{end}}`, string(got["page.html"]))
	assert.Equal(t, `{{define "m"}}HELLO <{{.Email}}>{{end}}`, string(got["mail.txt"]), "mail has no tags")
}

func TestLeftOnPage(t *testing.T) {
	page := `<!doctype html><title>TITLE</title><p class="lower">SENT by Ann <b>to you</b></p><svg><title>per day</title></svg>`
	assert.Equal(t, []string{"to", "you", "per", "day"}, pseudotr.LeftOnPage(t, page, []string{"by Ann"}))
	assert.Equal(t, []string{"left"}, pseudotr.Left("DATA left", nil))
}
