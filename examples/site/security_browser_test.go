package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// siteClock is the accounts' clock in a browser test: TOTP codes and the step-up
// window follow it, so the test moves time instead of waiting for it.
type siteClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *siteClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *siteClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newMember registers and verifies a member through the service, for tests whose
// subject is what comes after.
func newMember(t *testing.T, s *Site, email, password string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.accounts.Register(ctx, accounts.RegisterInput{Email: email, Password: password, DisplayName: "Two", BirthDate: "1990-01-01"}); err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(mailLink(t, s.mailbox, email, "", "/accounts/verify"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.accounts.Verify(ctx, link.Query().Get("token"), password); err != nil {
		t.Fatal(err)
	}
}

// TestSecondFactorSessionsAndStepUp, in a real browser: a member turns on codes
// from an authenticator app (the QR code drawn by the server shows), signs in
// again with password and code, sees a session opened elsewhere and signs it out
// (its token is then refused), and deletes the account after confirming the
// password once the step-up window has passed. No response sets a cookie and
// document.cookie stays empty at every step.
func TestSecondFactorSessionsAndStepUp(t *testing.T) {
	clk := &siteClock{t: time.Now().UTC().Truncate(time.Second)}
	s, base := startSite(t, config{FormMinAge: time.Millisecond, now: clk.Now})
	const email, password = "two-factor@example.org", "correct horse battery"
	newMember(t, s, email, password)
	b := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// Clicked, not submitted: the member area's forms are sent by its script.
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	b.do(t, "sign in",
		chromedp.Navigate(base+"/accounts/signin"),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Submit(css(`main form`)),
		chromedp.WaitVisible(css(`#totp-start`)))

	// The page fills the key in before it shows the form.
	b.do(t, "start codes", chromedp.Click(css(`#totp-start`)), chromedp.WaitVisible(css(`#totp-confirm`)))
	secret := b.text(t, "#totp-secret")
	qr, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](
		`(async () => { const i = document.getElementById("totp-qr"); await i.decode(); return i.src.startsWith("data:image/png;base64,") && i.naturalWidth >= 200 })()`,
		chromedp.EvalAwaitPromise))
	if err != nil || !qr || len(secret) < 16 {
		t.Fatalf("the QR code is not a PNG drawn by the site (%v), secret %q", err, secret)
	}
	b.do(t, "confirm codes",
		chromedp.SendKeys(css(`#totp-code`), code(secret)),
		chromedp.Click(css(`#totp-confirm button[type=submit]`)),
		chromedp.WaitVisible(css(`#recovery-codes li`)),
		chromedp.WaitVisible(css(`#totp-on`)))
	if n := strings.Count(b.text(t, "#recovery-codes"), "-"); n != accounts.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d", n, accounts.RecoveryCodeCount)
	}

	clk.Advance(30 * time.Second) // the next code: the one above is used
	b.do(t, "sign in with a code",
		chromedp.Click(css(`#signout`)),
		chromedp.WaitVisible(css(`nav .signed-out`)),
		chromedp.Navigate(base+"/accounts/signin"),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Submit(css(`main form`)),
		chromedp.WaitVisible(css(`#code`)))
	if got := b.text(t, "main"); strings.Contains(got, "signed in") {
		t.Fatalf("a password alone signed in: %q", got)
	}
	b.do(t, "give the code",
		chromedp.SendKeys(css(`#code`), code(secret)),
		chromedp.Submit(css(`main form`)),
		chromedp.WaitVisible(css(`#totp-on`)))

	// A session opened elsewhere, with the next code.
	clk.Advance(30 * time.Second)
	ctx := accounts.WithUserAgent(context.Background(), "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36")
	step, err := s.accounts.SignIn(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.accounts.SignInWithCode(ctx, step.Challenge, code(secret))
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "see the other session",
		chromedp.Navigate(base+"/member"),
		chromedp.WaitVisible(css(`#sessions li[data-current=false] button`)))
	if got := b.text(t, `#sessions li[data-current=false]`); !strings.Contains(got, "Chrome on Android") {
		t.Fatalf("the other session reads %q", got)
	}
	b.do(t, "sign it out",
		chromedp.Click(css(`#sessions li[data-current=false] button`)),
		chromedp.WaitNotPresent(css(`#sessions li[data-current=false]`)))
	req, _ := http.NewRequest(http.MethodGet, base+"/accounts/me", nil)
	req.Header.Set("Authorization", "Bearer "+other.Token)
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the signed-out session's token got %d, want 401", res.StatusCode)
	}

	clk.Advance(10 * time.Minute) // past the step-up window
	b.do(t, "delete, asked to confirm",
		chromedp.Click(css(`#delete-me`)),
		chromedp.WaitVisible(css(`#step-up`)))
	b.do(t, "confirm and delete",
		chromedp.SendKeys(css(`#step-up-password`), password),
		chromedp.Click(css(`#step-up button[type=submit]`)),
		chromedp.WaitVisible(css(`#deleted`)))
	if _, err := s.accounts.SignIn(context.Background(), email, password); !errors.Is(err, privacy.ErrUnauthorized) {
		t.Fatalf("sign-in after deletion: %v, want ErrUnauthorized", err)
	}
	left, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`sessionStorage.length + document.cookie.length`))
	if err != nil || left != 0 {
		t.Fatalf("the tab still holds %d characters of state (%v)", left, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cookies) > 0 {
		t.Errorf("responses set cookies: %v", b.cookies)
	}
	for _, p := range b.problems {
		// The one refusal the page answers by asking for the password.
		if !strings.Contains(p, "status of 403") {
			t.Errorf("console error: %s", p)
		}
	}
}
