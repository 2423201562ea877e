package comments_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/privacy"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// The main path: a visitor posts a comment, which waits for a moderator because it
// is the first from the address; once approved it is public, without the address.
func Example() {
	ctx := context.Background()
	policy := &privacy.Policy{Operator: "Example Ltd", Contact: "privacy@example.com", OperatorDomains: []string{"example.com"},
		Version: "2026-11-01"}
	priv := privacymem.New() // the outbox and the access log
	mailer := privacy.NewMailer(policy, priv, nil)
	svc, err := comments.New(comments.Config{
		Store:   memstore.New(),
		Mailer:  mailer,
		Auditor: &privacy.Auditor{Log: priv}, // records every moderator's read
		Key:     []byte("an example key of 32 bytes or more"),
		BaseURL: "https://example.com/comments",
	})
	if err != nil {
		panic(err)
	}

	posted, err := svc.Post(ctx, comments.Input{Thread: "blog/hello", Name: "Ann Lee", Email: "ann@example.org",
		Body: "Nice *post*! See https://go.dev", FollowUp: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(posted.Status)

	mod := privacy.WithActor(ctx, privacy.Actor{ID: "m1", Email: "mod@example.com", Roles: []privacy.Role{privacy.RoleModerator}})
	if err := svc.Approve(mod, posted.Comment.ID); err != nil {
		panic(err)
	}
	view, err := svc.Thread(ctx, "blog/hello")
	if err != nil {
		panic(err)
	}
	c := view.Comments[0]
	fmt.Println(view.Count, c.Name, c.Avatar.Initials)
	fmt.Println(c.HTML)
	// Output:
	// pending
	// 1 Ann Lee AL
	// <p>Nice <em>post</em>! See <a href="https://go.dev" rel="nofollow ugc noopener">https://go.dev</a></p>
}

// A host mounts the handler under the prefix its BaseURL names.
func ExampleNewHandler() {
	policy := &privacy.Policy{Operator: "Example Ltd", Contact: "privacy@example.com", OperatorDomains: []string{"example.com"}, Version: "1"}
	key := []byte("an example key of 32 bytes or more")
	priv := privacymem.New()
	svc, err := comments.New(comments.Config{Store: memstore.New(), Mailer: privacy.NewMailer(policy, priv, nil),
		Auditor: &privacy.Auditor{Log: priv}, Key: key, BaseURL: "https://example.com/comments"})
	if err != nil {
		panic(err)
	}
	h, err := comments.NewHandler(svc, comments.HandlerConfig{Signer: &web.Signer{Key: key}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/comments/", http.StripPrefix("/comments", h))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/comments/t/blog/hello", nil))
	fmt.Println(w.Code, w.Header().Get("Set-Cookie") == "")
	// Output: 200 true
}
