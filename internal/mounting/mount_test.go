package mounting_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	accountsmem "github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	"github.com/consentkit/consentkit/newsletter"
	newsmem "github.com/consentkit/consentkit/newsletter/memstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
	"github.com/consentkit/consentkit/tracking"
	trackingmem "github.com/consentkit/consentkit/tracking/memstore"
)

// site is where every handler is mounted: two segments deep and under names no
// default matches, so a handler that assumes its prefix fails.
const site = "http://example.com"

var key = []byte("a key of 32 bytes or more, for the tests")

// capability is one handler, mounted at prefix, and a GET and a form POST that
// must reach it.
type capability struct {
	name    string
	prefix  string
	handler func(t *testing.T, prefix string) http.Handler
	get     string // path relative to the prefix
	post    string
	form    url.Values
	// getCode and postCode are the handler's answers: a router that lost the
	// request would answer 404 (or 405) instead.
	getCode, postCode int
	// want is text the GET's page holds when the handler routed the request.
	want string
}

var capabilities = []capability{
	{
		name: "accounts", prefix: "/members/club",
		handler: func(t *testing.T, prefix string) http.Handler {
			priv := privacymem.New()
			policy := mailtest.Policy()
			svc, err := accounts.New(accounts.Config{Store: accountsmem.New(), Mailer: privacy.NewMailer(policy, priv, nil),
				Consents: &privacy.Consents{Store: priv, Policy: policy}, Auditor: &privacy.Auditor{Log: priv}, BaseURL: site + prefix,
				Argon2: accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
			require.NoError(t, err)
			h, err := accounts.NewHandler(svc, accounts.HandlerConfig{})
			require.NoError(t, err)
			return h
		},
		get: "/signin", getCode: http.StatusOK, want: `name="password"`,
		post: "/signin", form: url.Values{"email": {"nobody@example.org"}, "password": {"wrong horse battery"}}, postCode: http.StatusUnauthorized,
	},
	{
		name: "comments", prefix: "/blog/talk",
		handler: func(t *testing.T, prefix string) http.Handler {
			priv := privacymem.New()
			svc, err := comments.New(comments.Config{Store: commentsmem.New(), Mailer: privacy.NewMailer(mailtest.Policy(), priv, nil),
				Auditor: &privacy.Auditor{Log: priv}, Key: key, BaseURL: site + prefix})
			require.NoError(t, err)
			h, err := comments.NewHandler(svc, comments.HandlerConfig{Signer: &web.Signer{Key: key}})
			require.NoError(t, err)
			return h
		},
		get: "/t/hello", getCode: http.StatusOK, want: `id="comment-form"`,
		// No form stamp: the handler refuses it, showing the form again.
		post: "/t/hello", form: url.Values{"name": {"Ann"}, "email": {"ann@example.org"}, "body": {"Hello"}}, postCode: http.StatusBadRequest,
	},
	{
		name: "contact", prefix: "/help/write",
		handler: func(t *testing.T, prefix string) http.Handler {
			priv := privacymem.New()
			svc, err := contact.New(contact.Config{Store: contactmem.New(), Mailer: privacy.NewMailer(mailtest.Policy(), priv, nil),
				Auditor: &privacy.Auditor{Log: priv}, SupportInbox: "support@example.com"})
			require.NoError(t, err)
			h, err := contact.NewHandler(svc, contact.HandlerConfig{Signer: &web.Signer{Key: key}, BaseURL: prefix})
			require.NoError(t, err)
			return h
		},
		get: "/", getCode: http.StatusOK, want: `name="message"`,
		post: "/", form: url.Values{"email": {"ann@example.org"}, "subject": {"Hi"}, "message": {"Hello"}}, postCode: http.StatusBadRequest,
	},
	{
		name: "newsletter", prefix: "/news/letters",
		handler: func(t *testing.T, prefix string) http.Handler {
			priv := privacymem.New()
			policy := mailtest.Policy()
			svc, err := newsletter.New(newsletter.Config{Store: newsmem.New(), Mailer: privacy.NewMailer(policy, priv, nil), Outbox: priv,
				Consents: &privacy.Consents{Store: priv, Policy: policy}, Auditor: &privacy.Auditor{Log: priv}, Secret: key, BaseURL: site + prefix})
			require.NoError(t, err)
			h, err := newsletter.NewHandler(svc, newsletter.HandlerConfig{})
			require.NoError(t, err)
			return h
		},
		get: "/subscribe", getCode: http.StatusOK, want: `id="newsletter-email"`,
		post: "/subscribe", form: url.Values{"email": {"ann@example.org"}, "newsletter": {"on"}}, postCode: http.StatusBadRequest,
	},
	{
		name: "tracking", prefix: "/staff/counts",
		handler: func(t *testing.T, prefix string) http.Handler {
			store := trackingmem.New()
			today := tracking.Day.Truncate(time.Now())
			require.NoError(t, store.Add(context.Background(), tracking.NewKey(), []tracking.Count{{Dim: tracking.Paths, Period: tracking.Day, Start: today, Value: "/", N: 50}}))
			svc, err := tracking.New(tracking.Config{Store: store})
			require.NoError(t, err)
			h, err := tracking.NewHandler(svc, tracking.HandlerConfig{BaseURL: prefix})
			require.NoError(t, err)
			return h
		},
		get: "/", getCode: http.StatusOK, want: `page?path=`,
		// The reports change nothing: the handler itself refuses a POST.
		post: "/", form: url.Values{"from": {"2026-01-01"}}, postCode: http.StatusMethodNotAllowed,
	},
	{
		name: "privacy", prefix: "/legal/data",
		handler: func(t *testing.T, prefix string) http.Handler {
			store := privacymem.New()
			policy := mailtest.Policy()
			mailer := privacy.NewMailer(policy, store, nil)
			registry := &privacy.Registry{}
			rights := &privacy.Rights{Store: store, Registry: registry, Mailer: mailer, BaseURL: site + prefix + "/confirm"}
			mailer.Allow(privacy.PurposeDataRights, rights)
			auditor := &privacy.Auditor{Log: store}
			h, err := web.New(web.Config{Policy: policy, Rights: rights, Disclosures: &privacy.Disclosures{Store: store, Registry: registry, Auditor: auditor},
				Store: store, Auditor: auditor, BaseURL: prefix})
			require.NoError(t, err)
			return h
		},
		get: "/request", getCode: http.StatusOK, want: `id="kind-erase"`,
		post: "/request", form: url.Values{"email": {"not an address"}, "kind": {"export"}}, postCode: http.StatusBadRequest,
	},
}

// routers mount h at prefix the way a host using each would.
var routers = []struct {
	name  string
	mount func(handlers map[string]http.Handler) http.Handler
}{
	{"ServeMux", func(hs map[string]http.Handler) http.Handler {
		m := http.NewServeMux()
		for prefix, h := range hs {
			m.Handle(prefix+"/", h)
		}
		return m
	}},
	{"ServeMuxStripPrefix", func(hs map[string]http.Handler) http.Handler {
		m := http.NewServeMux()
		for prefix, h := range hs {
			m.Handle(prefix+"/", http.StripPrefix(prefix, h))
		}
		return m
	}},
	{"chi", func(hs map[string]http.Handler) http.Handler {
		r := chi.NewRouter()
		for prefix, h := range hs {
			r.Mount(prefix, h)
		}
		return r
	}},
	{"gorilla", func(hs map[string]http.Handler) http.Handler {
		r := mux.NewRouter()
		for prefix, h := range hs {
			r.PathPrefix(prefix).Handler(h)
		}
		return r
	}},
}

var linkRE = regexp.MustCompile(`(?:href|action)="([^"]*)"`)

func TestMountedUnderPrefix(t *testing.T) {
	for _, rt := range routers {
		t.Run(rt.name, func(t *testing.T) {
			hs := map[string]http.Handler{}
			for _, c := range capabilities {
				hs[c.prefix] = c.handler(t, c.prefix)
			}
			srv := httptest.NewServer(rt.mount(hs))
			defer srv.Close()
			for _, c := range capabilities {
				t.Run(c.name, func(t *testing.T) {
					res, err := srv.Client().Get(srv.URL + c.prefix + c.get)
					require.NoError(t, err)
					body := read(t, res)
					require.Equal(t, c.getCode, res.StatusCode, "GET %s%s: %s", c.prefix, c.get, body)
					assert.Contains(t, body, c.want, "the handler's page")
					links := linkRE.FindAllStringSubmatch(body, -1)
					require.NotEmpty(t, links, "the page has links")
					for _, l := range links {
						if strings.HasPrefix(l[1], "data:") {
							continue // a download made in the page (tracking's CSV): no request
						}
						assert.True(t, underPrefix(l[1], c.prefix), "link %q on %s%s, want one under %s", l[1], c.prefix, c.get, c.prefix)
					}

					res, err = srv.Client().PostForm(srv.URL+c.prefix+c.post, c.form)
					require.NoError(t, err)
					body = read(t, res)
					assert.Equal(t, c.postCode, res.StatusCode, "POST %s%s: %s", c.prefix, c.post, body)
				})
			}
		})
	}
}

// underPrefix reports whether link, as written on a page, leads under prefix: a
// path or a URL of the site under it, or a link within the page itself. A
// relative path would depend on the URL the page was asked for.
func underPrefix(link, prefix string) bool {
	link = strings.ReplaceAll(link, "&amp;", "&")
	switch {
	case link == "", strings.HasPrefix(link, "#"), strings.HasPrefix(link, "?"):
		return true
	case strings.HasPrefix(link, site):
		link = strings.TrimPrefix(link, site)
	}
	return link == prefix || strings.HasPrefix(link, prefix+"/") || strings.HasPrefix(link, prefix+"?")
}

func read(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}
