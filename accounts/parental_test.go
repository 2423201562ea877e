package accounts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privmem "github.com/consentkit/consentkit/privacy/memstore"
	privmysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

func childBirthDate() string { return time.Now().AddDate(-9, 0, 0).Format("2 January 2006") }

func TestParentalConsent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	child := accounts.RegisterInput{Email: "kid@example.org", Password: "dinosaurs rock", DisplayName: "Kiddo", BirthDate: childBirthDate(), Newsletter: true}

	res, err := e.svc.Register(ctx, child)
	require.NoError(t, err)
	assert.True(t, res.ParentalConsentRequired)
	assert.False(t, res.Pending)
	assert.NotContains(t, res.Message, "13", "the age screen gives no hint of the cutoff")
	_, err = e.store.AccountByEmail(ctx, "kid@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "nothing about the child is stored")
	hist, _ := e.priv.ConsentHistory(ctx, "kid@example.org")
	assert.Empty(t, hist)

	_, err = e.svc.RequestParentalConsent(ctx, "not-an-address")
	assert.Equal(t, "parent_email", privacy.FieldOf(err))
	code, err := e.svc.RequestParentalConsent(ctx, "Mum@Example.org")
	require.NoError(t, err)
	ask := e.mailTo("Mum@example.org", "Your child would like to register")
	assert.Contains(t, ask.Text, "We have stored nothing about the child")
	assert.NotContains(t, ask.Text, "kid@example.org")
	assert.NotContains(t, ask.Text, code, "the child's code is not in the parent's mail")
	parentToken := e.linkToken(ask)

	child.ConsentCode = code
	_, err = e.svc.Register(ctx, child)
	assert.Equal(t, "consent_code", privacy.FieldOf(err), "not approved yet")

	require.NoError(t, e.svc.AnswerParental(ctx, parentToken, true))
	res, err = e.svc.Register(ctx, child)
	require.NoError(t, err)
	assert.True(t, res.Pending)
	a, err := e.store.AccountByEmail(ctx, "kid@example.org")
	require.NoError(t, err)
	assert.Equal(t, accounts.AgeConsent, a.AgeScreen)
	assert.Equal(t, "Mum@example.org", a.ParentEmail)
	hist, _ = e.priv.ConsentHistory(ctx, "Mum@example.org")
	require.Len(t, hist, 1)
	assert.Equal(t, accounts.PurposeParentalConsent, hist[0].Purpose)
	assert.True(t, hist[0].Granted)

	child.Email = "kid2@example.org"
	_, err = e.svc.Register(ctx, child)
	assert.Equal(t, "consent_code", privacy.FieldOf(err), "a code is used once")

	// Email plus: the confirmation follows the approval after a delay.
	n, err := e.svc.SendParentalConfirmations(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	e.clock.Advance(24*time.Hour + time.Minute)
	n, err = e.svc.SendParentalConfirmations(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, _ = e.svc.SendParentalConfirmations(ctx)
	assert.Zero(t, n, "sent once")
	confirm := e.mailTo("Mum@example.org", "You agreed that your child may register")
	revoke := e.linkToken(confirm)
	assert.NotEqual(t, parentToken, revoke)
	assert.ErrorIs(t, e.svc.AnswerParental(ctx, parentToken, false), privacy.ErrGone, "the first link was replaced")

	// The parent changes their mind: the child's account goes.
	require.NoError(t, e.svc.AnswerParental(ctx, revoke, false))
	_, err = e.store.AccountByEmail(ctx, "kid@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound)
	hist, _ = e.priv.ConsentHistory(ctx, "Mum@example.org")
	require.Len(t, hist, 2)
	assert.False(t, hist[1].Granted, "the withdrawal is on the record")
	ps, _ := e.store.ParentalFor(ctx, "Mum@example.org")
	assert.Empty(t, ps)
	_, err = e.mail.Mailer.Send(ctx, privacy.Message{Purpose: accounts.PurposeParentalConsent, DataSubject: "Mum@example.org",
		To: privacy.Address{Email: "Mum@example.org"}, Subject: "s", Text: "t"})
	assert.ErrorIs(t, err, privacy.ErrRefused, "no request on file, no parental mail")
}

func TestParentalRefusedAndUnanswered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.RequestParentalConsent(ctx, "no@example.org")
	require.NoError(t, err)
	require.NoError(t, e.svc.AnswerParental(ctx, e.linkToken(e.mailTo("no@example.org", "Your child")), false))
	ps, _ := e.store.ParentalFor(ctx, "no@example.org")
	assert.Empty(t, ps, "a refusal deletes the parent's address at once")
	hist, _ := e.priv.ConsentHistory(ctx, "no@example.org")
	assert.Empty(t, hist, "and leaves no consent record holding it")

	_, err = e.svc.RequestParentalConsent(ctx, "silent@example.org")
	require.NoError(t, err)
	v, err := e.svc.Holder().(privacy.Exporter).Export(ctx, "silent@example.org")
	require.NoError(t, err)
	require.Len(t, v.(accounts.Export).Parental, 1, "the parent can see what is held")
	purger := e.svc.Holder().(privacy.Purger)
	_, err = purger.Purge(ctx, e.clock.Now().Add(13*24*time.Hour))
	require.NoError(t, err)
	ps, _ = e.store.ParentalFor(ctx, "silent@example.org")
	require.Len(t, ps, 1, "kept while the parent may still answer")
	_, err = purger.Purge(ctx, e.clock.Now().Add(14*24*time.Hour+time.Second))
	require.NoError(t, err)
	ps, _ = e.store.ParentalFor(ctx, "silent@example.org")
	assert.Empty(t, ps, "no answer in 14 days: the parent's address is deleted")
	assert.ErrorIs(t, e.svc.AnswerParental(ctx, strings.Repeat("A", 43), true), privacy.ErrGone)
	assert.Equal(t, "token", privacy.FieldOf(e.svc.AnswerParental(ctx, "short", true)))
}

func TestEraseParentErasesChildAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	code, err := e.svc.RequestParentalConsent(ctx, "dad@example.org")
	require.NoError(t, err)
	require.NoError(t, e.svc.AnswerParental(ctx, e.linkToken(e.mailTo("dad@example.org", "Your child")), true))
	_, err = e.svc.Register(ctx, accounts.RegisterInput{Email: "son@example.org", Password: "dinosaurs rock", BirthDate: childBirthDate(), ConsentCode: code})
	require.NoError(t, err)
	res, err := e.registry.Erase(ctx, "dad@example.org")
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Positive(t, res[0].Removed)
	_, err = e.store.AccountByEmail(ctx, "son@example.org")
	assert.ErrorIs(t, err, privacy.ErrNotFound, "the consent that allowed the account is gone")
}

// allText returns every text value in every table of the database, to search for
// what a flow stored.
func allText(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var tables []string
	require.NoError(t, db.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`))
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.Queryx("SELECT * FROM `" + tbl + "`")
		require.NoError(t, err)
		for rows.Next() {
			vals, err := rows.SliceScan()
			require.NoError(t, err)
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\t%s\n", tbl, v)
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return b.String()
}

func newMySQLEnv(t *testing.T, opts ...func(*accounts.Config)) (*env, *sqlx.DB) {
	t.Helper()
	db := mysqltest.New(t)
	st := mysqlstore.New(db)
	require.NoError(t, st.Migrate(context.Background()))
	priv := privmysql.New(db)
	require.NoError(t, priv.Migrate(context.Background()))
	return newEnvWith(t, st, priv, opts...), db
}

func TestUnder13StoresNothingAboutTheChild(t *testing.T) {
	e, db := newMySQLEnv(t)
	ctx := context.Background()
	before := allText(t, db)
	child := accounts.RegisterInput{Email: "tiny.tim@example.org", Password: "Sup3rSecretKid", DisplayName: "Tiny Tim", BirthDate: childBirthDate(), Newsletter: true}
	res, err := e.svc.Register(ctx, child)
	require.NoError(t, err)
	require.True(t, res.ParentalConsentRequired)
	assert.Equal(t, before, allText(t, db), "an under-13 registration writes no row at all")

	_, err = e.svc.RequestParentalConsent(ctx, "parent.of.tim@example.org")
	require.NoError(t, err)
	e.mailTo("parent.of.tim@example.org", "Your child")
	after := allText(t, db)
	for _, s := range []string{"tiny.tim", "Tiny Tim", child.BirthDate, "Sup3rSecretKid"} {
		assert.NotContains(t, after, s, "nothing about the child, only the parent's address")
	}
	assert.Contains(t, after, "parent.of.tim@example.org")
}

func TestMySQLRegistrationIsOneTransaction(t *testing.T) {
	e, db := newMySQLEnv(t)
	ctx := context.Background()
	_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "tx@example.org", Password: "correct horse", BirthDate: "1990-01-01", Newsletter: true, Promotions: true})
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM privacy_consent WHERE subject = 'tx@example.org'`))
	assert.Equal(t, 2, n)
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM privacy_outbox WHERE recipient = 'tx@example.org'`))
	assert.Equal(t, 1, n)

	// A refused verification mail leaves no account, token or consent record. The
	// store refuses a suppressed address; account mail is answered alike by
	// default (TestSuppressedAddressAnsweredAlike), so the mailer is told to
	// limit nothing here, which makes the refusal an error again.
	e.mail.Mailer.SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{}})
	require.NoError(t, e.priv.Suppress(ctx, "gone@example.org", "550", time.Now()))
	_, err = e.svc.Register(ctx, accounts.RegisterInput{Email: "gone@example.org", Password: "correct horse", BirthDate: "1990-01-01", Newsletter: true})
	require.ErrorIs(t, err, privacy.ErrRefused)
	for _, q := range []string{`SELECT COUNT(*) FROM accounts_accounts WHERE email = 'gone@example.org'`,
		`SELECT COUNT(*) FROM accounts_tokens WHERE email = 'gone@example.org'`,
		`SELECT COUNT(*) FROM privacy_consent WHERE subject = 'gone@example.org'`} {
		require.NoError(t, db.Get(&n, q))
		assert.Zero(t, n, q)
	}
	e.mailTo("tx@example.org", "Confirm your address")
}

// TestRefusedMailLeavesNothing: a registration and a reset link whose mail cannot
// be queued leave no account, token or consent record, in memory as in MySQL.
func TestRefusedMailLeavesNothing(t *testing.T) {
	envs := map[string]func(t *testing.T) *env{
		"mem":   func(t *testing.T) *env { return newEnv(t) },
		"mysql": func(t *testing.T) *env { e, _ := newMySQLEnv(t); return e },
	}
	for name, newEnv := range envs {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			// Account mail is answered alike by default; limiting nothing makes a
			// refusal an error again (see TestMySQLRegistrationIsOneTransaction).
			e.mail.Mailer.SetLimits(privacy.MailLimits{PerPurpose: map[privacy.Purpose]int{}})
			require.NoError(t, e.priv.Suppress(ctx, "gone@example.org", "550", time.Now()))
			_, err := e.svc.Register(ctx, accounts.RegisterInput{Email: "gone@example.org", Password: "correct horse", BirthDate: "1990-01-01", Newsletter: true})
			require.ErrorIs(t, err, privacy.ErrRefused)
			_, err = e.store.AccountByEmail(ctx, "gone@example.org")
			assert.ErrorIs(t, err, privacy.ErrNotFound, "no account")
			tokens, err := e.store.TokensTo(ctx, "gone@example.org")
			require.NoError(t, err)
			assert.Empty(t, tokens, "no token")
			hist, err := e.priv.ConsentHistory(ctx, "gone@example.org")
			require.NoError(t, err)
			assert.Empty(t, hist, "no consent record")
			st, err := e.priv.OutboxStats(ctx, "")
			require.NoError(t, err)
			assert.Zero(t, st.Total(), "no message")
		})
	}
}

// TestNewRefusesStoresOnTwoDatabases: an account and the mail it causes must
// commit together, so New refuses a store on another database than the Mailer's.
func TestNewRefusesStoresOnTwoDatabases(t *testing.T) {
	db := mysqltest.New(t)
	sqlStore := mysqlstore.New(db)
	cases := map[string]struct {
		store accounts.Store
		priv  privacy.Store
	}{
		"MySQLBesideMemory": {sqlStore, privmem.New()},
		"MemoryBesideMySQL": {memstore.New(), privmysql.New(db)},
		"TwoPools":          {sqlStore, privmysql.New(mysqltest.New(t))},
	}
	cfg := func(store accounts.Store, ps privacy.Store) accounts.Config {
		m := privacy.NewMailer(mailtest.Policy(), ps, nil)
		return accounts.Config{Store: store, Mailer: m, Consents: &privacy.Consents{Store: ps, Policy: m.Policy()},
			Registry: &privacy.Registry{}, Auditor: &privacy.Auditor{Log: ps}, Argon2: fastArgon}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := accounts.New(cfg(tc.store, tc.priv))
			require.ErrorContains(t, err, "must be on one database")
			assert.ErrorContains(t, err, "accounts")
		})
	}
	_, err := accounts.New(cfg(sqlStore, privmysql.New(db)))
	require.NoError(t, err, "one pool is one database")
}
