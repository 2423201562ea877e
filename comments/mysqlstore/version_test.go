package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionReadsStartAfterTheView has views of three threads arrive from
// many goroutines while reads take a while: each view is answered by a read of
// its thread that started after it arrived (a read's answer is its number in
// the order reads started), and views share reads.
func TestVersionReadsStartAfterTheView(t *testing.T) {
	var started atomic.Int64
	var mu sync.Mutex
	inFlight := map[string]int{}
	c := newVersionReads(0, func(ctx context.Context, thread string) (int64, error) {
		mu.Lock()
		inFlight[thread]++
		assert.Equal(t, 1, inFlight[thread], "two reads of %s at once", thread)
		mu.Unlock()
		n := started.Add(1)
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		inFlight[thread]--
		mu.Unlock()
		return n<<8 | int64(thread[0]), nil
	})
	var views atomic.Int64
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			thread := "abc"[g%3 : g%3+1]
			for range 200 {
				before := started.Load()
				v, err := c.get(context.Background(), thread)
				if !assert.NoError(t, err) {
					return
				}
				views.Add(1)
				assert.Equal(t, int64(thread[0]), v&0xff, "answered with another thread's version")
				assert.Greater(t, v>>8, before, "answered by a read that started before the view")
			}
		})
	}
	wg.Wait()
	t.Logf("%d views, %d reads", views.Load(), started.Load())
	assert.Less(t, started.Load(), views.Load()/2, "views shared reads")
	// The last shared read ends its round just after answering.
	assert.Eventually(t, func() bool { return idle(c) }, 5*time.Second, time.Millisecond, "a thread still has a read in flight")
}

// idle reports whether c has no read in flight or waited for.
func idle(c *versionReads) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.threads {
		if len(t.flying) > 0 || t.next != nil {
			return false
		}
	}
	return true
}

// waitingNext reports whether n views wait for thread's next read.
func waitingNext(c *versionReads, thread string, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.threads[thread]
	return t != nil && t.next != nil && t.next.waiting == n
}

// TestVersionReadsLeave has the views waiting for a read leave: each gets its
// context's error at once, the read is cancelled only when the last has left,
// and a view arriving later is answered by a read of its own.
func TestVersionReadsLeave(t *testing.T) {
	release := make(chan struct{})
	cancelled := make(chan struct{})
	var reads atomic.Int64
	c := newVersionReads(0, func(ctx context.Context, _ string) (int64, error) {
		n := reads.Add(1)
		if n == 2 {
			// The shared read: it ends when every view waiting for it has left.
			<-ctx.Done()
			close(cancelled)
			return 0, ctx.Err()
		}
		<-release
		return n, nil
	})
	first := make(chan int64)
	go func() {
		v, err := c.get(context.Background(), "t")
		assert.NoError(t, err)
		first <- v
	}()
	require.Eventually(t, func() bool { return reads.Load() == 1 }, 5*time.Second, time.Millisecond)

	// Two views wait for the next read, then leave one after the other.
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for _, ctx := range []context.Context{ctx1, ctx2} {
		go func() {
			_, err := c.get(ctx, "t")
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return waitingNext(c, "t", 2) }, 5*time.Second, time.Millisecond)
	close(release)
	assert.Equal(t, int64(1), <-first)
	require.Eventually(t, func() bool { return reads.Load() == 2 }, 5*time.Second, time.Millisecond)
	cancel1()
	assert.ErrorIs(t, <-errs, context.Canceled)
	select {
	case <-cancelled:
		t.Fatal("the shared read was cancelled while a view still waited for it")
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	assert.ErrorIs(t, <-errs, context.Canceled)
	<-cancelled

	require.Eventually(t, func() bool { return idle(c) }, 5*time.Second, time.Millisecond)
	v, err := c.get(context.Background(), "t")
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
}

// TestVersionReadsShareErrors: the views waiting for a read that fails all get
// its error, and the next view reads again.
func TestVersionReadsShareErrors(t *testing.T) {
	boom := errors.New("boom")
	release := make(chan struct{})
	var reads atomic.Int64
	c := newVersionReads(0, func(ctx context.Context, _ string) (int64, error) {
		switch reads.Add(1) {
		case 1:
			<-release
			return 1, nil
		case 2:
			return 0, boom
		}
		return 7, nil
	})
	go func() { _, _ = c.get(context.Background(), "t") }()
	require.Eventually(t, func() bool { return reads.Load() == 1 }, 5*time.Second, time.Millisecond)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.get(context.Background(), "t")
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return waitingNext(c, "t", 3) }, 5*time.Second, time.Millisecond)
	close(release)
	for range 3 {
		assert.ErrorIs(t, <-errs, boom)
	}
	v, err := c.get(context.Background(), "t")
	require.NoError(t, err)
	assert.Equal(t, int64(7), v)
	assert.Equal(t, int64(3), reads.Load(), "one read for the three views that waited")
}

// TestVersionReadsLag has views of two threads arrive from many goroutines
// for a while, with a lag: each view is answered by a read of its thread that
// started no more than the lag before it arrived, reads keep coming while
// views do, and far fewer than views.
func TestVersionReadsLag(t *testing.T) {
	const lag = 20 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time // by read, from 1
	c := newVersionReads(lag, func(ctx context.Context, thread string) (int64, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		n := int64(len(starts))
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return n<<8 | int64(thread[0]), nil
	})
	var views atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(300 * time.Millisecond)
	for g := range 16 {
		wg.Go(func() {
			thread := "ab"[g%2 : g%2+1]
			for time.Now().Before(end) {
				arrived := time.Now()
				v, err := c.get(context.Background(), thread)
				if !assert.NoError(t, err) {
					return
				}
				views.Add(1)
				assert.Equal(t, int64(thread[0]), v&0xff, "answered with another thread's version")
				mu.Lock()
				started := starts[v>>8-1]
				mu.Unlock()
				if started.Before(arrived.Add(-lag)) {
					t.Errorf("a view was answered by a read that started %v before it arrived", arrived.Sub(started))
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	reads := len(starts)
	mu.Unlock()
	t.Logf("%d views, %d reads", views.Load(), reads)
	// That reads kept coming is what the check above holds each view to: how many
	// depends on how often a loaded machine lets the views run.
	assert.Greater(t, reads, 1, "reads kept coming")
	assert.Less(t, int64(reads), views.Load()/10, "views shared reads")
}

// TestVersionReadsOvertakeASlowRead steps a clock through views of a thread
// whose even reads hang: each view past a quarter of the lag since the newest
// read started starts another without waiting for those in flight, so the
// views are answered at once by the reads that return, never made to wait for
// a hung one; reads in flight stop at maxAhead; and a hung read that returns
// late replaces only a read that started before it.
func TestVersionReadsOvertakeASlowRead(t *testing.T) {
	const lag = 10 * time.Millisecond
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	hung := make(chan struct{})
	var reads atomic.Int64
	c := newVersionReads(lag, func(ctx context.Context, _ string) (int64, error) {
		n := reads.Add(1)
		if n%2 == 0 {
			<-hung
		}
		return n, nil
	})
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	flying := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.threads["t"].flying)
	}
	view := func(want int64, msg string) {
		t.Helper()
		done := make(chan int64, 1)
		go func() {
			v, err := c.get(context.Background(), "t")
			assert.NoError(t, err)
			done <- v
		}()
		select {
		case v := <-done:
			assert.Equal(t, want, v, msg)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the view waited for a hung read", msg)
		}
	}

	view(1, "the first view reads")
	for i, step := range []struct {
		answer, reads int64 // the view's answer, and the reads started after it
		flying        int   // in flight once the returning ones returned
	}{
		{1, 2, 1}, // 3 ms: starts read 2, which hangs
		{1, 3, 1}, // 6 ms: read 2 is 3 ms old: starts read 3, which returns
		{3, 4, 2}, // 9 ms: answered by read 3; starts read 4
		{3, 5, 2}, // 12 ms: read 1 is too old, read 2 hangs: read 3 answers at once; starts 5
		{5, 6, 3},
		{5, 7, 3},
		{7, 8, maxAhead}, // 21 ms
		{7, 8, maxAhead}, // 24 ms: reads 2, 4, 6 and 8 hang: no fifth
		{7, 8, maxAhead}, // 27 ms: read 7 (18 ms) still answers
	} {
		mu.Lock()
		now = now.Add(3 * time.Millisecond)
		mu.Unlock()
		view(step.answer, fmt.Sprintf("step %d", i))
		require.Eventually(t, func() bool { return reads.Load() == step.reads && flying() == step.flying }, 5*time.Second, time.Millisecond,
			"step %d: %d reads, %d in flight", i, reads.Load(), flying())
	}
	close(hung)
	require.Eventually(t, func() bool { return flying() == 0 }, 5*time.Second, time.Millisecond)
	view(8, "of the hung reads, read 8 alone started after read 7 and replaces it")
}
