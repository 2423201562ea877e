package accounts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	privmysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// TestMailBombingStrangers replays audit #13 finding 5 through the HTTP handler: 100
// requests, each from a fresh client address (so the per-client limiter never
// trips), that each make the site mail one address that consented to nothing. The
// address receives at most the 3 messages a day the accounts contract allows,
// and every request gets the same answer.
func TestMailBombingStrangers(t *testing.T) {
	const victim = "victim@example.org"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *env) string // returns the bearer token to use, if any
		path  string
		body  func(i int) map[string]any
	}{
		{name: "Register", path: "/accounts/register", body: func(int) map[string]any {
			return map[string]any{"email": victim, "password": "correct horse", "birth_date": "1990-01-01"}
		}},
		{name: "Reset", path: "/accounts/reset",
			// Someone registered the stranger's address and never confirmed it.
			setup: func(t *testing.T, e *env) string {
				_, err := e.svc.Register(context.Background(), accounts.RegisterInput{Email: victim, Password: "correct horse", BirthDate: "1990-01-01"})
				require.NoError(t, err)
				return ""
			},
			body: func(int) map[string]any { return map[string]any{"email": victim} }},
		{name: "ResetVerifiedMember", path: "/accounts/reset",
			setup: func(t *testing.T, e *env) string { e.member(victim, "correct horse"); return "" },
			body:  func(int) map[string]any { return map[string]any{"email": victim} }},
		{name: "AddressChangeTarget", path: "/accounts/me/email",
			setup: func(t *testing.T, e *env) string {
				e.member("mallory@example.org", "correct horse")
				token, _ := e.signIn("mallory@example.org", "correct horse")
				return token
			},
			body: func(int) map[string]any { return map[string]any{"email": victim, "password": "correct horse"} }},
		{name: "ParentalRequest", path: "/accounts/parental/request", body: func(int) map[string]any {
			return map[string]any{"parent_email": victim}
		}},
	} {
		for _, procs := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%dprocess", tc.name, procs), func(t *testing.T) {
				token := ""
				es, servers := sites(t, procs, func(e *env) {
					if tc.setup != nil {
						token = tc.setup(t, e)
					}
				})
				before := delivered(t, es, victim)
				var first resp
				for i := range 100 {
					s := servers[i%len(servers)]
					r := s.do(http.MethodPost, tc.path, token, "application/json", jsonBody(tc.body(i)),
						"Accept", "application/json", "X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250, i%250+1))
					require.Less(t, r.status, 300, "request %d: %s", i, r.body)
					if i == 0 {
						first = r
						continue
					}
					if tc.name != "ParentalRequest" { // its answer carries a fresh code each time
						assert.Equal(t, first.body, r.body, "request %d is answered like the first", i)
					}
					assert.Equal(t, first.status, r.status, "request %d", i)
				}
				got := delivered(t, es, victim)
				assert.LessOrEqual(t, got-before, 3, "at most 3 of the 100 requests reach the address")
				assert.Positive(t, got, "the first requests are still served")
			})
		}
	}
}

// sites starts n sites: one over memory stores, or n processes' worth of Services,
// handlers, mailers and dispatchers over one MySQL database. Each handler limits
// clients to 5 requests an hour, as a real site would. setup runs on the first
// before the others start, so that the mail it waits for is delivered by the
// first's dispatcher to the first's mail server, not claimed by another's.
func sites(t *testing.T, n int, setup func(*env)) ([]*env, []*server) {
	t.Helper()
	var es []*env
	if n == 1 {
		es = append(es, newEnv(t))
		setup(es[0])
	} else {
		ctx := context.Background()
		dsn := mysqltest.NewDSN(t)
		for i := range n {
			if i == 1 {
				setup(es[0])
			}
			db, err := mysqldb.Open(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			st, priv := mysqlstore.New(db), privmysql.New(db)
			require.NoError(t, st.Migrate(ctx))
			require.NoError(t, priv.Migrate(ctx))
			es = append(es, newEnvWith(t, st, priv))
		}
	}
	var servers []*server
	for _, e := range es {
		servers = append(servers, newServer(t, e, accounts.HandlerConfig{TrustedHeader: "X-Forwarded-For", Limiter: web.NewLimiter(5, time.Hour, 5)}))
	}
	return es, servers
}

// delivered waits until the outbox holds nothing queued, and returns how many
// messages addr received through any of the sites.
func delivered(t *testing.T, es []*env, addr string) int {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, e := range es {
			e.mail.Dispatcher.Wake()
		}
		st, err := es[0].priv.OutboxStats(context.Background(), "")
		return err == nil && st.Queued == 0
	}, 10*time.Second, 10*time.Millisecond)
	n := 0
	for _, e := range es {
		n += len(e.mail.Server.To(addr))
	}
	return n
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}
