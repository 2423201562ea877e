package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/consentkit/consentkit/privacy"
)

// TestPasskeyInBrowser, in a real browser with Chromium's virtual authenticator
// (a platform one that keeps discoverable credentials and verifies its user): a
// member adds a passkey in the member area; with codes turned on, signs in with
// the password and the passkey in place of a code; signs out, and signs in with
// the passkey alone, no address or password typed; later, past the step-up window,
// removing it asks for a fresh proof, which the passkey gives. No response sets
// a cookie and the tab keeps nothing but its session.
func TestPasskeyInBrowser(t *testing.T) {
	clk := &siteClock{t: time.Now().UTC().Truncate(time.Second)}
	s, base := startSiteAt(t, config{FormMinAge: time.Millisecond, now: clk.Now}, "localhost")
	const email, password = "passkey@example.org", "correct horse battery"
	newMember(t, s, email, password)
	b := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("webauthn domain: %v", err)
	}
	auth, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}

	b.do(t, "sign in with the password",
		chromedp.Navigate(base+"/accounts/signin"),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Submit(css(`main form`)),
		chromedp.WaitVisible(css(`#passkey-add button`)))
	b.do(t, "add a passkey",
		chromedp.SendKeys(css(`#passkey-name`), "Test laptop"),
		chromedp.Click(css(`#passkey-add button[type=submit]`)),
		chromedp.WaitVisible(css(`#passkeys li`)))
	if got := b.text(t, "#passkeys li"); !strings.Contains(got, "Test laptop") || !strings.Contains(got, "not used yet") {
		t.Fatalf("the passkey reads %q", got)
	}
	creds, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %+v, want one discoverable credential for localhost", creds.Credentials)
	}

	// With codes on, the passkey takes the code's place after the password.
	b.do(t, "turn codes on", chromedp.Click(css(`#totp-start`)), chromedp.WaitVisible(css(`#totp-confirm`)))
	secret := b.text(t, "#totp-secret")
	code, err := totp.GenerateCode(secret, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "confirm codes",
		chromedp.SendKeys(css(`#totp-code`), code),
		chromedp.Click(css(`#totp-confirm button[type=submit]`)),
		chromedp.WaitVisible(css(`#totp-on`)))
	b.do(t, "password, then the passkey in place of a code",
		chromedp.Click(css(`#signout`)),
		chromedp.WaitVisible(css(`nav .signed-out`)),
		chromedp.Navigate(base+"/accounts/signin"),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Submit(css(`main form`)),
		chromedp.WaitVisible(css(`[data-passkey-second] button`)),
		loaded,
		chromedp.Click(css(`[data-passkey-second] button`)),
		chromedp.WaitVisible(css(`#totp-on`)))

	b.do(t, "sign out",
		chromedp.Click(css(`#signout`)),
		chromedp.WaitVisible(css(`nav .signed-out`)))
	b.do(t, "sign in with the passkey alone",
		chromedp.Navigate(base+"/accounts/signin"),
		chromedp.WaitVisible(css(`[data-passkey-signin] button`)),
		chromedp.Click(css(`[data-passkey-signin] button`)),
		chromedp.WaitVisible(css(`#passkey-add button`)))
	b.waitText(t, "#me", "Signed in as Two")
	b.waitText(t, "#passkeys li", "last used")
	if got := exported(t, s, email); !strings.Contains(got, `"name":"Test laptop"`) || !strings.Contains(got, `"last_used"`) ||
		strings.Contains(got, "publicKey") || strings.Contains(got, "credential") {
		t.Fatalf("the export of passkeys reads %s", got)
	}

	clk.Advance(10 * time.Minute) // past the step-up window of the sign-in
	b.expect(403, "/accounts/me/passkeys/")
	b.do(t, "remove, asked to confirm",
		chromedp.Click(css(`#passkeys li button`)),
		chromedp.WaitVisible(css(`#step-up-passkey`)))
	b.do(t, "confirm with the passkey",
		chromedp.Click(css(`#step-up-passkey`)),
		chromedp.WaitNotPresent(css(`#passkeys li`)))
	b.waitText(t, "#passkey-add .status", "removed")
	if got := exported(t, s, email); !strings.Contains(got, `"passkeys":[]`) {
		t.Fatalf("after removal the export reads %s", got)
	}
	left, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.cookie.length`))
	if err != nil || left != 0 {
		t.Fatalf("document.cookie holds %d characters (%v)", left, err)
	}
	b.check(t)
}

// exported returns the accounts holder's export about email, in JSON.
func exported(t *testing.T, s *Site, email string) string {
	t.Helper()
	out, err := s.accounts.Holder().(privacy.Exporter).Export(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
