package accounts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy/web"
)

// defaultHash is an argon2id hash at the default parameters. Its key does not
// matter: Matches computes one argon2id key whether it matches or not.
func defaultHash() accounts.PasswordHash {
	p := accounts.DefaultArgon2
	return accounts.PasswordHash{Scheme: accounts.SchemeArgon2id, Params: p, Salt: bytes.Repeat([]byte{1}, int(p.SaltLen)), Key: make([]byte, p.KeyLen)}
}

// BenchmarkHash is one argon2id hash at the default parameters (m=19456 KiB, t=2,
// p=1): what every sign-in, registration and reset costs.
func BenchmarkHash(b *testing.B) {
	ph := defaultHash()
	b.ReportAllocs()
	for b.Loop() {
		ph.Matches("correct horse")
	}
}

// BenchmarkSignInLoad sends 200 concurrent sign-ins to the handler over loopback,
// at the default argon2 parameters and hash slots (GOMAXPROCS), and reports:
// throughput against the hashing limit (slots / hash time, measured in the same
// run), peak heap against the budget slots x 2 x 19 MiB + 64 MiB (x/crypto's
// argon2 allocates each hash's memory afresh, and as much again may wait for the
// collector), and the answers.
// Run it with: go test -run '^$' -bench SignInLoad -benchtime 1x ./accounts/
func BenchmarkSignInLoad(b *testing.B) {
	const clients = 200
	slots := runtime.GOMAXPROCS(0)
	e := newEnv(b, func(c *accounts.Config) { c.Argon2 = accounts.DefaultArgon2 })
	ctx := context.Background()

	// Accounts are stored directly with a precomputed hash, so setting up costs no hashes.
	e2 := newEnv(b, func(c *accounts.Config) { c.Argon2 = accounts.DefaultArgon2; c.HashSlots = 1 })
	e2.member("seed@example.org", "correct horse")
	seed, _ := e2.store.AccountByEmail(ctx, "seed@example.org")
	const members = 20
	for i := range members {
		a := &accounts.Account{ID: fmt.Sprintf("%032x", i+1), Email: fmt.Sprintf("m%d@example.org", i), PasswordHash: seed.PasswordHash,
			Verified: true, AgeScreen: accounts.AgeOver13, Created: time.Now().UTC()}
		if err := e.store.CreateAccount(ctx, a, nil); err != nil {
			b.Fatal(err)
		}
	}
	s := newServer(b, e, accounts.HandlerConfig{Limiter: web.NewLimiter(1_000_000, time.Second, 1_000_000)})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}

	ph, _ := accounts.ParsePasswordHash(seed.PasswordHash)
	for b.Loop() {
		// The hashing limit, measured in this run on this machine under its current
		// load: slots goroutines hashing, just before and just after the wave.
		hashLimit := func() (perHash time.Duration, perSecond float64) {
			// Two seconds of hashing flat out, about as long as the wave, so that the
			// machine's changing load weighs on both alike.
			var n atomic.Int64
			start := time.Now()
			var wg sync.WaitGroup
			for range slots {
				wg.Go(func() {
					for time.Since(start) < 2*time.Second {
						ph.Matches("correct horse")
						n.Add(1)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			perSecond = float64(n.Load()) / elapsed.Seconds()
			return time.Duration(float64(slots) / perSecond * float64(time.Second)), perSecond
		}
		hashBefore, limitBefore := hashLimit()

		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := samplePeakHeap()

		statuses := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		var lastOK time.Time
		for i := range clients {
			wg.Go(func() {
				body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("m%d@example.org", i%members), "password": "correct horse"})
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/accounts/signin", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				status := -1
				if err == nil {
					status = res.StatusCode
					res.Body.Close()
				}
				mu.Lock()
				statuses[status]++
				if status == http.StatusOK {
					lastOK = time.Now()
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		peakHeap := stop()
		hashAfter, limitAfter := hashLimit()
		hashTime, limit := (hashBefore+hashAfter)/2, (limitBefore+limitAfter)/2

		ok := statuses[http.StatusOK]
		throughput := float64(ok) / lastOK.Sub(start).Seconds()
		budget := uint64(slots)*2*19<<20 + 64<<20
		b.ReportMetric(hashTime.Seconds()*1000, "hash-ms")
		b.ReportMetric(limit, "limit-signins/s")
		b.ReportMetric(throughput, "signins/s")
		b.ReportMetric(throughput/limit, "of-limit")
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(budget)/(1<<20), "budget-MiB")
		b.ReportMetric(float64(ok), "200s")
		b.ReportMetric(float64(statuses[http.StatusServiceUnavailable]), "503s")
		b.Logf("hash before %v (limit %.1f/s), after %v (limit %.1f/s)", hashBefore, limitBefore, hashAfter, limitAfter)
		b.Logf("slots=%d hash=%v limit=%.1f/s throughput=%.1f/s (%.0f%%) wall=%v peak heap=%.1f MiB (budget %.0f MiB, before %.1f MiB) answers=%v",
			slots, hashTime, limit, throughput, 100*throughput/limit, elapsed, float64(peakHeap)/(1<<20), float64(budget)/(1<<20),
			float64(base.HeapAlloc)/(1<<20), statuses)
		for status, n := range statuses {
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				b.Errorf("%d answers with status %d: only 200 and 503 are allowed", n, status)
			}
		}
		if throughput < 0.9*limit {
			b.Errorf("throughput %.1f/s is below 90%% of the hashing limit %.1f/s", throughput, limit)
		}
		if peakHeap > budget {
			b.Errorf("peak heap %d MiB over the budget %d MiB", peakHeap>>20, budget>>20)
		}
	}
}

// samplePeakHeap samples the live heap every 2ms until stop is called, and stop
// returns the peak seen.
func samplePeakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var max uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > max {
				max = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return max }
}
