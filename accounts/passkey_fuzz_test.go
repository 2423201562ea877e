package accounts_test

import (
	"errors"
	"testing"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// FuzzSignInWithPasskey sends any answer to a real sign-in ceremony: none signs
// in or panics, and the ceremony is used up by the try, so a second answer to
// it is refused whatever it holds.
func FuzzSignInWithPasskey(f *testing.F) {
	e := newEnv(f, func(c *accounts.Config) {
		c.PasskeyRPID, c.PasskeyOrigins = "localhost", []string{"http://localhost:8080"}
	})
	e.member("fuzz-key@example.org", "correct horse")
	for _, s := range []string{"", "{}", "null", `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AAAA"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, credential string) {
		start, err := e.svc.BeginPasskeySignIn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if in, err := e.svc.SignInWithPasskey(t.Context(), start.Ceremony, credential); err == nil {
			t.Fatalf("signed in with %q: %+v", credential, in)
		}
		if _, err := e.svc.SignInWithPasskey(t.Context(), start.Ceremony, credential); !errors.Is(err, privacy.ErrUnauthorized) {
			t.Fatalf("a used ceremony answered %v, want ErrUnauthorized", err)
		}
	})
}
