package web_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func TestFieldErrors(t *testing.T) {
	label := func(f string) string { return map[string]string{"name": "Name", "email": "Email"}[f] }
	err := errors.Join(
		privacy.CheckText("name", "", 10, true),
		privacy.CheckText("name", "far too long a name", 10, true),
		privacy.Invalid("email", "this is not an email address"),
		privacy.CheckText("ts", "", 10, true),
		fmt.Errorf("store: %w", errors.New("dial tcp: secret@example.org")),
	)
	got := web.FieldErrors(err, label)
	assert.Equal(t, []web.FieldError{
		{Field: "name", Code: "required", Text: "Name is required"},
		{Field: "name", Code: "too-long", Limit: 10, Text: "Name is longer than 10 characters"},
		{Field: "email", Text: "This is not an email address"},
		{Text: "The ts field is required"},
		{Text: "Internal error"},
	}, got)
	assert.Equal(t, map[string]string{"name": "Name is required", "email": "This is not an email address"}, web.ByField(got))
	assert.Nil(t, web.FieldErrors(nil, label))
}
