package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// BenchmarkCampaign sends one newsletter campaign to 10,000 confirmed members
// (CONSENTKIT_BENCH_MEMBERS to change) on the reference site over MySQL, as it runs
// with its defaults: from creating the campaign to the last message accepted by a
// loopback SMTP sink. In the same run it measures the raw SMTP send loop: the same
// rendered messages sent by the same transport over as many connections as the
// site's Dispatcher holds, with no database. Run with -benchtime=1x; it reports
// both rates, their ratio and the one-minute load average at the end.
func BenchmarkCampaign(b *testing.B) {
	members := 10000
	if v, err := strconv.Atoi(os.Getenv("CONSENTKIT_BENCH_MEMBERS")); err == nil && v > 0 {
		members = v
	}
	ctx := context.Background()
	sink, err := mailtest.Start()
	require.NoError(b, err)
	defer sink.Close()
	cfg := config{Addr: "127.0.0.1:0", SiteURL: "http://127.0.0.1:8080", MySQL: mysqltest.NewDSN(b), Tracking: false,
		SMTP: "smtp://" + sink.Addr + "?tls=none", Secret: "benchmark secret, benchmark secret, benchmark"}
	s, err := newSite(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, err)
	seedMembers(b, s, members)
	md := "# Issue\n\nHello **everyone**. Read [the news](https://example.com/news).\n"
	html, text, err := newsletter.Render(md)
	require.NoError(b, err)
	port, _ := strconv.Atoi(sink.Port())
	tr, err := smtp.New(smtp.Config{Host: sink.Host(), Port: port, TLS: "none"})
	require.NoError(b, err)
	msgs := make([]privacy.Message, members)
	for i := range msgs {
		to := fmt.Sprintf("s%05d@example.org", i)
		msgs[i] = privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: to, From: privacy.Address{Email: s.policy.SenderAddress()},
			To: privacy.Address{Email: to}, Subject: "Issue", Text: text, HTML: html, Ref: "raw",
			Unsubscribe: "http://127.0.0.1:8080/newsletter/unsubscribe?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(runCtx, &http.Server{}, func() error { <-runCtx.Done(); return http.ErrServerClosed })
	}()
	defer func() { stop(); <-done }()
	editor := privacy.WithActor(ctx, privacy.Actor{ID: "ed1", Roles: []privacy.Role{privacy.RoleEditor}})

	var raw, camp time.Duration
	for b.Loop() {
		sink.Reset()
		t0 := time.Now()
		if err := mailtest.SendOver(ctx, tr, mailWorkers, msgs[:members]); err != nil {
			b.Error(err)
		}
		raw += time.Since(t0)
		require.Len(b, sink.Messages(), members)

		sink.Reset()
		t0 = time.Now()
		c, err := s.newsletter.CreateCampaign(editor, newsletter.Draft{List: newsletter.ListNewsletter, Subject: "Issue", Markdown: md})
		require.NoError(b, err)
		_, err = s.newsletter.Schedule(editor, c.ID, time.Time{})
		require.NoError(b, err)
		// The site's own loop would start it within a poll; the benchmark does not wait for it.
		_, err = s.newsletter.SendDue(ctx)
		require.NoError(b, err)
		got := sink.Wait(members, 10*time.Minute)
		camp += time.Since(t0)
		seen := map[string]bool{}
		for _, m := range got {
			seen[m.To[0]] = true
		}
		require.Len(b, got, members, "messages delivered")
		require.Len(b, seen, members, "members reached")
	}
	n := float64(members * b.N)
	b.ReportMetric(n/camp.Seconds(), "campaign-msg/s")
	b.ReportMetric(n/raw.Seconds(), "raw-msg/s")
	b.ReportMetric(raw.Seconds()/camp.Seconds(), "ratio")
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if l, err := strconv.ParseFloat(strings.Fields(string(la))[0], 64); err == nil {
			b.ReportMetric(l, "load1")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// seedMembers inserts n confirmed newsletter members straight into the table: the
// benchmark is about sending, and n double opt-ins would take most of its time.
func seedMembers(b *testing.B, s *Site, n int) {
	now := time.Now().UTC()
	for start := 0; start < n; start += 1000 {
		var vals []string
		var args []any
		for i := start; i < min(n, start+1000); i++ {
			vals = append(vals, "(?, ?, 'confirmed', 'newsletter-form', ?, ?, ?)")
			args = append(args, fmt.Sprintf("s%05d@example.org", i), newsletter.ListNewsletter, s.policy.Version, now, now)
		}
		_, err := s.db.Exec(`INSERT INTO newsletter_subscriptions (email, list, status, source, policy_version, created_at, confirmed_at) VALUES `+
			strings.Join(vals, ","), args...)
		require.NoError(b, err)
	}
}
