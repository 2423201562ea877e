package proof_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/galeratest"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy/mailtest"
)

// storePackages are the MySQL stores, each with its capability's conformance suite.
var storePackages = []string{
	"./privacy/mysqlstore", "./accounts/mysqlstore", "./comments/mysqlstore",
	"./contact/mysqlstore", "./newsletter/mysqlstore", "./tracking/mysqlstore",
}

// onGaleraSkip are the conformance subtests that do not hold on a cluster, each
// for a reason README's cluster section states:
//
//   - newsletter's ConcurrentSendersEnqueueEachOnce counts the calls of a send
//     function that runs inside EnqueueBatch's transaction, in memory: on a
//     cluster, senders on two nodes each read the campaign's cursor (FOR UPDATE
//     locks one node's row only), the later commit fails certification and
//     sqltx runs it again, calling send again for a batch whose first enqueues
//     were rolled back. The site's send enqueues in the transaction, so no
//     message is doubled (TestTwoNodesUnderLoad counts them).
var onGaleraSkip = []string{
	"TestConformance/EnqueueBatch/ConcurrentSendersEnqueueEachOnce",
}

// TestStoresOnGalera runs every MySQL store's conformance suite on a three-node
// Galera cluster, each call outside a transaction on the next node
// (internal/mysqltest, CONSENTKIT_TEST_MYSQL_NODES): a store that read a node
// behind the one it wrote on, or lost a write to a certification conflict, fails
// here. CONSENTKIT_GALERA_RUN replaces the -run pattern: "." runs the stores'
// every test, of which the concurrent migrations and TestLockerOneHolder fail on
// a cluster (named locks are a node's own). CONSENTKIT_GALERA_PKGS (import paths
// separated by spaces, e.g. "./contact/mysqlstore") runs those stores only, and
// CONSENTKIT_GALERA_COUNT their tests that many times on the one cluster.
//
// Two failures kept it out of CI for a while (issue 19). Contact's
// ConcurrentReplies read a reply count NULL: a node that aborts a statement for a
// replicated write may send its row first, the count's subquery cut short
// (TestCluster shows it), and the store failed on the NULL before it read the
// 1213 that sqltx runs again for. Comments' Stamps/Purge, failing with 1205
// after 50 s, is what a store's calls see on a node that has stopped applying:
// each BEGIN waits for it (wsrep_sync_wait) and gives up with 1205 after 30 s.
// With one applier thread, a node stopped so for innodb_lock_wait_timeout, 50 s,
// its applier waiting for a row of a local transaction that was itself waiting
// to be certified behind the applier (tracking's counters, written on every node
// at once: seen twice in 13 runs on a cluster held to 0.4 of a CPU, comments'
// calls among those waiting); galeratest's nodes have four appliers.
func TestStoresOnGalera(t *testing.T) {
	endToEnd(t)
	c := galeratest.Start(t)
	var nodes []string
	for _, n := range c.Nodes {
		nodes = append(nodes, n.DSN(""))
	}
	run := os.Getenv("CONSENTKIT_GALERA_RUN")
	if run == "" {
		run = "^TestConformance$"
	}
	pkgs := storePackages
	if p := strings.Fields(os.Getenv("CONSENTKIT_GALERA_PKGS")); len(p) > 0 {
		pkgs = p
	}
	count := os.Getenv("CONSENTKIT_GALERA_COUNT")
	if count == "" {
		count = "1"
	}
	began := time.Now()
	cmd := exec.Command("go", append([]string{"test", "-count=" + count, "-run", run, "-skip", strings.Join(onGaleraSkip, "|")}, pkgs...)...)
	cmd.Dir = ".."
	cmd.Env = append(siteEnv(nil), "CONSENTKIT_REQUIRE_MYSQL=1", "CONSENTKIT_TEST_MYSQL_NODES="+strings.Join(nodes, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the stores' tests on the cluster: %v\n%s", err, out)
	}
	t.Logf("on a 3-node cluster, calls alternating nodes, in %s:\n%s", time.Since(began).Round(time.Second), out)
}

// siteDSN is the DSN a site process uses on a node: wsrep_sync_wait makes each
// statement wait until the node has applied what the cluster committed before
// it, so that a visitor's next request, served by a process on another node,
// reads what the last one wrote (README, "On a Galera cluster").
func siteDSN(n *galeratest.Node) string {
	return n.DSN("site") + "?wsrep_sync_wait=" + mysqltest.SyncWait
}

// TestTwoNodesUnderLoad is TestTwoProcessesUnderLoad with the two processes on
// two nodes of a Galera cluster: their claims of the outbox (FOR UPDATE SKIP
// LOCKED, which each node locks for itself) collide at commit, and still every
// member gets the campaign once, every write is stored and notified once, and
// the page views add up. Heavy mode's 600 writes at once are more than the
// processes' pools serve within mysqldb.MaxWait on a cluster (its commits take
// longer than one server's): some are answered 503, and sent again after their
// Retry-After, as on one server under more load.
func TestTwoNodesUnderLoad(t *testing.T) {
	endToEnd(t)
	c := galeratest.Start(t)
	c.CreateDB("site")
	twoProcessesUnderLoad(t, [2]string{siteDSN(c.Nodes[0]), siteDSN(c.Nodes[1])}, siteDSN(c.Nodes[2]))
}

// TestGaleraNodeKilled runs a site process on each of two nodes while visitors
// write to both and read both, kills one node (SIGKILL) and starts it again.
// Every write is answered 2xx or 503 with Retry-After, never 500 nor no answer;
// every write acknowledged is stored once, on every node; the node rejoins the
// cluster; and the page views both processes answered are stored, each once.
//
// The surviving nodes hold every commit until they declare the killed node gone
// (evs.suspect_timeout, 15 s here), and again while it rejoins: a request's
// database calls are cut off at mysqldb.RequestLimit and answered 503, and a
// commit cut off may still be applied. A comment so answered and stored is
// stored once, and its form, sent again, is refused as already used.
func TestGaleraNodeKilled(t *testing.T) {
	endToEnd(t)
	c := galeratest.Start(t)
	c.CreateDB("site")
	relay, err := mailtest.Start()
	require.NoError(t, err)
	defer relay.Close()
	a := startSite(t, siteOptions{DSN: siteDSN(c.Nodes[0]), Relay: relay})
	b := startSite(t, siteOptions{DSN: siteDSN(c.Nodes[1]), Relay: relay})
	stamp := formStamp(t, a.Base)
	comments := fetchCommentStamps(t, a.Base, 1000)
	down := 5 * time.Second
	if full() {
		down = 30 * time.Second
	}

	var rec recorder
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	var views atomic.Int64
	for i, s := range []*siteProc{a, b} {
		proc := fmt.Sprintf("%c (node%d)", 'A'+i, i+1)
		for _, w := range writers(s.Base, stamp, comments, fmt.Sprintf("n%d", i)) {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					o := outcome{kind: w.kind, proc: proc, start: time.Now()}
					a, id := w.write(newClient(20*time.Second), int(seq.Add(1)))
					o.end, o.status, o.err, o.retryAfter, o.took = time.Now(), a.Status, a.Err, a.Header.Get("Retry-After"), a.Took
					if a.Err != nil {
						s.dumpOnce() // where the site holds a write it did not answer
					}
					if a.Status == w.ok {
						o.id = id
					}
					rec.add(o)
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
		wg.Go(func() {
			c := newClient(20 * time.Second)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if get(c, s.Base+"/blog").Status == http.StatusOK {
					views.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(3 * time.Second)
	c.Nodes[1].Kill()
	killed := time.Now()
	time.Sleep(down)
	c.Nodes[1].Start()
	rejoined := time.Since(killed)
	c.WaitSize(3, time.Minute)
	time.Sleep(3 * time.Second) // both processes write through the rejoined node
	close(stop)
	wg.Wait()
	a.Stop()
	b.Stop() // each flushes the page views it counted since its last flush

	statuses := map[string]map[int]int{} // by process
	acked := map[string][]string{}
	ackedAway := map[string]int{} // by process, while node2 was away or rejoining
	var slowest outcome
	for _, o := range rec.all() {
		if o.took > slowest.took {
			slowest = o
		}
		if statuses[o.proc] == nil {
			statuses[o.proc] = map[int]int{}
		}
		statuses[o.proc][o.status]++
		if o.id != "" && o.start.After(killed) && o.end.Before(killed.Add(rejoined)) {
			ackedAway[o.proc]++
		}
		if !assert.NoError(t, o.err, "%s: no answer", o.kind) {
			continue
		}
		assert.True(t, o.status < 300 || o.status == http.StatusServiceUnavailable, "%s at %s answered %d", o.kind, o.start.Sub(killed), o.status)
		if o.status == http.StatusServiceUnavailable {
			assert.NotEmpty(t, o.retryAfter, "%s: a 503 without Retry-After", o.kind)
		}
		if o.id != "" {
			acked[o.kind] = append(acked[o.kind], o.id)
		}
	}
	for _, n := range c.Nodes {
		db := openDB(t, siteDSN(n))
		for _, ref := range acked["contact"] {
			assert.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM contact_requests WHERE ref = ?`, ref), "contact request %s on %s", ref, n.Name())
		}
		for _, id := range acked["comment"] {
			assert.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM comments_comments WHERE id = ?`, id), "comment %s on %s", id, n.Name())
		}
		for _, email := range acked["subscribe"] {
			assert.Equal(t, 1, count(t, db, `SELECT COUNT(*) FROM newsletter_subscriptions WHERE email = ?`, email), "subscription %s on %s", email, n.Name())
		}
		for _, emails := range comments.storedAfter503() {
			q, args, err := sqlx.In(`SELECT COUNT(*) FROM comments_comments WHERE email IN (?)`, emails)
			require.NoError(t, err)
			assert.Equal(t, 1, count(t, db, q, args...), "comments answered 503 from %v on %s: one was stored, once", emails, n.Name())
		}
		assert.Equal(t, int(views.Load()), count(t, db, `SELECT COALESCE(SUM(views), 0) FROM tracking_paths WHERE path = '/blog'`), "page views on %s", n.Name())
	}
	t.Logf("node2 killed for %s, synced again %s after the kill; answers by process %v, the slowest answer after %s (%s, %s, %d); writes acknowledged between the kill and the rejoin by process %v; acknowledged %d contact, %d comments, %d subscriptions, all stored once on every node; %d comments answered 503 were stored all the same, once, their form refused when sent again; %d page views answered and stored (load %s)",
		down, rejoined.Round(100*time.Millisecond), statuses, slowest.took.Round(100*time.Millisecond), slowest.kind, slowest.proc, slowest.status, ackedAway, len(acked["contact"]), len(acked["comment"]), len(acked["subscribe"]),
		len(comments.storedAfter503()), views.Load(), loadavg())
}
