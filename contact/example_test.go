package contact_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/contact/memstore"
	"github.com/consentkit/consentkit/privacy"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

func examplePolicy() *privacy.Policy {
	return &privacy.Policy{
		Operator: "Example Ltd", Contact: "privacy@example.com", Sender: "noreply@example.com",
		OperatorDomains: []string{"example.com"}, Version: "2026-11-01",
	}
}

// A visitor writes in; the support inbox is told; staff answer in the request's
// thread. A form that tries to add a mail header is refused, naming the field.
func Example() {
	ctx := context.Background()
	privacyStore := privacymem.New() // privacy/mysqlstore in production, on the contact store's database
	mailer := privacy.NewMailer(examplePolicy(), privacyStore, nil)
	svc, err := contact.New(contact.Config{
		Store:        memstore.New(), // contact/mysqlstore in production
		Mailer:       mailer,
		Auditor:      &privacy.Auditor{Log: privacyStore},
		SupportInbox: "support@example.com",
		Rand:         strings.NewReader("fixed randomness, for the example's output"), // crypto/rand when nil
	})
	if err != nil {
		panic(err)
	}

	req, err := svc.Submit(ctx, contact.Submission{
		Name: "Ann", Email: "ann@example.org", Subject: "Where is my order?", Message: "Order 1234 has not arrived.",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("reference:", req.Ref, req.Status)

	sam := privacy.WithActor(ctx, privacy.Actor{ID: "7", Email: "sam@example.com", Roles: []privacy.Role{privacy.RoleSupport}})
	if _, err := svc.Reply(sam, req.Ref, "It left our warehouse today."); err != nil {
		panic(err)
	}
	got, _ := svc.Get(sam, req.Ref)
	fmt.Println("replies in the thread:", len(got.Thread))
	st, _ := privacyStore.OutboxStats(ctx, "")
	fmt.Println("messages queued:", st.Queued) // the notification to support@, the reply to ann@
	access, _ := privacyStore.ListAccess(ctx, privacy.AccessFilter{})
	fmt.Println("access records:", len(access)) // the reply and the read

	_, err = svc.Submit(ctx, contact.Submission{Email: "ann@example.org", Subject: "Hi\r\nBcc: victim@example.net", Message: "spam"})
	fmt.Println(web.HTTPStatus(err), privacy.FieldOf(err))
	// Output:
	// reference: 69R5-40J1 open
	// replies in the thread: 1
	// messages queued: 2
	// access records: 2
	// 400 subject
}

// The handler is mounted under a prefix of the host's mux; the signer's key is the
// same in every process of the site.
func ExampleNewHandler() {
	privacyStore := privacymem.New()
	svc, err := contact.New(contact.Config{Store: memstore.New(), Mailer: privacy.NewMailer(examplePolicy(), privacyStore, nil),
		Auditor: &privacy.Auditor{Log: privacyStore}, SupportInbox: "support@example.com"})
	if err != nil {
		panic(err)
	}
	h, err := contact.NewHandler(svc, contact.HandlerConfig{
		Signer:  &web.Signer{Key: []byte("a 32-byte or longer key from the site's secrets")},
		Limiter: web.NewLimiter(5, time.Hour, 5),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/contact/", http.StripPrefix("/contact", h))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/contact/", nil))
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `<form method="post" action="/contact/"`))
	// Output: 200 true
}
