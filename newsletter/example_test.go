package newsletter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing/fstest"
	"time"

	"github.com/consentkit/consentkit/newsletter"
	newsmem "github.com/consentkit/consentkit/newsletter/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// The main path: a visitor subscribes and confirms (double opt-in), an editor sends a
// campaign, and the member leaves with the link every campaign mail carries.
func Example() {
	ctx := context.Background()
	policy := mailtest.Policy() // the site's privacy promises; a real site writes its own
	priv := privacymem.New()    // outbox and consent records; privacy/mysqlstore in production
	mailer := privacy.NewMailer(policy, priv, nil)

	inbox, _ := mailtest.Start() // a real SMTP server on 127.0.0.1 standing in for the relay
	defer inbox.Close()
	port, _ := strconv.Atoi(inbox.Port())
	relay, _ := smtp.New(smtp.Config{Host: inbox.Host(), Port: port, TLS: "none"})
	dispatcher := &privacy.Dispatcher{Store: priv, Transport: relay, Mailer: mailer, Poll: 10 * time.Millisecond}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go dispatcher.Run(runCtx)

	svc, err := newsletter.New(newsletter.Config{
		Store: newsmem.New(), Mailer: mailer, Outbox: priv,
		Consents: &privacy.Consents{Store: priv, Policy: policy},
		Auditor:  &privacy.Auditor{Log: priv}, // records every complaint staff relay
		Secret:   []byte("at least 32 random bytes, shared by every process"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	_ = svc.Subscribe(ctx, "ann@example.org", []newsletter.List{newsletter.ListNewsletter})
	confirmation := inbox.Wait(1, 5*time.Second)[0]
	fmt.Println(confirmation.Subject())
	tok := regexp.MustCompile(`confirm\?t=([A-Za-z0-9_-]+)`).FindStringSubmatch(confirmation.Text)[1]
	lists, _ := svc.Confirm(ctx, tok) // what a POST from the confirmation page does
	fmt.Println("confirmed:", lists)

	staff := privacy.WithActor(ctx, privacy.Actor{ID: "ed1", Roles: []privacy.Role{privacy.RoleEditor}})
	c, _ := svc.CreateCampaign(staff, newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Spring issue", Markdown: "Hello **readers**."})
	_, _ = svc.Schedule(staff, c.ID, time.Time{}) // now; Run would pick it up
	_, _ = svc.SendDue(ctx)
	issue := inbox.Wait(2, 5*time.Second)[1]
	fmt.Println(issue.Subject(), "|", issue.Header.Get("List-Unsubscribe-Post"))

	unsub := regexp.MustCompile(`unsubscribe\?t=([A-Za-z0-9_-]+)`).FindStringSubmatch(issue.Header.Get("List-Unsubscribe"))[1]
	left, _ := svc.Unsubscribe(ctx, unsub) // what the mail provider's one-click POST does
	fmt.Println("left:", left)
	ok, _ := svc.Allows(ctx, newsletter.PurposeNewsletter, "ann@example.org")
	fmt.Println("may be mailed the newsletter:", ok)

	// Output:
	// Please confirm your subscription to Newsletter of Example Ltd
	// confirmed: [newsletter]
	// Spring issue | List-Unsubscribe=One-Click
	// left: newsletter
	// may be mailed the newsletter: false
}

// A host translates one page's title with a template of its own and keeps every
// other word of the defaults. Its files usually come from a directory of copies of
// DefaultTemplates (os.DirFS("templates/newsletter")), given to the Service too.
func ExampleHandlerConfig_templates() {
	policy := mailtest.Policy()
	priv := privacymem.New()
	svc, err := newsletter.New(newsletter.Config{
		Store: newsmem.New(), Mailer: privacy.NewMailer(policy, priv, nil), Outbox: priv,
		Consents: &privacy.Consents{Store: priv, Policy: policy}, Auditor: &privacy.Auditor{Log: priv},
		Secret: []byte("at least 32 random bytes, shared by every process"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := newsletter.NewHandler(svc, newsletter.HandlerConfig{Templates: fstest.MapFS{
		"fr.html": {Data: []byte(`{{define "subscribe-title"}}Abonnez-vous{{end}}`)},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/newsletter/subscribe", nil))
	fmt.Println(regexp.MustCompile(`<h1>.*</h1>|<button.*</button>`).FindAllString(w.Body.String(), -1))

	_, err = newsletter.NewHandler(svc, newsletter.HandlerConfig{Templates: fstest.MapFS{
		"fr.html": {Data: []byte(`{{define "subscribe-titel"}}Abonnez-vous{{end}}`)},
	}})
	fmt.Println(err)

	// Output:
	// [<h1>Abonnez-vous</h1> <button type="submit">Subscribe</button>]
	// newsletter: HandlerConfig.Templates: templates: override: fr.html defines "subscribe-titel", which is not a template of this package
}
