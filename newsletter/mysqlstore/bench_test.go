package mysqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/internal/sqltx"
	"github.com/consentkit/consentkit/newsletter"
	newsmysql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

// BenchmarkCampaignSend measures a campaign's send rate to the loopback SMTP server
// (messages enqueued by SendDue and delivered by the Dispatcher), and, in the same run
// with the same Dispatcher configuration, the outbox's raw rate: as many messages of
// the same size enqueued one by one with Mailer.Send and delivered. Both are timed
// from the first enqueue to the last message accepted by the server. drain-msgs/s is
// the Dispatcher alone, emptying a backlog committed at once. Run with -benchtime=1x:
// each iteration sends 3 x members messages.
func BenchmarkCampaignSend(b *testing.B) {
	const members = 3000
	dsn := mysqltest.NewDSN(b)
	srv, err := mailtest.Start()
	require.NoError(b, err)
	defer srv.Close()
	p := startProc(b, dsn, srv, false)
	defer p.stop()
	ctx := context.Background()
	require.NoError(b, privacymysql.New(p.db).Migrate(ctx))
	require.NoError(b, newsmysql.New(p.db).Migrate(ctx))
	seed(b, p.db, newsletter.ListNewsletter, members)
	md := "# Issue\n\nHello **everyone**. Read [the news](https://example.com/news).\n"
	html, text, err := newsletter.Render(md)
	require.NoError(b, err)

	msg := func(i int) privacy.Message {
		to := fmt.Sprintf("s%05d@example.org", i)
		return privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: to, To: privacy.Address{Email: to},
			Subject: "Issue", Text: text, HTML: html, Unsubscribe: "http://127.0.0.1:8080/newsletter/unsubscribe?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Ref: "raw"}
	}
	var raw, camp, drain time.Duration
	for b.Loop() {
		srv.Reset()
		t0 := time.Now()
		for i := range members {
			_, err := p.mailer.Send(ctx, msg(i))
			require.NoError(b, err)
		}
		srv.Wait(members, 5*time.Minute)
		raw += time.Since(t0)

		// The Dispatcher alone: every message committed at once, timed from the commit.
		srv.Reset()
		require.NoError(b, sqltx.Do(ctx, p.db, func(ctx context.Context, _ *sqlx.Tx) error {
			for i := range members {
				if _, err := p.mailer.Send(ctx, msg(i)); err != nil {
					return err
				}
			}
			return nil
		}))
		t0 = time.Now()
		srv.Wait(members, 5*time.Minute)
		drain += time.Since(t0)

		srv.Reset()
		t0 = time.Now()
		c, err := p.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: md})
		require.NoError(b, err)
		_, err = p.svc.Schedule(editor(), c.ID, time.Time{})
		require.NoError(b, err)
		t1 := time.Now()
		n, err := p.svc.SendDue(ctx)
		b.Logf("campaign enqueued in %v; %d delivered by then", time.Since(t1), len(srv.Messages()))
		require.NoError(b, err)
		require.Equal(b, members, n)
		srv.Wait(members, 5*time.Minute)
		camp += time.Since(t0)
		require.Len(b, srv.Messages(), members)
	}
	rawRate := float64(members*b.N) / raw.Seconds()
	campRate := float64(members*b.N) / camp.Seconds()
	b.ReportMetric(campRate, "campaign-msgs/s")
	b.ReportMetric(rawRate, "raw-msgs/s")
	b.ReportMetric(campRate/rawRate, "campaign/raw")
	b.ReportMetric(float64(members*b.N)/drain.Seconds(), "drain-msgs/s")
	b.ReportMetric(0, "ns/op")
}
