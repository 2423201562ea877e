package accounts_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/privacy"
	privmem "github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/web"
)

// TestEnumerationTiming checks that register, sign-in and reset take about the same
// time whether the address has an account or not: the medians of 30 tries each
// are within 20%. The code path is the real one through the handler; only the
// argon2 cost is lowered to keep the test short, and the hash is still what
// dominates each answer, as it does at the real cost.
func TestEnumerationTiming(t *testing.T) {
	memory := uint32(4096)
	if raceEnabled {
		memory = 2048 // still many times the rest of the request's cost, which the detector slows alike
	}
	e := newEnv(t, func(c *accounts.Config) {
		c.Argon2 = accounts.Argon2Params{Memory: memory, Time: 1, Threads: 1}
		c.MaxFailures = 1_000 // the per-account throttle is tested on its own
	})
	s := newServer(t, e, accounts.HandlerConfig{})
	e.member("known@example.org", "correct horse")
	const tries = 30
	for _, tc := range []struct {
		path string
		body func(addr string) map[string]any
	}{
		{"/accounts/signin", func(a string) map[string]any { return map[string]any{"email": a, "password": "wrong horse"} }},
		{"/accounts/register", func(a string) map[string]any {
			return map[string]any{"email": a, "password": "another horse", "birth_date": "1990-01-01"}
		}},
		{"/accounts/reset", func(a string) map[string]any { return map[string]any{"email": a} }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// The machine is shared, so a burst of load elsewhere can skew one round;
			// a real difference between the paths skews every round alike.
			for round := 1; ; round++ {
				ratio, mk, mu := compare(t, tries, func(addr string) (time.Duration, resp) {
					start := time.Now()
					r := s.json(http.MethodPost, tc.path, "", tc.body(addr))
					return time.Since(start), r
				}, round)
				t.Logf("round %d: median known %v, unknown %v, ratio %.3f", round, mk, mu, ratio)
				if ratio <= 1.2 || round == 5 {
					assert.LessOrEqual(t, ratio, 1.2, "known %v vs unknown %v", mk, mu)
					return
				}
			}
		})
	}
}

// compare measures tries known and unknown requests and returns the ratio of the
// larger median to the smaller.
func compare(t *testing.T, tries int, measure func(addr string) (time.Duration, resp), round int) (float64, time.Duration, time.Duration) {
	var known, unknown []time.Duration
	measure(fmt.Sprintf("warm-up%d@example.org", round))
	for i := range tries {
		// Interleaved in a random order, so that load from elsewhere on the
		// machine, and garbage collection after each hash's allocation, fall
		// on both alike.
		var rk, ru resp
		var dk, du time.Duration
		unknownAddr := fmt.Sprintf("unknown%d-%d@example.org", round, i)
		if rand.IntN(2) == 0 {
			dk, rk = measure("known@example.org")
			du, ru = measure(unknownAddr)
		} else {
			du, ru = measure(unknownAddr)
			dk, rk = measure("known@example.org")
		}
		known, unknown = append(known, dk), append(unknown, du)
		require.Equal(t, ru.status, rk.status)
		require.Equal(t, ru.body, rk.body)
	}
	mk, mu := median(known), median(unknown)
	return float64(max(mk, mu)) / float64(min(mk, mu)), mk, mu
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSignInTimingMedians measures what the audit measured (issue 13, finding 15):
// 200 sign-ins each with a wrong password for an address that has an account and
// for one that has none, through the real handler at the default argon2
// parameters, on the memory store and on MySQL, interleaved. It logs the medians
// and wants them within 2 ms. It takes about a minute, so it runs only with
// CONSENTKIT_TIMING=1:
//
//	CONSENTKIT_TIMING=1 go test -run SignInTimingMedians -v ./accounts/
func TestSignInTimingMedians(t *testing.T) {
	if os.Getenv("CONSENTKIT_TIMING") != "1" {
		t.Skip("set CONSENTKIT_TIMING=1 to measure sign-in timings at the default argon2 parameters")
	}
	opt := func(c *accounts.Config) {
		c.Argon2 = accounts.DefaultArgon2
		c.MaxFailures = 1_000 // the throttle would answer both alike, without a hash
	}
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) *env
	}{
		{"memstore", func(t *testing.T) *env { return newEnv(t, opt) }},
		{"mysql", func(t *testing.T) *env { e, _ := newMySQLEnv(t, opt); return e }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env(t)
			s := newServer(t, e, accounts.HandlerConfig{})
			e.member("known@example.org", "correct horse")
			_, mk, mu := compare(t, 200, func(addr string) (time.Duration, resp) {
				start := time.Now()
				r := s.json(http.MethodPost, "/accounts/signin", "", map[string]any{"email": addr, "password": "wrong horse"})
				return time.Since(start), r
			}, 1)
			diff := mk - mu
			t.Logf("median of 200: known address %v, unknown address %v, difference %v", mk, mu, diff)
			assert.LessOrEqual(t, diff.Abs(), 2*time.Millisecond, "known %v vs unknown %v", mk, mu)
		})
	}
}

// callStore records the store calls a sign-in can make.
type callStore struct {
	accounts.Store
	mu    sync.Mutex
	calls []string
}

func (s *callStore) record(name string) {
	s.mu.Lock()
	s.calls = append(s.calls, name)
	s.mu.Unlock()
}

// take returns the calls recorded since the last take.
func (s *callStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *callStore) AccountByEmail(ctx context.Context, email string) (accounts.Account, error) {
	s.record("AccountByEmail")
	return s.Store.AccountByEmail(ctx, email)
}

func (s *callStore) AccountByID(ctx context.Context, id string) (accounts.Account, error) {
	s.record("AccountByID")
	return s.Store.AccountByID(ctx, id)
}

func (s *callStore) SetPassword(ctx context.Context, id, hash string, revoke bool) error {
	s.record("SetPassword")
	return s.Store.SetPassword(ctx, id, hash, revoke)
}

func (s *callStore) CreateSession(ctx context.Context, sess accounts.Session) error {
	s.record("CreateSession")
	return s.Store.CreateSession(ctx, sess)
}

// A wrong password for an address with an account costs the store exactly what
// an address without one costs: one look-up and no write. A write on one path
// only (the failure count, a transaction on MySQL) was what made the first
// slower (audit #13 finding 15).
func TestSignInSameStoreWorkOnBothPaths(t *testing.T) {
	st := &callStore{Store: memstore.New()}
	e := newEnvWith(t, st, privmem.New())
	e.member("known@example.org", "correct horse")
	ctx := context.Background()
	for i := range 12 {
		st.take()
		_, errKnown := e.svc.SignIn(ctx, "known@example.org", "wrong horse")
		known := st.take()
		_, errUnknown := e.svc.SignIn(ctx, "unknown@example.org", "wrong horse")
		unknown := st.take()
		assert.Equal(t, unknown, known, "try %d", i+1)
		assert.Equal(t, web.HTTPStatus(errUnknown), web.HTTPStatus(errKnown), "try %d", i+1)
		for _, c := range known {
			assert.True(t, slices.Contains([]string{"AccountByEmail", "AccountByID"}, c), "try %d: a wrong password wrote to the store: %s", i+1, c)
		}
	}
	_, err := e.svc.SignIn(ctx, "known@example.org", "correct horse")
	require.ErrorIs(t, err, privacy.ErrRateLimited, "the throttle still holds")
}
