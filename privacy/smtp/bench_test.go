package smtp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// BenchmarkDKIM sends b.N campaign-sized messages over 4 connections to the
// loopback test server three times in one run: unsigned, signed with Ed25519 and
// signed with RSA-2048, and reports each rate and the signed ones' ratios to the
// unsigned, so what a key costs a campaign is a same-run figure. It also reports
// the CPU time of one signature of each kind (sign-ms, one goroutine), which bounds
// any sender at cores/sign-ms messages a millisecond, whatever the load.
func BenchmarkDKIM(b *testing.B) {
	ctx := context.Background()
	srv, err := mailtest.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	port, _ := strconv.Atoi(srv.Port())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]privacy.Message, b.N)
	body := strings.Repeat("Hello everyone. Read the news at https://example.com/news.\n", 40)
	for i := range msgs {
		msgs[i] = campaignMessage()
		msgs[i].To.Email = fmt.Sprintf("s%05d@example.org", i)
		msgs[i].DataSubject = msgs[i].To.Email
		msgs[i].Text, msgs[i].HTML = body, "<p>"+body+"</p>"
	}
	rate := func(key crypto.Signer) float64 {
		cfg := smtp.Config{Host: srv.Host(), Port: port, TLS: "none"}
		if key != nil {
			cfg.DKIM = &smtp.DKIM{Domain: "example.com", Selector: "s1", Key: key}
		}
		tr, err := smtp.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		srv.Reset()
		start := time.Now()
		if err := mailtest.SendOver(ctx, tr, 4, msgs); err != nil {
			b.Error(err)
		}
		if got := len(srv.Wait(b.N, time.Minute)); got != b.N {
			b.Fatalf("delivered %d of %d", got, b.N)
		}
		return float64(b.N) / time.Since(start).Seconds()
	}
	var raw bytes.Buffer
	built, err := smtp.Build(&msgs[0])
	if err != nil {
		b.Fatal(err)
	}
	if _, err := built.WriteTo(&raw); err != nil {
		b.Fatal(err)
	}
	signMS := func(key crypto.Signer) float64 {
		const n = 200
		opts := &dkim.SignOptions{Domain: "example.com", Selector: "s1", Signer: key, Hash: crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: smtp.SignedHeaders}
		start := time.Now()
		for range n {
			var sig bytes.Buffer
			if err := dkim.Sign(&sig, bytes.NewReader(raw.Bytes()), opts); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start).Microseconds()) / 1000 / n
	}
	b.ResetTimer()
	b.ReportMetric(signMS(edKey), "ed25519-sign-ms")
	b.ReportMetric(signMS(rsaKey), "rsa2048-sign-ms")
	plain := rate(nil)
	ed := rate(edKey)
	rs := rate(rsaKey)
	b.StopTimer()
	b.ReportMetric(plain, "unsigned-msg/s")
	b.ReportMetric(ed, "ed25519-msg/s")
	b.ReportMetric(rs, "rsa2048-msg/s")
	b.ReportMetric(ed/plain, "ed25519-ratio")
	b.ReportMetric(rs/plain, "rsa2048-ratio")
	b.ReportMetric(0, "ns/op")
}
