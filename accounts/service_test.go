package accounts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func TestRegisterVerifySignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "  Ann@Example.ORG ", Password: "correct horse", DisplayName: "Ann", BirthDate: "1990-04-30"})
	require.NoError(t, err)
	assert.True(t, res.Pending)
	a, err := e.store.AccountByEmail(ctx, "Ann@example.org")
	require.NoError(t, err, "trimmed, domain case-folded, local part kept")
	assert.False(t, a.Verified)
	assert.Equal(t, accounts.AgeOver13, a.AgeScreen, "only the age screen's answer is kept")
	assert.True(t, strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$"))

	_, err = e.svc.SignIn(ctx, "Ann@example.org", "correct horse")
	assert.ErrorIs(t, err, privacy.ErrForbidden, "not verified yet")

	m := e.mailTo("Ann@example.org", "Confirm your address")
	assert.Contains(t, m.Text, "http://127.0.0.1:8080/accounts/verify?token=")
	tok := e.linkToken(m)
	require.NoError(t, e.svc.Verify(ctx, tok, "correct horse"))
	assert.ErrorIs(t, e.svc.Verify(ctx, tok, "correct horse"), privacy.ErrGone, "single use")

	in, err := e.svc.SignIn(ctx, "Ann@example.org", "correct horse")
	require.NoError(t, err)
	assert.Len(t, in.Token, 43, "256 bits, base64url")
	actor, err := e.svc.Actor(ctx, in.Token)
	require.NoError(t, err)
	assert.Equal(t, a.ID, actor.ID)
	assert.Equal(t, "Ann@example.org", actor.Email)
	sess, err := e.store.Sessions(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, sess, 1)
	assert.NotContains(t, sess[0].Hash, in.Token, "only the hash is stored")
	assert.Len(t, sess[0].Hash, 64)
}

func TestVerifyTokenExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "late@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	tok := e.linkToken(e.mailTo("late@example.org", "Confirm"))
	e.clock.Advance(24*time.Hour + time.Second)
	assert.ErrorIs(t, e.svc.Verify(ctx, tok, "correct horse"), privacy.ErrGone)
	assert.ErrorIs(t, e.svc.Verify(ctx, "short", "correct horse"), privacy.ErrInvalid)
}

func TestRegisterInvalid(t *testing.T) {
	e := newEnv(t)
	ok := accounts.RegisterInput{Email: "ok@example.org", Password: "correct horse", BirthDate: "2000-01-01"}
	for _, tc := range []struct {
		name  string
		field string
		edit  func(in *accounts.RegisterInput)
	}{
		{"EmailMissing", "email", func(in *accounts.RegisterInput) { in.Email = "" }},
		{"EmailDisplayName", "email", func(in *accounts.RegisterInput) { in.Email = "Ann <ann@example.org>" }},
		{"EmailHeaderInjection", "email", func(in *accounts.RegisterInput) { in.Email = "ann@example.org\r\nBcc: x@example.net" }},
		{"EmailNoDomainDot", "email", func(in *accounts.RegisterInput) { in.Email = "ann@localhost" }},
		{"PasswordShort", "password", func(in *accounts.RegisterInput) { in.Password = "short" }},
		{"PasswordMissing", "password", func(in *accounts.RegisterInput) { in.Password = "" }},
		{"PasswordTooLong", "password", func(in *accounts.RegisterInput) { in.Password = strings.Repeat("x", 257) }},
		{"PasswordControl", "password", func(in *accounts.RegisterInput) { in.Password = "correct\x00horse" }},
		{"DisplayNameTooLong", "display_name", func(in *accounts.RegisterInput) { in.DisplayName = strings.Repeat("n", 101) }},
		{"DisplayNameNewline", "display_name", func(in *accounts.RegisterInput) { in.DisplayName = "Ann\nBcc: x" }},
		{"BirthDateMissing", "birth_date", func(in *accounts.RegisterInput) { in.BirthDate = "" }},
		{"BirthDateUnreadable", "birth_date", func(in *accounts.RegisterInput) { in.BirthDate = "yesterday" }},
		{"BirthDateFuture", "birth_date", func(in *accounts.RegisterInput) { in.BirthDate = "2999-01-01" }},
		{"ConsentCodeBogus", "consent_code", func(in *accounts.RegisterInput) {
			in.BirthDate = time.Now().AddDate(-9, 0, 0).Format("2006-01-02")
			in.ConsentCode = "nope"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			_, err := e.svc.Register(context.Background(), in)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			_, err = e.store.AccountByEmail(context.Background(), "ok@example.org")
			assert.ErrorIs(t, err, privacy.ErrNotFound, "nothing stored")
		})
	}
}

func TestRegistrationOptIns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "news@example.org", Password: "correct horse", BirthDate: "1990-01-01", Newsletter: true})
	require.NoError(t, err)
	_, err = e.svc.Register(ctx, accounts.RegisterInput{Email: "quiet@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)

	hist, err := e.priv.ConsentHistory(ctx, "news@example.org")
	require.NoError(t, err)
	require.Len(t, hist, 1, "the newsletter box only; promotions was left unchecked")
	assert.Equal(t, privacy.Purpose("newsletter"), hist[0].Purpose)
	assert.True(t, hist[0].Granted)
	assert.Equal(t, "registration", hist[0].Source)
	assert.Equal(t, "2026-11-01", hist[0].PolicyVersion)
	hist, _ = e.priv.ConsentHistory(ctx, "quiet@example.org")
	assert.Empty(t, hist, "unchecked boxes record nothing")
}

// Audit #13 finding 6: a member whose address bounced was answered 403 for a reset
// (an unknown address 202), which told anyone the address had an account. Account
// mail is a purpose any visitor can send to any address, so a suppressed recipient
// is answered like any other: the same status and body, and no mail.
func TestSuppressedAddressAnsweredAlike(t *testing.T) {
	e := newEnv(t)
	s := newServer(t, e, accounts.HandlerConfig{})
	ctx := context.Background()
	e.member("bounced@example.org", "correct horse")
	had := len(e.mail.Server.To("bounced@example.org")) // the member's own confirmation
	require.NoError(t, e.priv.Suppress(ctx, "bounced@example.org", "550", time.Now()))
	require.NoError(t, e.priv.Suppress(ctx, "gone@example.org", "550", time.Now()))
	for _, tc := range []struct {
		path string
		body func(addr string) map[string]any
	}{
		{"/accounts/reset", func(a string) map[string]any { return map[string]any{"email": a} }},
		{"/accounts/register", func(a string) map[string]any {
			return map[string]any{"email": a, "password": "another horse", "birth_date": "1990-01-01"}
		}},
	} {
		suppressed := s.json(http.MethodPost, tc.path, "", tc.body("bounced@example.org"))
		unknown := s.json(http.MethodPost, tc.path, "", tc.body("nobody@example.org"))
		suppressedNew := s.json(http.MethodPost, tc.path, "", tc.body("gone@example.org"))
		assert.Equal(t, unknown.status, suppressed.status, "%s: a suppressed member", tc.path)
		assert.Equal(t, unknown.body, suppressed.body, "%s: a suppressed member", tc.path)
		assert.Equal(t, unknown.status, suppressedNew.status, "%s: a suppressed stranger", tc.path)
		assert.Equal(t, unknown.body, suppressedNew.body, "%s: a suppressed stranger", tc.path)
	}
	e.mailTo("nobody@example.org", "Confirm your address")
	assert.Len(t, e.mail.Server.To("bounced@example.org"), had, "no mail to a suppressed member")
	assert.Empty(t, e.mail.Server.To("gone@example.org"), "no mail to a suppressed stranger")
	e.signIn("bounced@example.org", "correct horse")
}

func TestRegisterExistingAddress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.member("taken@example.org", "correct horse")
	res, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "taken@example.org", Password: "another pass", BirthDate: "1990-01-01", Newsletter: true})
	require.NoError(t, err)
	assert.Equal(t, accounts.RegisterResult{Pending: true, Message: res.Message}, res, "the same answer as for a new address")
	e.mailTo("taken@example.org", "You already have an account")
	a, _ := e.store.AccountByEmail(ctx, "taken@example.org")
	assert.Equal(t, first.PasswordHash, a.PasswordHash, "the password is not replaced")
	hist, _ := e.priv.ConsentHistory(ctx, "taken@example.org")
	assert.Empty(t, hist, "an opt-in by someone else is not recorded")
	e.signIn("taken@example.org", "correct horse")
}

func TestRegisterAgainBeforeVerifying(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := accounts.RegisterInput{Email: "again@example.org", Password: "correct horse", BirthDate: "1990-01-01"}
	_, err := e.svc.Register(ctx, in)
	require.NoError(t, err)
	_, err = e.svc.Register(ctx, in)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(e.mail.Server.To("again@example.org")) == 2 }, 5*time.Second, 10*time.Millisecond)
	for _, m := range e.mail.Server.To("again@example.org") {
		assert.Equal(t, "Confirm your address", m.Subject())
	}
	require.NoError(t, e.svc.Verify(ctx, e.linkToken(e.mail.Server.To("again@example.org")[1]), "correct horse"))
}

func TestPurgeUnverified(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "never@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	e.member("kept@example.org", "correct horse")
	_, err = e.svc.Holder().(privacy.Purger).Purge(ctx, e.clock.Now().Add(6*24*time.Hour))
	require.NoError(t, err)
	_, err = e.store.AccountByEmail(ctx, "never@example.org")
	require.NoError(t, err, "kept for seven days")
	_, err = e.svc.Holder().(privacy.Purger).Purge(ctx, e.clock.Now().Add(7*24*time.Hour+time.Second))
	require.NoError(t, err)
	_, err = e.store.AccountByEmail(ctx, "never@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	_, err = e.store.AccountByEmail(ctx, "kept@example.org")
	assert.NoError(t, err)
}

func TestSignInWrongPasswordAndUnknownAnswerAlike(t *testing.T) {
	e := newEnv(t)
	e.member("known@example.org", "correct horse")
	_, errWrong := e.svc.SignIn(context.Background(), "known@example.org", "wrong horse")
	_, errUnknown := e.svc.SignIn(context.Background(), "unknown@example.org", "wrong horse")
	require.ErrorIs(t, errWrong, privacy.ErrUnauthorized)
	assert.Equal(t, web.Describe(errWrong), web.Describe(errUnknown))
}

func TestLegacyImportUpgradesOnFirstSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var legacy []accounts.LegacyAccount
	for i, v := range legacyVectors {
		legacy = append(legacy, accounts.LegacyAccount{Email: "legacy" + string(rune('a'+i)) + "@example.org", Scheme: v.scheme, Hash: v.hash, Salt: v.salt, DisplayName: v.name})
	}
	legacy = append(legacy, accounts.LegacyAccount{Email: "broken", Scheme: accounts.SchemeSHA1, Hash: legacyVectors[0].hash},
		accounts.LegacyAccount{Email: "bad@example.org", Scheme: "md5", Hash: "x"})
	var calls []int
	rep, err := e.svc.ImportLegacy(ctx, legacy, func(done, total int) {
		calls = append(calls, done)
		assert.Equal(t, len(legacy), total)
	})
	require.NoError(t, err)
	assert.Equal(t, len(legacyVectors), rep.Imported)
	require.Len(t, rep.Invalid, 2)
	assert.Equal(t, accounts.ImportError{Index: len(legacyVectors), Field: "email", Msg: "this is not an email address"}, rep.Invalid[0])
	assert.Equal(t, "scheme", rep.Invalid[1].Field)
	assert.Len(t, calls, len(legacy), "progress after every row")

	again, err := e.svc.ImportLegacy(ctx, legacy[:1], nil)
	require.NoError(t, err)
	assert.Equal(t, 1, again.Existing, "an address already present is skipped")

	for i := range legacyVectors {
		addr := legacy[i].Email
		t.Run(legacyVectors[i].name, func(t *testing.T) {
			before, _ := e.store.AccountByEmail(ctx, addr)
			assert.False(t, strings.HasPrefix(before.PasswordHash, "$argon2id$"))
			_, err := e.svc.SignIn(ctx, addr, "wrong")
			require.ErrorIs(t, err, privacy.ErrUnauthorized)
			unchanged, _ := e.store.AccountByEmail(ctx, addr)
			assert.Equal(t, before.PasswordHash, unchanged.PasswordHash, "a failed sign-in changes nothing")

			_, err = e.svc.SignIn(ctx, addr, "hunter2")
			require.NoError(t, err)
			after, _ := e.store.AccountByEmail(ctx, addr)
			assert.True(t, strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$"), "upgraded: %s", after.PasswordHash)
			_, err = e.svc.SignIn(ctx, addr, "hunter2")
			require.NoError(t, err, "the upgraded hash verifies")
		})
	}
}

func TestReadLegacyCSV(t *testing.T) {
	in := "\ufeffEmail,scheme,hash,salt,display_name\r\n" +
		"a@example.org,sha1,f3bbbd66a63d4bf1747940578ec3d0103530e21d,,Ann\r\n" +
		"\"b@example.org\",sha1-salt-password,da07373149d0d28a3960ec7f79d1233976d61643,NaCl,\"Bob, Jr.\"\r\n"
	got, err := accounts.ReadLegacyCSV(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, accounts.LegacyAccount{Email: "b@example.org", Scheme: accounts.SchemeSHA1SaltPassword, Hash: "da07373149d0d28a3960ec7f79d1233976d61643", Salt: "NaCl", DisplayName: "Bob, Jr."}, got[1])

	for _, tc := range []struct{ name, in, field string }{
		{"Empty", "", "header"},
		{"NoSalt", "email,scheme,hash\n", "salt"},
		{"DuplicateColumn", "email,scheme,hash,salt,email\n", "email"},
		{"UnnamedColumn", "email,,scheme,hash,salt\n", "header"},
		{"BadQuote", "email,scheme,hash,salt\n\"a@example.org,sha1,x,\n", "line 2"},
		{"WrongFieldCount", "email,scheme,hash,salt\na@example.org,sha1\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := accounts.ReadLegacyCSV(strings.NewReader(tc.in))
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
}

func TestParameterChangeTriggersRehash(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("param@example.org", "correct horse")
	stronger := accounts.Argon2Params{Memory: 128, Time: 2, Threads: 1}
	svc2, err := accounts.New(accounts.Config{Store: e.store, Mailer: e.mail.Mailer, Consents: e.consents, Auditor: e.auditor, Now: e.clock.Now, Argon2: stronger})
	require.NoError(t, err)
	_, err = svc2.SignIn(ctx, "param@example.org", "correct horse")
	require.NoError(t, err)
	a, _ := e.store.AccountByEmail(ctx, "param@example.org")
	ph, err := accounts.ParsePasswordHash(a.PasswordHash)
	require.NoError(t, err)
	assert.Equal(t, uint32(128), ph.Params.Memory)
	assert.Equal(t, uint32(2), ph.Params.Time)
	again := a.PasswordHash
	_, err = svc2.SignIn(ctx, "param@example.org", "correct horse")
	require.NoError(t, err)
	a, _ = e.store.AccountByEmail(ctx, "param@example.org")
	assert.Equal(t, again, a.PasswordHash, "no rehash when the parameters match")
}

func TestThrottlePerAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("victim@example.org", "correct horse")
	for i := range 10 {
		_, err := e.svc.SignIn(ctx, "victim@example.org", "guess")
		require.ErrorIs(t, err, privacy.ErrUnauthorized, "attempt %d", i+1)
	}
	_, err := e.svc.SignIn(ctx, "victim@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited, "even the right password waits")
	var pe *privacy.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, time.Second, pe.RetryAfter)

	e.clock.Advance(2 * time.Second)
	_, err = e.svc.SignIn(ctx, "victim@example.org", "guess")
	require.ErrorIs(t, err, privacy.ErrUnauthorized)
	_, err = e.svc.SignIn(ctx, "victim@example.org", "correct horse")
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 2*time.Second, pe.RetryAfter, "the delay doubles")

	e.clock.Advance(16 * time.Minute)
	_, err = e.svc.SignIn(ctx, "victim@example.org", "correct horse")
	require.NoError(t, err, "no permanent lockout")
}

func TestThrottleSuccessForgetsOwnFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("typo@example.org", "correct horse")
	for range 9 {
		_, err := e.svc.SignIn(ctx, "typo@example.org", "corect horse")
		require.ErrorIs(t, err, privacy.ErrUnauthorized)
	}
	e.signIn("typo@example.org", "correct horse")
	for i := range 10 {
		_, err := e.svc.SignIn(ctx, "typo@example.org", "corect horse")
		require.ErrorIs(t, err, privacy.ErrUnauthorized, "attempt %d after the success", i+1)
	}
	_, err := e.svc.SignIn(ctx, "typo@example.org", "corect horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited)
}

// A source that has not failed on an address is not held back, unless so many
// sources have failed that the throttle stopped telling them apart.
func TestThrottleSources(t *testing.T) {
	e := newEnv(t)
	e.member("target@example.org", "correct horse")
	from := func(i int) context.Context {
		return accounts.WithClient(context.Background(), netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	for i := range 16 {
		_, err := e.svc.SignIn(from(i), "target@example.org", "guess")
		require.ErrorIs(t, err, privacy.ErrUnauthorized, "source %d", i)
	}
	_, err := e.svc.SignIn(from(3), "target@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited, "a source that failed waits")
	_, err = e.svc.SignIn(from(100), "target@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited, "16 sources failed: every source waits")
	e.clock.Advance(16 * time.Minute)
	_, err = e.svc.SignIn(from(100), "target@example.org", "correct horse")
	require.NoError(t, err, "the window ends")

	// IPv6 clients count per /64.
	v6 := func(s string) context.Context {
		return accounts.WithClient(context.Background(), netip.MustParseAddr(s))
	}
	for range 10 {
		_, _ = e.svc.SignIn(v6("2001:db8:1:2::1"), "target@example.org", "guess")
	}
	_, err = e.svc.SignIn(v6("2001:db8:1:2::99"), "target@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited, "same /64")
	_, err = e.svc.SignIn(v6("2001:db8:1:3::1"), "target@example.org", "correct horse")
	require.NoError(t, err, "another /64")
}

func TestThrottleOwnerCanReset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("locked@example.org", "correct horse")
	for range 12 {
		_, _ = e.svc.SignIn(ctx, "locked@example.org", "guess")
	}
	require.NoError(t, e.svc.RequestReset(ctx, "locked@example.org"))
	require.NoError(t, e.svc.ResetPassword(ctx, e.linkToken(e.mailTo("locked@example.org", "Reset")), "brand new pass"))
	e.signIn("locked@example.org", "brand new pass")
}

func TestHashSlotsBoundConcurrency(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.HashSlots = 1; c.HashWait = 50 * time.Millisecond })
	e.member("busy@example.org", "correct horse")
	_, err := e.svc.Register(context.Background(), accounts.RegisterInput{Email: "pending@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	pending := e.linkToken(e.mailTo("pending@example.org", "Confirm"))
	release := e.svc.HoldHashSlot()
	require.ErrorIs(t, e.svc.Verify(context.Background(), pending, "correct horse"), privacy.ErrUnavailable, "checking the registration's password takes a slot")
	start := time.Now()
	_, err = e.svc.SignIn(context.Background(), "busy@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrUnavailable)
	assert.Equal(t, 503, web.HTTPStatus(err))
	var pe *privacy.Error
	require.ErrorAs(t, err, &pe)
	assert.Positive(t, pe.RetryAfter)
	assert.Less(t, time.Since(start), 2*time.Second, "gave up at HashWait")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err = e.svc.SignIn(ctx, "nobody@example.org", "x")
	require.ErrorIs(t, err, privacy.ErrUnavailable, "an unknown address queues for a slot too")
	_, err = e.svc.Register(ctx, accounts.RegisterInput{Email: "new@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.ErrorIs(t, err, privacy.ErrUnavailable)
	_, err = e.store.AccountByEmail(context.Background(), "new@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)

	release()
	_, err = e.svc.SignIn(context.Background(), "busy@example.org", "correct horse")
	require.NoError(t, err)
	require.NoError(t, e.svc.Verify(context.Background(), pending, "correct horse"), "a busy server did not use the link")
}

func TestSessionsExpire(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.SessionIdle = time.Hour; c.SessionMax = 3 * time.Hour })
	ctx := context.Background()
	e.member("s@example.org", "correct horse")
	tok, _ := e.signIn("s@example.org", "correct horse")
	for range 2 {
		e.clock.Advance(50 * time.Minute)
		_, err := e.svc.Actor(ctx, tok)
		require.NoError(t, err, "use keeps the session alive")
	}
	e.clock.Advance(61 * time.Minute)
	_, err := e.svc.Actor(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "idle too long")

	tok, _ = e.signIn("s@example.org", "correct horse")
	for range 3 {
		e.clock.Advance(55 * time.Minute)
		_, err = e.svc.Actor(ctx, tok)
		require.NoError(t, err)
	}
	e.clock.Advance(20 * time.Minute)
	_, err = e.svc.Actor(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "past the absolute expiry however busy")

	for _, bad := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("!", 43)} {
		_, err = e.svc.Actor(ctx, bad)
		assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("out@example.org", "correct horse")
	t1, _ := e.signIn("out@example.org", "correct horse")
	t2, c2 := e.signIn("out@example.org", "correct horse")
	t3, _ := e.signIn("out@example.org", "correct horse")
	require.NoError(t, e.svc.SignOut(ctx, t1))
	_, err := e.svc.Actor(ctx, t1)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	_, err = e.svc.Actor(ctx, t2)
	require.NoError(t, err)
	n, err := e.svc.SignOutEverywhere(c2)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, tok := range []string{t2, t3} {
		_, err = e.svc.Actor(ctx, tok)
		assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	}
	_, err = e.svc.SignOutEverywhere(ctx)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("reset@example.org", "correct horse")
	old, _ := e.signIn("reset@example.org", "correct horse")

	require.NoError(t, e.svc.RequestReset(ctx, "nobody@example.org"), "the same answer for an unknown address")
	require.NoError(t, e.svc.RequestReset(ctx, "reset@example.org"))
	tok := e.linkToken(e.mailTo("reset@example.org", "Reset your password"))
	assert.Empty(t, e.mail.Server.To("nobody@example.org"))

	err := e.svc.ResetPassword(ctx, tok, "short")
	assert.Equal(t, "password", privacy.FieldOf(err))
	require.NoError(t, e.svc.ResetPassword(ctx, tok, "new horse battery"))
	assert.ErrorIs(t, e.svc.ResetPassword(ctx, tok, "new horse battery"), privacy.ErrGone, "single use")
	_, err = e.svc.Actor(ctx, old)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "a reset ends every session")
	_, err = e.svc.SignIn(ctx, "reset@example.org", "correct horse")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	e.signIn("reset@example.org", "new horse battery")

	require.NoError(t, e.svc.RequestReset(ctx, "reset@example.org"))
	late := e.linkToken(e.mailTo("reset@example.org", "Reset your password"))
	e.clock.Advance(time.Hour + time.Second)
	assert.ErrorIs(t, e.svc.ResetPassword(ctx, late, "another new pass"), privacy.ErrGone, "valid one hour")
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("cp@example.org", "correct horse")
	other, _ := e.signIn("cp@example.org", "correct horse")
	_, me := e.signIn("cp@example.org", "correct horse")

	_, err := e.svc.ChangePassword(me, "wrong", "new horse battery")
	assert.Equal(t, "current_password", privacy.FieldOf(err))
	_, err = e.svc.ChangePassword(me, "correct horse", "short")
	assert.Equal(t, "new_password", privacy.FieldOf(err))
	_, err = e.svc.ChangePassword(ctx, "correct horse", "new horse battery")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)

	res, err := e.svc.ChangePassword(me, "correct horse", "new horse battery")
	require.NoError(t, err)
	_, err = e.svc.Actor(ctx, other)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "other sessions end")
	_, err = e.svc.Actor(ctx, res.Token)
	assert.NoError(t, err, "a new token comes back")
	e.signIn("cp@example.org", "new horse battery")
}

func TestChangeEmail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("old@example.org", "correct horse")
	e.member("taken@example.org", "correct horse")
	old, me := e.signIn("old@example.org", "correct horse")

	require.NoError(t, e.svc.RequestEmailChange(me, "taken@example.org", "correct horse"), "the same answer for an address with an account")
	note := e.mailTo("taken@example.org", "Someone tried to use your address")
	assert.Empty(t, tokenRE.FindString(note.Text), "a note, not a link")
	assert.Equal(t, "password", privacy.FieldOf(e.svc.RequestEmailChange(me, "new@example.org", "wrong")))
	assert.Equal(t, "email", privacy.FieldOf(e.svc.RequestEmailChange(me, "not an address", "correct horse")))
	require.NoError(t, e.svc.RequestEmailChange(me, "New@Example.org", "correct horse"))
	tok := e.linkToken(e.mailTo("New@example.org", "Confirm your new address"))
	note = e.mailTo("old@example.org", "Your address is being changed")
	assert.NotContains(t, note.Text, "New@example.org", "the old address is not told the new one")
	assert.Empty(t, tokenRE.FindString(note.Text), "nor given the link")

	a, _ := e.store.AccountByEmail(ctx, "old@example.org")
	assert.Equal(t, "old@example.org", a.Email, "nothing changes before the link is followed")
	res, err := e.svc.ConfirmEmailChange(ctx, tok)
	require.NoError(t, err)
	actor, err := e.svc.Actor(ctx, res.Token)
	require.NoError(t, err)
	assert.Equal(t, "New@example.org", actor.Email)
	_, err = e.svc.Actor(ctx, old)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "old sessions end")
	_, err = e.svc.ConfirmEmailChange(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrGone)
	e.signIn("New@example.org", "correct horse")
}

func TestMailerAllowers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("member@example.org", "correct horse")
	send := func(p privacy.Purpose, to string) error {
		_, err := e.mail.Mailer.Send(ctx, privacy.Message{Purpose: p, DataSubject: to, To: privacy.Address{Email: to}, Subject: "s", Text: "t"})
		return err
	}
	require.NoError(t, send(accounts.PurposeAccount, "member@example.org"))
	assert.ErrorIs(t, send(accounts.PurposeAccount, "stranger@example.org"), privacy.ErrRefused)
	assert.ErrorIs(t, send(privacy.Purpose("newsletter"), "member@example.org"), privacy.ErrInvalid, "an account is no newsletter subscription: on a site without one, no holder declares the purpose")
	assert.ErrorIs(t, send(accounts.PurposeParentalConsent, "member@example.org"), privacy.ErrRefused)
}

func TestStaffRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("boss@example.org", "correct horse")
	e.member("mod@example.org", "correct horse")
	_, member := e.signIn("mod@example.org", "correct horse")

	assert.ErrorIs(t, e.svc.Grant(ctx, "mod@example.org", privacy.RoleModerator), privacy.ErrUnauthorized)
	assert.ErrorIs(t, e.svc.Grant(member, "mod@example.org", privacy.RoleModerator), privacy.ErrForbidden)
	require.NoError(t, e.svc.GrantRole(ctx, "boss@example.org", privacy.RoleAdmin), "operators appoint the first admin")
	_, admin := e.signIn("boss@example.org", "correct horse")
	assert.True(t, privacy.ActorFrom(admin).Has(privacy.RoleAdmin))

	require.NoError(t, e.svc.Grant(admin, "mod@example.org", privacy.RoleModerator))
	assert.Equal(t, "role", privacy.FieldOf(e.svc.Grant(admin, "mod@example.org", "overlord")))
	assert.ErrorIs(t, e.svc.Grant(admin, "ghost@example.org", privacy.RoleEditor), privacy.ErrNotFound)
	tok, _ := e.signIn("mod@example.org", "correct horse")
	actor, _ := e.svc.Actor(ctx, tok)
	assert.Equal(t, []privacy.Role{privacy.RoleModerator}, actor.Roles, "the actor carries the role")

	_, err := e.svc.Staff(member)
	assert.ErrorIs(t, err, privacy.ErrForbidden)
	staff, err := e.svc.Staff(admin)
	require.NoError(t, err)
	require.Len(t, staff, 2)
	assert.Equal(t, "boss@example.org", staff[0].Email)
	log, _ := e.priv.ListAccess(ctx, privacy.AccessFilter{})
	require.Len(t, log, 3, "the grant, and each staff member listed, is an access record; the refused grants are not")
	assert.Equal(t, "granting a staff role (moderator)", log[2].Why)
	assert.Equal(t, "mod@example.org", log[2].Subject)

	assert.ErrorIs(t, e.svc.Revoke(admin, "boss@example.org", privacy.RoleAdmin), privacy.ErrConflict, "no admin demotes themself")
	require.NoError(t, e.svc.Revoke(admin, "mod@example.org", privacy.RoleModerator))
	staff, _ = e.svc.Staff(admin)
	assert.Len(t, staff, 1)
}

func TestDeleteMeAndExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "leaving@example.org", Password: "correct horse", BirthDate: "1990-01-01", Newsletter: true})
	require.NoError(t, err)
	require.NoError(t, e.svc.Verify(ctx, e.linkToken(e.mailTo("leaving@example.org", "Confirm")), "correct horse"))
	tok, me := e.signIn("leaving@example.org", "correct horse")
	_, err = e.svc.AddText(me, accounts.KindNote, "diary", "dear diary", accounts.Private)
	require.NoError(t, err)

	out, err := e.svc.ExportMe(me)
	require.NoError(t, err)
	exp, ok := out["accounts"].(accounts.Export)
	require.True(t, ok, "export=%#v", out)
	require.NotNil(t, exp.Account)
	assert.Equal(t, "leaving@example.org", exp.Account.Email)
	require.Len(t, exp.Account.Resources, 1)
	assert.Equal(t, "dear diary", exp.Account.Resources[0].Body)
	assert.Len(t, exp.Account.Sessions, 1)

	_, err = e.svc.DeleteMe(me, "wrong")
	assert.Equal(t, "password", privacy.FieldOf(err))
	res, err := e.svc.DeleteMe(me, "correct horse")
	require.NoError(t, err)
	require.NotEmpty(t, res)
	assert.Equal(t, "accounts", res[0].Holder)
	assert.Equal(t, 3, res[0].Removed, "account, session, note")
	_, err = e.svc.Actor(ctx, tok)
	assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	_, err = e.store.AccountByEmail(ctx, "leaving@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	v, err := e.svc.Holder().(privacy.Exporter).Export(ctx, "leaving@example.org")
	require.NoError(t, err)
	assert.Nil(t, v, "nothing left")
}

func TestRegistryCheckCategories(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.registry.Check())
	c, ok := e.registry.Category(accounts.CategoryParentalConsent)
	require.True(t, ok)
	assert.Equal(t, 14*24*time.Hour, c.Retention, "Config.ParentalRetention's default")
}

func TestNewNeedsStoreMailerConsents(t *testing.T) {
	_, err := accounts.New(accounts.Config{})
	require.Error(t, err)
	e := newEnv(t)
	_, err = accounts.New(accounts.Config{Store: e.store, Mailer: e.mail.Mailer})
	require.Error(t, err)
	_, err = accounts.New(accounts.Config{Store: e.store, Mailer: e.mail.Mailer, Consents: e.consents, Auditor: e.auditor, Argon2: accounts.Argon2Params{Memory: 64}})
	require.ErrorContains(t, err, "Argon2", "partial argon2 parameters")
	require.False(t, errors.Is(err, privacy.ErrInvalid))
}

// TestNewNeedsAuditor: the staff pages read members' data, so a Service that could
// serve them off the record is refused when it is built (P11).
func TestNewNeedsAuditor(t *testing.T) {
	e := newEnv(t)
	for name, a := range map[string]*privacy.Auditor{"Nil": nil, "NoLog": {}} {
		t.Run(name, func(t *testing.T) {
			svc, err := accounts.New(accounts.Config{Store: e.store, Mailer: e.mail.Mailer, Consents: e.consents, Auditor: a, Argon2: fastArgon})
			require.ErrorContains(t, err, "Auditor")
			assert.Nil(t, svc)
		})
	}
}

// TestResetKillsPendingEmailChange: Mallory, with Alice's stolen password, asks to
// move the account to her address; Alice resets her password. The link mailed to
// Mallory must die with the old password (audit #13 finding 1).
func TestResetKillsPendingEmailChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("alice@example.org", "correct horse")
	_, mallory := e.signIn("alice@example.org", "correct horse")
	require.NoError(t, e.svc.RequestEmailChange(mallory, "mallory@evil.example", "correct horse"))
	stolen := e.linkToken(e.mailTo("mallory@evil.example", "Confirm your new address"))

	require.NoError(t, e.svc.RequestReset(ctx, "alice@example.org"))
	require.NoError(t, e.svc.ResetPassword(ctx, e.linkToken(e.mailTo("alice@example.org", "Reset your password")), "new horse battery"))

	_, err := e.svc.ConfirmEmailChange(ctx, stolen)
	assert.ErrorIs(t, err, privacy.ErrGone, "the address-change link dies with the password")
	a, err := e.store.AccountByEmail(ctx, "alice@example.org")
	require.NoError(t, err)
	assert.Equal(t, "alice@example.org", a.Email)
}

// TestPreRegistrationHijack: Mallory registers frank@ with her password and never
// verifies; Frank registers with his own and follows his link. The account must
// end up with Frank's password, and Mallory's link must be gone (audit #13 finding 2).
func TestPreRegistrationHijack(t *testing.T) {
	t.Run("Memory", func(t *testing.T) { preRegistrationHijack(t, newEnv(t)) })
	t.Run("MySQL", func(t *testing.T) { e, _ := newMySQLEnv(t); preRegistrationHijack(t, e) })
}

const frank = "frank@example.org"

// registerFrank registers frank@ with password and returns the link it mailed.
func registerFrank(t *testing.T, e *env, password string) string {
	t.Helper()
	before := len(e.mail.Server.To(frank))
	_, err := e.svc.Register(context.Background(), accounts.RegisterInput{Email: frank, Password: password, BirthDate: "1990-01-01"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(e.mail.Server.To(frank)) == before+1 }, 5*time.Second, 10*time.Millisecond)
	return e.linkToken(e.mail.Server.To(frank)[before])
}

func preRegistrationHijack(t *testing.T, e *env) {
	ctx := context.Background()
	mallorysLink := registerFrank(t, e, "mallory's pass")
	franksLink := registerFrank(t, e, "frank's own pass")

	require.NoError(t, e.svc.Verify(ctx, franksLink, "frank's own pass"))
	_, err := e.svc.SignIn(ctx, frank, "mallory's pass")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "Mallory's password must not sign in")
	e.signIn(frank, "frank's own pass")
	assert.ErrorIs(t, e.svc.Verify(ctx, mallorysLink, "mallory's pass"), privacy.ErrGone, "the other registration's link is gone")
}

// TestRegisteredAgainAfterOwner: Mallory registers frank@ again after Frank did,
// so the newest "Confirm your address" mail in Frank's inbox is hers and his own
// link is dead. Following hers with his password is refused and changes nothing;
// her link confirms with her password only, which she cannot use without Frank's
// mail; Frank registering again and confirming gets the account with his password
// alone (audit #13 finding 2).
func TestRegisteredAgainAfterOwner(t *testing.T) {
	t.Run("Memory", func(t *testing.T) { registeredAgainAfterOwner(t, newEnv(t)) })
	t.Run("MySQL", func(t *testing.T) { e, _ := newMySQLEnv(t); registeredAgainAfterOwner(t, e) })
}

func registeredAgainAfterOwner(t *testing.T, e *env) {
	ctx := context.Background()
	// Four registrations mail frank@ four times; by default the third is the last
	// in a day, and Frank would register again the next day.
	e.mail.Mailer.SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{accounts.PurposeAccount: 10}})
	registerFrank(t, e, "mallory's pass")
	franksLink := registerFrank(t, e, "frank's own pass")
	mallorysLink := registerFrank(t, e, "mallory's pass")
	assert.ErrorIs(t, e.svc.Verify(ctx, franksLink, "frank's own pass"), privacy.ErrGone, "a newer registration replaced Frank's link")
	before, err := e.store.AccountByEmail(ctx, frank)
	require.NoError(t, err)

	err = e.svc.Verify(ctx, mallorysLink, "frank's own pass")
	require.ErrorIs(t, err, privacy.ErrInvalid)
	assert.Equal(t, 400, web.HTTPStatus(err))
	assert.Equal(t, "password", privacy.FieldOf(err))
	assert.Contains(t, err.Error(), "not the password chosen with this registration")
	after, err := e.store.AccountByEmail(ctx, frank)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused confirmation changes nothing")
	for _, pw := range []string{"mallory's pass", "frank's own pass"} {
		_, err = e.svc.SignIn(ctx, frank, pw)
		assert.Error(t, err, "%s: the address is still unconfirmed", pw)
	}
	ts, err := e.store.TokensTo(ctx, frank)
	require.NoError(t, err)
	assert.Len(t, ts, 1, "a refused confirmation does not use the link")

	franksLink = registerFrank(t, e, "frank's own pass")
	assert.ErrorIs(t, e.svc.Verify(ctx, mallorysLink, "mallory's pass"), privacy.ErrGone, "Frank's new registration replaced Mallory's link")
	require.NoError(t, e.svc.Verify(ctx, franksLink, "frank's own pass"))
	e.signIn(frank, "frank's own pass")
	_, err = e.svc.SignIn(ctx, frank, "mallory's pass")
	assert.ErrorIs(t, err, privacy.ErrUnauthorized, "only Frank's password signs in")
}

// TestVerifyWrongPasswordKeepsLink: a wrong password neither uses the link nor
// confirms the address, and the right one then works; the only link Mallory's
// registration sent confirms with her password (she cannot read it, so that is
// no hijack).
func TestVerifyWrongPasswordKeepsLink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	link := registerFrank(t, e, "mallory's pass")
	for _, pw := range []string{"frank's own pass", "", "mallory's pas"} {
		err := e.svc.Verify(ctx, link, pw)
		assert.ErrorIs(t, err, privacy.ErrInvalid, "%q", pw)
		assert.Equal(t, "password", privacy.FieldOf(err), "%q", pw)
	}
	a, err := e.store.AccountByEmail(ctx, frank)
	require.NoError(t, err)
	assert.False(t, a.Verified)
	require.NoError(t, e.svc.Verify(ctx, link, "mallory's pass"))
	e.signIn(frank, "mallory's pass")
	assert.ErrorIs(t, e.svc.Verify(ctx, link, "mallory's pass"), privacy.ErrGone, "single use")
}

// TestVerifyLegacyToken: a verification token made before migration 00002 carries
// no password; it confirms without one, as it did, and keeps the account's password.
func TestVerifyLegacyToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "old@example.org", Password: "correct horse", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	a, err := e.store.AccountByEmail(ctx, "old@example.org")
	require.NoError(t, err)
	legacy := strings.Repeat("A", 43)
	sum := sha256.Sum256([]byte(legacy))
	require.NoError(t, e.store.CreateToken(ctx, accounts.Token{Hash: hex.EncodeToString(sum[:]), Kind: accounts.TokenVerify, AccountID: a.ID,
		Email: a.Email, Created: e.clock.Now(), Expires: e.clock.Now().Add(time.Hour)}))

	require.NoError(t, e.svc.Verify(ctx, legacy, ""))
	e.signIn("old@example.org", "correct horse")
}

// TestRegisterAgainSameMail: a repeat registration of an unverified address gets
// the very mail a new registration gets, so the mail does not tell that the
// address was registered before.
func TestRegisterAgainSameMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := accounts.RegisterInput{Email: "twice@example.org", Password: "correct horse", BirthDate: "1990-01-01"}
	for range 2 {
		_, err := e.svc.Register(ctx, in)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return len(e.mail.Server.To("twice@example.org")) == 2 }, 5*time.Second, 10*time.Millisecond)
	ms := e.mail.Server.To("twice@example.org")
	first, again := ms[0], ms[1]
	assert.Equal(t, first.Subject(), again.Subject())
	assert.Equal(t, tokenRE.ReplaceAllString(first.Text, "token=X"), tokenRE.ReplaceAllString(again.Text, "token=X"))
}

// TestNewerResetKillsOlder: of two reset links, only the newer works (audit #13
// finding 7).
func TestNewerResetKillsOlder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("twice.reset@example.org", "correct horse")
	require.NoError(t, e.svc.RequestReset(ctx, "twice.reset@example.org"))
	first := e.linkToken(e.mailTo("twice.reset@example.org", "Reset your password"))
	require.NoError(t, e.svc.RequestReset(ctx, "twice.reset@example.org"))
	var second string
	require.Eventually(t, func() bool {
		e.mail.Dispatcher.Wake()
		for _, m := range e.mail.Server.To("twice.reset@example.org") {
			if tok := e.linkToken(m); strings.Contains(m.Subject(), "Reset") && tok != first {
				second = tok
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)

	assert.ErrorIs(t, e.svc.ResetPassword(ctx, first, "first new pass"), privacy.ErrGone, "the older link died with the newer request")
	require.NoError(t, e.svc.ResetPassword(ctx, second, "second new pass"))
	e.signIn("twice.reset@example.org", "second new pass")
}

// TestAddressCaseIsOneAccount: Zed@ and zed@ are one address (P1), so the second
// registration gets what any registration of a taken address gets (audit #13
// finding 10).
func TestAddressCaseIsOneAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	zed := e.member("Zed@example.org", "correct horse")
	res, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "zed@example.org", Password: "another pass", BirthDate: "1990-01-01"})
	require.NoError(t, err)
	assert.Equal(t, accounts.RegisterResult{Pending: true, Message: res.Message}, res, "the same answer as for a new address")
	e.mailTo("zed@example.org", "You already have an account")
	a, err := e.store.AccountByEmail(ctx, "zed@example.org")
	require.NoError(t, err)
	assert.Equal(t, zed.ID, a.ID, "one account")
	assert.Equal(t, zed.PasswordHash, a.PasswordHash, "the password is not replaced")
	e.signIn("ZED@example.org", "correct horse")
}
