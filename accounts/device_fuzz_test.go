package accounts_test

import (
	"strings"
	"testing"

	"github.com/consentkit/consentkit/accounts"
)

// FuzzDeviceLabel: whatever the user agent, the label is made only of words from
// the fixed lists, so nothing of the string itself is kept.
func FuzzDeviceLabel(f *testing.F) {
	for _, s := range []string{"", "curl/8", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Safari/604.1", "Edg/ opr/ CrOS android"} {
		f.Add(s)
	}
	words := map[string]bool{"on": true, "a": true, "browser": true}
	for _, w := range []string{"Edge", "Opera", "Firefox", "Chrome", "Safari", "Android", "iOS", "Windows", "ChromeOS", "macOS", "Linux"} {
		words[w] = true
	}
	f.Fuzz(func(t *testing.T, ua string) {
		label := accounts.DeviceLabel(ua)
		if len(label) > 40 {
			t.Fatalf("label %q is longer than any the lists make", label)
		}
		for _, w := range strings.Fields(label) {
			if !words[w] {
				t.Fatalf("label %q of %q holds %q, not from the lists", label, ua, w)
			}
		}
	})
}

// FuzzSignInWithCode: no challenge and no code, however malformed, panics or signs
// in.
func FuzzSignInWithCode(f *testing.F) {
	e := newEnv(f)
	e.member("fuzz@example.org", "correct horse")
	_, me := e.signIn("fuzz@example.org", "correct horse")
	e.withTOTP(me)
	for _, s := range [][2]string{{"", ""}, {"x", "123456"}, {strings.Repeat("A", 43), "abcde-fghij"}, {strings.Repeat("A", 43), " 12 34 56 "}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, challenge, code string) {
		if in, err := e.svc.SignInWithCode(t.Context(), challenge, code); err == nil {
			t.Fatalf("signed in with challenge %q and code %q: %+v", challenge, code, in)
		}
	})
}
