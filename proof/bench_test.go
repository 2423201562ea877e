package proof_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	accountsmem "github.com/consentkit/consentkit/accounts/memstore"
	accountssql "github.com/consentkit/consentkit/accounts/mysqlstore"
	"github.com/consentkit/consentkit/comments"
	commentsmem "github.com/consentkit/consentkit/comments/memstore"
	commentssql "github.com/consentkit/consentkit/comments/mysqlstore"
	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	contactsql "github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/newsletter"
	newslettermem "github.com/consentkit/consentkit/newsletter/memstore"
	newslettersql "github.com/consentkit/consentkit/newsletter/mysqlstore"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacysql "github.com/consentkit/consentkit/privacy/mysqlstore"
)

// subjectRecords is how many records the benchmarked subject holds.
const subjectRecords = 10_000

const subject = "prolific@example.org"

// holders is the reference site's set of personal-data holders on one kind of
// store, registered in a privacy.Registry as the site registers them.
type holders struct {
	registry *privacy.Registry
	comments comments.Store
	db       *sqlx.DB // nil for the memory stores
}

type migrator interface{ Migrate(context.Context) error }

func newHolders(tb testing.TB, kind string) *holders {
	tb.Helper()
	ctx := context.Background()
	h := &holders{registry: &privacy.Registry{}}
	var (
		ps privacy.Store
		as accounts.Store
		cs contact.Store
		ns newsletter.Store
	)
	if kind == "mysql" {
		h.db = mysqltest.New(tb)
		p, a, c, cm, n := privacysql.New(h.db), accountssql.New(h.db), contactsql.New(h.db), commentssql.New(h.db), newslettersql.New(h.db)
		for _, m := range []migrator{p, a, c, cm, n} {
			require.NoError(tb, m.Migrate(ctx))
		}
		ps, as, cs, h.comments, ns = p, a, c, cm, n
	} else {
		ps, as, cs, h.comments, ns = privacymem.New(), accountsmem.New(), contactmem.New(), commentsmem.New(), newslettermem.New()
	}
	policy := mailtest.Policy()
	mailer := privacy.NewMailer(policy, ps, nil)
	auditor := &privacy.Auditor{Log: ps}
	consents := &privacy.Consents{Store: ps, Policy: policy}
	key := []byte("proof benchmark key, 32 bytes or more")
	acc, err := accounts.New(accounts.Config{Store: as, Mailer: mailer, Consents: consents, Registry: h.registry, Auditor: auditor})
	require.NoError(tb, err)
	con, err := contact.New(contact.Config{Store: cs, Mailer: mailer, Auditor: auditor, SupportInbox: "support@example.com"})
	require.NoError(tb, err)
	com, err := comments.New(comments.Config{Store: h.comments, Mailer: mailer, Auditor: auditor, Key: key, BaseURL: "http://127.0.0.1/comments"})
	require.NoError(tb, err)
	news, err := newsletter.New(newsletter.Config{Store: ns, Mailer: mailer, Outbox: ps, Consents: consents, Auditor: auditor, Secret: key})
	require.NoError(tb, err)
	for _, hd := range []privacy.Holder{acc.Holder(), con, com, news, &privacy.KernelHolder{Store: ps, Key: key}} {
		h.registry.Register(hd)
	}
	return h
}

// seed stores subjectRecords comments by subject across 100 threads, half of
// them published, through the comments Store (8 writers at once on MySQL).
func (h *holders) seed(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	r := comments.NewRenderer()
	src := "Thanks for the post. I tried the **second** approach and it worked."
	html, err := r.Render(src)
	require.NoError(tb, err)
	now := time.Now().UTC()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				status := comments.StatusApproved
				if i%2 == 1 {
					status = comments.StatusPending
				}
				c := &comments.Comment{Thread: fmt.Sprintf("post-%d", i%100), Name: "Prolific", Email: subject, Source: src, HTML: html,
					Digest: comments.Digest(fmt.Sprint(src, i)), Status: status, Hue: 1, Manage: fmt.Appendf(nil, "%032d", i), Created: now}
				// Concurrent inserts of published comments into one thread
				// deadlock on its version row, and the store runs the loser again.
				if err := h.comments.CreateComment(ctx, c); err != nil {
					tb.Error(err)
				}
			}
		})
	}
	for i := range subjectRecords {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkSubjectExport exports everything held about a subject with 10,000
// records (comments) through the privacy.Registry, as the site's data-rights
// download does (every holder asked, the result encoded as JSON). Baseline, in
// the same run: the comments store reading the same 10,000 rows, and nothing else.
func BenchmarkSubjectExport(b *testing.B) {
	for _, kind := range []string{"memory", "mysql"} {
		b.Run(kind, func(b *testing.B) {
			h := newHolders(b, kind)
			h.seed(b)
			ctx := context.Background()
			b.Run("registry", func(b *testing.B) {
				var size int
				for b.Loop() {
					out, err := h.registry.Export(ctx, subject)
					if err != nil {
						b.Fatal(err)
					}
					data, err := json.Marshal(out)
					if err != nil {
						b.Fatal(err)
					}
					size = len(data)
				}
				b.ReportMetric(float64(size), "bytes/export")
			})
			b.Run("baseline-store-read", func(b *testing.B) {
				for b.Loop() {
					cs, err := h.comments.CommentsBy(ctx, subject)
					if err != nil || len(cs) != subjectRecords {
						b.Fatal(len(cs), err)
					}
				}
			})
		})
	}
}

// BenchmarkSubjectErase erases a subject with 10,000 records (comments) through
// the privacy.Registry, as a confirmed erasure request does. Each iteration seeds
// the records again, untimed. Baseline, in the same run: on MySQL, one DELETE of
// the same rows (what erasing them costs the database at the least); on the
// memory stores, the comments store's own EraseCommenter.
func BenchmarkSubjectErase(b *testing.B) {
	for _, kind := range []string{"memory", "mysql"} {
		b.Run(kind, func(b *testing.B) {
			h := newHolders(b, kind)
			ctx := context.Background()
			b.Run("registry", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					h.seed(b)
					b.StartTimer()
					res, err := h.registry.Erase(ctx, subject)
					if err != nil {
						b.Fatal(err)
					}
					removed := 0
					for _, e := range res {
						removed += e.Removed
					}
					if removed < subjectRecords {
						b.Fatalf("removed %d", removed)
					}
				}
			})
			b.Run("baseline", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					h.seed(b)
					b.StartTimer()
					if h.db != nil {
						res, err := h.db.ExecContext(ctx, `DELETE FROM comments_comments WHERE email = ?`, subject)
						if err != nil {
							b.Fatal(err)
						}
						if n, _ := res.RowsAffected(); n != subjectRecords {
							b.Fatalf("deleted %d", n)
						}
						continue
					}
					if removed, _, err := h.comments.EraseCommenter(ctx, subject, false); err != nil || removed != subjectRecords {
						b.Fatal(removed, err)
					}
				}
			})
		})
	}
}
