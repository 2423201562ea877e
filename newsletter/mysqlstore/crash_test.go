package mysqlstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	newsmysql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/smtp"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func editor() context.Context {
	return privacy.WithActor(context.Background(), privacy.Actor{ID: "ed1", Roles: []privacy.Role{privacy.RoleEditor}})
}

// seed inserts n confirmed members of list straight into the table: the test is about
// sending, and n double opt-ins through SMTP would take most of its time.
func seed(tb testing.TB, db *sqlx.DB, list newsletter.List, n int) {
	tb.Helper()
	now := time.Now().UTC()
	for start := 0; start < n; start += 1000 {
		var vals []string
		var args []any
		for i := start; i < min(n, start+1000); i++ {
			vals = append(vals, "(?, ?, 'confirmed', 'newsletter-form', '2026-11-01', ?, ?)")
			args = append(args, fmt.Sprintf("s%05d@example.org", i), list, now, now)
		}
		_, err := db.Exec(`INSERT INTO newsletter_subscriptions (email, list, status, source, policy_version, created_at, confirmed_at) VALUES `+
			strings.Join(vals, ","), args...)
		require.NoError(tb, err)
	}
}

// proc is one site process: a newsletter Service and a privacy Dispatcher over one
// database connection pool, delivering to the test SMTP server.
type proc struct {
	db     *sqlx.DB
	svc    *newsletter.Service
	outbox *privacymysql.Store
	mailer *privacy.Mailer
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startProc(tb testing.TB, dsn string, srv *mailtest.Server, run bool) *proc {
	tb.Helper()
	db, err := mysqldb.Open(context.Background(), dsn)
	require.NoError(tb, err)
	db.SetMaxOpenConns(16)
	policy := mailtest.Policy()
	p := &proc{db: db, outbox: privacymysql.New(db)}
	m := privacy.NewMailer(policy, p.outbox, nil)
	p.mailer = m
	p.svc, err = newsletter.New(newsletter.Config{Store: newsmysql.New(db), Mailer: m, Outbox: p.outbox,
		Consents: &privacy.Consents{Store: p.outbox, Policy: policy}, Auditor: &privacy.Auditor{Log: p.outbox}, Secret: secret, BatchSize: 250, MaxQueued: 1000, Poll: 20 * time.Millisecond})
	require.NoError(tb, err)
	port, _ := strconv.Atoi(srv.Port())
	tr, err := smtp.New(smtp.Config{Host: srv.Host(), Port: port, TLS: "none", Timeout: 5 * time.Second})
	require.NoError(tb, err)
	d := &privacy.Dispatcher{Store: p.outbox, Transport: tr, Mailer: m, Workers: 8, Batch: 16, Lease: 5 * time.Second,
		Poll: 20 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Go(func() { _ = d.Run(ctx) })
	if run {
		p.wg.Go(func() { _ = p.svc.Run(ctx) })
	}
	return p
}

// kill stops the process as a crash would: its context is cancelled and its
// database closed at once, so bookkeeping it had not yet written is lost.
func (p *proc) kill() {
	p.cancel()
	p.db.Close()
	p.wg.Wait()
}

func (p *proc) stop() { p.cancel(); p.wg.Wait(); p.db.Close() }

// TestCampaignSurvivesCrash sends a campaign to 10,000 members, kills the sending
// process mid-send, and resumes it in a new process on a fresh connection: every
// member gets the campaign, and the only duplicates are messages that were being
// delivered at the kill.
func TestCampaignSurvivesCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 10,000 messages")
	}
	const members = 10_000
	dsn := mysqltest.NewDSN(t)
	srv, err := mailtest.Start()
	require.NoError(t, err)
	defer srv.Close()

	first := startProc(t, dsn, srv, false)
	require.NoError(t, privacymysql.New(first.db).Migrate(context.Background()))
	require.NoError(t, newsmysql.New(first.db).Migrate(context.Background()))
	seed(t, first.db, newsletter.ListNewsletter, members)
	c, err := first.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue 1", Markdown: "Hello **everyone**."})
	require.NoError(t, err)
	_, err = first.svc.Schedule(editor(), c.ID, time.Time{})
	require.NoError(t, err)

	began := time.Now()
	ctx, stopSend := context.WithCancel(context.Background())
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); _, _ = first.svc.SendDue(ctx) }()
	srv.Wait(members/4, 30*time.Second)
	stopSend()
	first.kill()
	<-sendDone
	atKill := len(srv.Messages())
	require.Less(t, atKill, members, "the kill must come mid-send")

	second := startProc(t, dsn, srv, true)
	defer second.stop()
	var inFlight, rows, distinct int
	require.NoError(t, second.db.Get(&inFlight, `SELECT COUNT(*) FROM privacy_outbox WHERE ref = ? AND state = 0 AND owner IS NOT NULL`, c.Ref()))
	require.NoError(t, second.db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT recipient) FROM privacy_outbox WHERE ref = ?`, c.Ref()).Scan(&rows, &distinct))
	killed, err := second.svc.Campaign(editor(), c.ID)
	require.NoError(t, err)
	assert.Equal(t, rows, distinct, "no member was enqueued twice")
	assert.Equal(t, killed.Enqueued, rows, "the cursor and the outbox committed together")
	t.Logf("at the kill (%v in): %d delivered, %d enqueued (cursor %d, status %s), %d claimed by the dead process",
		time.Since(began).Round(time.Millisecond), atKill, rows, killed.Cursor, killed.Status, inFlight)

	require.Eventually(t, func() bool {
		p, err := second.svc.Progress(editor(), c.ID)
		return err == nil && p.Status == newsletter.CampaignSent && p.Queued == 0
	}, 100*time.Second, 50*time.Millisecond)
	p, err := second.svc.Progress(editor(), c.ID)
	require.NoError(t, err)
	p.Rate = 0
	assert.Equal(t, newsletter.Progress{Status: newsletter.CampaignSent, Total: members, Enqueued: members, Sent: members, Done: members, Percent: 100}, p)

	got := map[string]int{}
	for _, m := range srv.Messages() {
		require.Len(t, m.To, 1)
		got[m.To[0]]++
	}
	dups := 0
	for i := range members {
		n := got[fmt.Sprintf("s%05d@example.org", i)]
		if !assert.GreaterOrEqual(t, n, 1, "member %d got nothing", i) {
			break
		}
		dups += n - 1
	}
	assert.Len(t, got, members, "no one else was mailed")
	assert.LessOrEqual(t, dups, inFlight, "duplicates only from messages in flight at the kill")
	t.Logf("done in %v: %d messages for %d members, %d duplicates (bound: %d in flight)",
		time.Since(began).Round(time.Millisecond), len(srv.Messages()), members, dups, inFlight)
}
