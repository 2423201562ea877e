package smtp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy/smtp"
)

// Audit #13 finding 13: an error quoted the whole URL, password included.
func TestParseURLErrorsHideThePassword(t *testing.T) {
	for _, bad := range []string{"smtp://user:hunter2@", "smtp://user:hunter2@mail.example.com:25x", "http://user:hunter2@mail.example.com",
		"smtp://user:hunter2@mail.example.com:99999999999999999999", "smtp://user:hunter2@[::1"} {
		_, err := smtp.ParseURL(bad)
		if assert.Error(t, err, bad) {
			assert.NotContains(t, err.Error(), "hunter2", bad)
			assert.Contains(t, err.Error(), "smtp url", bad)
		}
	}
}

func TestParseURL(t *testing.T) {
	cfg, err := smtp.ParseURL("smtp://user:p%40ss@mail.example.com:2525?tls=opportunistic")
	require.NoError(t, err)
	assert.Equal(t, smtp.Config{Host: "mail.example.com", Port: 2525, Username: "user", Password: "p@ss", TLS: "opportunistic"}, cfg)
	cfg, err = smtp.ParseURL("smtps://mail.example.com")
	require.NoError(t, err)
	assert.Equal(t, "implicit", cfg.TLS)
	for _, bad := range []string{"http://mail.example.com", "mail.example.com", "smtp://", "smtp://h:port"} {
		_, err := smtp.ParseURL(bad)
		assert.Error(t, err, bad)
	}
	_, err = smtp.New(smtp.Config{Host: "h", TLS: "sometimes"})
	assert.Error(t, err)
}
