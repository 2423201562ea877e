package accounts_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// code returns the authenticator app's code for secret at the env's clock.
func (e *env) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	require.NoError(e.t, err)
	return c
}

// withTOTP signs in, enrols and confirms TOTP, and returns the secret and the
// recovery codes.
func (e *env) withTOTP(ctx context.Context) (secret string, codes []string) {
	e.t.Helper()
	en, err := e.svc.EnrolTOTP(ctx)
	require.NoError(e.t, err)
	codes, err = e.svc.ConfirmTOTP(ctx, en.ID, e.code(en.Secret))
	require.NoError(e.t, err)
	return en.Secret, codes
}

func TestTOTPEnrolAndSignIn(t *testing.T) {
	e := newEnv(t, func(c *accounts.Config) { c.FactorKey = make([]byte, 32) })
	ctx := context.Background()
	a := e.member("two@example.org", "correct horse")
	_, me := e.signIn("two@example.org", "correct horse")

	en, err := e.svc.EnrolTOTP(me)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(en.QR, "data:image/png;base64,"), "the QR code is drawn here, not by a third party")
	assert.Contains(t, en.URL, "otpauth://totp/")
	fs, _ := e.store.Factors(ctx, a.ID)
	require.Len(t, fs, 1)
	assert.NotContains(t, string(fs[0].Secret), en.Secret, "the key is stored sealed")

	res, err := e.svc.SignIn(ctx, "two@example.org", "correct horse")
	require.NoError(t, err)
	assert.NotEmpty(t, res.Token, "an unconfirmed enrolment changes nothing")

	_, err = e.svc.ConfirmTOTP(me, en.ID, "000000")
	assert.Equal(t, "code", privacy.FieldOf(err))
	codes, err := e.svc.ConfirmTOTP(me, en.ID, e.code(en.Secret))
	require.NoError(t, err)
	require.Len(t, codes, accounts.RecoveryCodeCount)
	_, err = e.svc.EnrolTOTP(me)
	assert.ErrorIs(t, err, privacy.ErrConflict)

	res, err = e.svc.SignIn(ctx, "two@example.org", "correct horse")
	require.NoError(t, err)
	assert.Empty(t, res.Token, "a password alone no longer signs in")
	require.NotEmpty(t, res.Challenge)
	assert.Equal(t, []string{accounts.FactorTOTP}, res.Factors)

	t.Run("ReplayedCodeRefused", func(t *testing.T) {
		// The code that confirmed the key was used in this time step.
		_, err := e.svc.SignInWithCode(ctx, res.Challenge, e.code(en.Secret))
		assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	})
	t.Run("ChallengeWorksOnce", func(t *testing.T) {
		e.clock.Advance(30 * time.Second)
		_, err := e.svc.SignInWithCode(ctx, res.Challenge, e.code(en.Secret))
		assert.ErrorIs(t, err, privacy.ErrUnauthorized, "the wrong try above used it up")
	})
	t.Run("OK", func(t *testing.T) {
		r, err := e.svc.SignIn(ctx, "two@example.org", "correct horse")
		require.NoError(t, err)
		code := e.code(en.Secret)
		in, err := e.svc.SignInWithCode(ctx, r.Challenge, code)
		require.NoError(t, err)
		_, err = e.svc.Actor(ctx, in.Token)
		require.NoError(t, err)

		r, _ = e.svc.SignIn(ctx, "two@example.org", "correct horse")
		_, err = e.svc.SignInWithCode(ctx, r.Challenge, code)
		assert.ErrorIs(t, err, privacy.ErrUnauthorized, "the same code again")
	})
	t.Run("ExpiredChallenge", func(t *testing.T) {
		r, _ := e.svc.SignIn(ctx, "two@example.org", "correct horse")
		e.clock.Advance(6 * time.Minute)
		_, err := e.svc.SignInWithCode(ctx, r.Challenge, e.code(en.Secret))
		assert.ErrorIs(t, err, privacy.ErrUnauthorized)
	})
	t.Run("RecoveryCodeOnce", func(t *testing.T) {
		r, _ := e.svc.SignIn(ctx, "two@example.org", "correct horse")
		_, err := e.svc.SignInWithCode(ctx, r.Challenge, strings.ToUpper(codes[0]))
		require.NoError(t, err, "recovery codes are read without regard to case")
		r, _ = e.svc.SignIn(ctx, "two@example.org", "correct horse")
		_, err = e.svc.SignInWithCode(ctx, r.Challenge, codes[0])
		assert.ErrorIs(t, err, privacy.ErrUnauthorized, "a used recovery code")
		n, _ := e.store.RecoveryCodes(ctx, a.ID)
		assert.Equal(t, accounts.RecoveryCodeCount-1, n)
	})
	t.Run("MalformedChallenge", func(t *testing.T) {
		_, err := e.svc.SignInWithCode(ctx, "short", "123456")
		assert.Equal(t, "challenge", privacy.FieldOf(err))
	})
}

func TestTOTPGuessesAreThrottled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("guess@example.org", "correct horse")
	_, me := e.signIn("guess@example.org", "correct horse")
	e.withTOTP(me)
	var err error
	for range 12 {
		var r accounts.SignedIn
		r, err = e.svc.SignIn(ctx, "guess@example.org", "correct horse")
		if err != nil {
			break
		}
		_, err = e.svc.SignInWithCode(ctx, r.Challenge, "000000")
		if !assert.ErrorIs(t, err, privacy.ErrUnauthorized) {
			break
		}
	}
	r, err := e.svc.SignIn(ctx, "guess@example.org", "correct horse")
	if err == nil {
		_, err = e.svc.SignInWithCode(ctx, r.Challenge, "000000")
	}
	assert.ErrorIs(t, err, privacy.ErrRateLimited, "wrong codes count as failed sign-ins")
}

func TestDisableFactorNeedsCodeAndFreshProof(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.member("off@example.org", "correct horse")
	tok, me := e.signIn("off@example.org", "correct horse")
	secret, codes := e.withTOTP(me)
	fs, _ := e.store.Factors(ctx, a.ID)
	id := fs[0].ID

	e.clock.Advance(10 * time.Minute)
	me = e.as(tok)
	err := e.svc.DisableFactor(me, id, e.code(secret))
	assert.Equal(t, "proof", privacy.FieldOf(err), "a stale session must confirm first")
	assert.ErrorIs(t, err, privacy.ErrForbidden)

	assert.Equal(t, "password", privacy.FieldOf(e.svc.Confirm(me, "wrong", "")))
	require.NoError(t, e.svc.Confirm(me, "", e.code(secret)), "a code is a proof")
	me = e.as(tok)
	e.clock.Advance(30 * time.Second)
	assert.Equal(t, "code", privacy.FieldOf(e.svc.DisableFactor(me, id, "")), "no code")
	assert.Equal(t, "code", privacy.FieldOf(e.svc.DisableFactor(me, id, "123456x")))
	require.NoError(t, e.svc.DisableFactor(me, id, codes[3]), "a recovery code turns it off")
	fs, _ = e.store.Factors(ctx, a.ID)
	assert.Empty(t, fs)
	n, _ := e.store.RecoveryCodes(ctx, a.ID)
	assert.Zero(t, n, "and the codes go with it")
	res, err := e.svc.SignIn(ctx, "off@example.org", "correct horse")
	require.NoError(t, err)
	assert.NotEmpty(t, res.Token)
}

func TestExportShowsFactorsNeverSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member("exp@example.org", "correct horse")
	tok, me := e.signIn("exp@example.org", "correct horse")
	secret, codes := e.withTOTP(me)
	me = e.as(tok)
	out, err := e.svc.ExportMe(me)
	require.NoError(t, err)
	b, err := json.Marshal(out)
	require.NoError(t, err)
	exp := out["accounts"].(accounts.Export)
	require.Len(t, exp.Account.Factors, 1)
	assert.Equal(t, accounts.FactorTOTP, exp.Account.Factors[0].Kind)
	assert.False(t, exp.Account.Factors[0].Created.IsZero())
	assert.Equal(t, accounts.RecoveryCodeCount, exp.Account.RecoveryCodes)
	require.Len(t, exp.Account.Sessions, 1)
	assert.NotContains(t, string(b), secret)
	assert.NotContains(t, string(b), codes[0])
	assert.NotContains(t, string(b), exp.Account.Sessions[0].Hash, "nor a session's hash")
	assert.Contains(t, string(b), `"kind":"totp"`)

	e.clock.Advance(6 * time.Minute)
	_, err = e.svc.ExportMe(e.as(tok))
	assert.Equal(t, "proof", privacy.FieldOf(err), "export needs a fresh proof")

	_, err = e.svc.Holder().(privacy.Eraser).Erase(ctx, "exp@example.org")
	require.NoError(t, err)
	v, err := e.svc.Holder().(privacy.Exporter).Export(ctx, "exp@example.org")
	require.NoError(t, err)
	assert.Nil(t, v)
}
