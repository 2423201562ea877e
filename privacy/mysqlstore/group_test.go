package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
)

// TestGroupOneBadMessage: ten messages wait behind an insert in flight and then go
// in one insert, which fails for the one whose ref is too long: its caller gets
// the error, every other is stored under its own id, and a suppressed recipient's
// caller is refused as Enqueue alone would.
func TestGroupOneBadMessage(t *testing.T) {
	ctx := context.Background()
	s := New(mysqltest.New(t))
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Suppress(ctx, "gone@example.org", "550", time.Now()))
	s.group.leading = true // an insert in flight: whoever comes queues
	to := func(i int) string {
		if i == 7 {
			return "gone@example.org"
		}
		return fmt.Sprintf("g%d@example.org", i)
	}
	ids := make([]int64, 10)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		msg := &privacy.Message{Purpose: "account", DataSubject: to(i), To: privacy.Address{Email: to(i)}, Subject: "s", Text: "t"}
		if i == 3 {
			msg.Ref = strings.Repeat("r", 101)
		}
		wg.Go(func() { ids[i], errs[i] = s.Enqueue(ctx, msg) })
	}
	require.Eventually(t, func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return len(s.group.queue) == 10
	}, 10*time.Second, time.Millisecond)
	// The insert in flight ends: the first queued leads the next, for all ten.
	s.group.mu.Lock()
	s.group.queue[0].lead <- true
	s.group.mu.Unlock()
	wg.Wait()

	for i := range 10 {
		switch i {
		case 3:
			assert.ErrorContains(t, errs[i], "Data too long", "the message too long for its column fails alone")
		case 7:
			var re *privacy.RefusalError
			require.ErrorAs(t, errs[i], &re)
			assert.Equal(t, privacy.RefusedSuppressed, re.Reason)
		default:
			require.NoError(t, errs[i], "message %d", i)
			got, err := s.Recipient(ctx, ids[i])
			require.NoError(t, err)
			assert.Equal(t, to(i), got)
		}
	}
	st, err := s.OutboxStats(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 8, st.Queued)
	assert.False(t, s.group.leading, "the last leader found nothing queued")
}
