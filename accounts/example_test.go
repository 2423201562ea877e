package accounts_test

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privmem "github.com/consentkit/consentkit/privacy/memstore"
)

// The main path: register with an opt-in, follow the mailed link, sign in, and
// act as the signed-in member.
func Example() {
	ctx := context.Background()
	priv := privmem.New() // outbox and consent records
	policy := mailtest.Policy()
	mailer := privacy.NewMailer(policy, priv, nil)
	svc, err := accounts.New(accounts.Config{
		Store:    memstore.New(),
		Mailer:   mailer,
		Consents: &privacy.Consents{Store: priv, Policy: policy},
		Auditor:  &privacy.Auditor{Log: priv},                            // every staff read of a member's data is recorded
		Argon2:   accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}, // the default is the OWASP minimum; low here to run fast
	})
	if err != nil {
		panic(err)
	}

	res, err := svc.Register(ctx, accounts.RegisterInput{
		Email: "ann@example.org", Password: "correct horse", BirthDate: "1990-04-30", Newsletter: true,
	})
	fmt.Println(res.Pending, err)

	// A Dispatcher would deliver the verification mail; here it is read from the outbox.
	items, _ := priv.Claim(ctx, "example", 10, time.Now().Add(time.Second), time.Minute)
	token := regexp.MustCompile(`token=([\w-]+)`).FindStringSubmatch(items[0].Message.Text)[1]
	fmt.Println(items[0].Message.Purpose, items[0].Message.To.Email)
	fmt.Println(svc.Verify(ctx, token, "correct horse"))

	in, err := svc.SignIn(ctx, "ann@example.org", "correct horse")
	fmt.Println(len(in.Token), err)
	actor, _ := svc.Actor(ctx, in.Token) // what Service.Authenticate puts in each request's context
	me, _ := svc.Me(privacy.WithActor(ctx, actor))
	fmt.Println(me.Email, me.Verified, me.AgeScreen)

	consents, _ := priv.ConsentHistory(ctx, "ann@example.org")
	fmt.Println(consents[0].Purpose, consents[0].Granted, consents[0].Source)
	// Output:
	// true <nil>
	// account ann@example.org
	// <nil>
	// 43 <nil>
	// ann@example.org true 13-or-over
	// newsletter true registration
}
