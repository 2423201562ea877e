// Package galeratest runs a private three-node MariaDB Galera cluster on loopback
// for a test: each node in a folder of its own under a temporary directory, with
// its own ports, torn down when the test ends. A test can kill a node (SIGKILL)
// and start it again, and watch it rejoin.
//
// The cluster needs mariadbd, mariadb-install-db, the Galera provider
// (/usr/lib/galera/libgalera_smm.so, Debian's galera-4) and rsync, which carries
// the state transfer to a joining node. When one is missing the test is skipped,
// or fails when CONSENTKIT_REQUIRE_GALERA=1.
//
// A cluster takes 15 to 25 s to start on a loaded machine, and the tests that use
// one about four minutes in all: they run only with CONSENTKIT_GALERA=1 or
// CONSENTKIT_REQUIRE_GALERA=1 (which CI sets), and skip saying so without.
//
// Run as root, the nodes run as the mysql user: the rsync daemon of a state
// transfer writes as nobody when started by root, and the transfer then fails
// with "Permission denied".
package galeratest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/testport"
)

// Provider is where Debian's galera-4 installs the wsrep provider.
const Provider = "/usr/lib/galera/libgalera_smm.so"

// Cluster is a running three-node cluster.
type Cluster struct {
	tb    testing.TB
	dir   string
	Nodes []*Node
	cred  *syscall.Credential // the mysql user's, when the test runs as root
}

// Node is one mariadbd of the cluster.
type Node struct {
	c    *Cluster
	name string
	dir  string
	port int // client port
	peer int // group communication (gmcast) port
	ist  int // incremental state transfer port
	sst  int // rsync state transfer port
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
}

// Start starts a three-node cluster and waits until every node is synced in a
// cluster of three. It skips the test when the programs it needs are missing,
// unless CONSENTKIT_REQUIRE_GALERA=1.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	required := os.Getenv("CONSENTKIT_REQUIRE_GALERA") == "1"
	if !required && os.Getenv("CONSENTKIT_GALERA") != "1" {
		tb.Skip("a Galera cluster test: minutes, so run only with CONSENTKIT_GALERA=1 (or CONSENTKIT_REQUIRE_GALERA=1, which also fails without galera)")
	}
	need := map[string]string{Provider: "the Galera provider (apt-get install galera-4)"}
	for _, prog := range []string{"mariadbd", "mariadb-install-db", "rsync", "wsrep_sst_rsync"} {
		path, err := exec.LookPath(prog)
		if err != nil {
			path = prog
		}
		need[path] = prog + " (apt-get install mariadb-server galera-4 rsync)"
	}
	for path, what := range need {
		if _, err := os.Stat(path); err != nil {
			if required {
				tb.Fatalf("%s is required for the Galera cluster tests (CONSENTKIT_REQUIRE_GALERA=1): %v", what, err)
			}
			tb.Skipf("no Galera cluster: %s is missing (set CONSENTKIT_REQUIRE_GALERA=1 to make this a failure)", what)
		}
	}
	// Not t.TempDir: its name can make a socket path longer than a socket allows.
	dir, err := os.MkdirTemp("", "galera-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{tb: tb, dir: dir}
	tb.Cleanup(func() {
		for _, n := range c.Nodes {
			if n.running() {
				n.Kill()
			}
		}
		if tb.Failed() {
			for _, n := range c.Nodes {
				tb.Logf("%s log (last 4 KiB):\n%s", n.name, tail(n.log.String(), 4<<10))
			}
		}
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		c.cred = mysqlUser(tb)
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range 3 {
		n := &Node{c: c, name: fmt.Sprintf("node%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), log: &logBuffer{}}
		n.port, n.peer, n.ist, n.sst = testport.Free(tb), testport.Free(tb), testport.Free(tb), testport.Free(tb)
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		n.install()
	}
	c.Nodes[0].start(true)
	c.Nodes[0].waitSynced(2 * time.Minute)
	// One joiner at a time: a donor serves one state transfer at once.
	for _, n := range c.Nodes[1:] {
		n.Start()
	}
	c.WaitSize(3, 2*time.Minute)
	return c
}

func mysqlUser(tb testing.TB) *syscall.Credential {
	u, err := user.Lookup("mysql")
	if err != nil {
		tb.Fatalf("running as root, the nodes run as the mysql user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func (n *Node) install() {
	n.c.tb.Helper()
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(n.dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if n.c.cred != nil {
		args = append(args, "--user=mysql")
	}
	if err := os.Mkdir(n.dir, 0o755); err != nil {
		n.c.tb.Fatal(err)
	}
	if n.c.cred != nil {
		if err := os.Chown(n.dir, int(n.c.cred.Uid), int(n.c.cred.Gid)); err != nil {
			n.c.tb.Fatal(err)
		}
	}
	if out, err := exec.Command("mariadb-install-db", args...).CombinedOutput(); err != nil {
		n.c.tb.Fatalf("mariadb-install-db for %s: %v\n%s", n.name, err, out)
	}
}

func (n *Node) flags(bootstrap bool) []string {
	var addrs []string
	for _, o := range n.c.Nodes {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(o.peer))
	}
	f := []string{"--no-defaults", "--datadir=" + filepath.Join(n.dir, "data"), "--tmpdir=" + n.dir,
		"--port=" + strconv.Itoa(n.port), "--bind-address=127.0.0.1", "--socket=" + filepath.Join(n.dir, "sock"),
		"--pid-file=" + filepath.Join(n.dir, "pid"), "--skip-name-resolve", "--max-connections=1000",
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
		"--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
		"--wsrep-on=ON", "--wsrep-provider=" + Provider, "--wsrep-cluster-name=galeratest",
		"--wsrep-cluster-address=gcomm://" + strings.Join(addrs, ","),
		"--wsrep-node-name=" + n.name,
		"--wsrep-node-address=127.0.0.1:" + strconv.Itoa(n.peer),
		"--wsrep-provider-options=" + strings.Join([]string{
			"gmcast.listen_addr=tcp://127.0.0.1:" + strconv.Itoa(n.peer),
			"ist.recv_addr=127.0.0.1:" + strconv.Itoa(n.ist),
			"gcache.size=64M",
			// A loaded machine stalls a node for seconds; the defaults would
			// evict it from the cluster for that.
			"evs.suspect_timeout=PT15S", "evs.inactive_timeout=PT30S", "evs.install_timeout=PT25S",
		}, ";"),
		// More than one applier: with one, a node stopped applying for
		// innodb_lock_wait_timeout (50 s) twice in thirteen CPU-starved runs of
		// TestStoresOnGalera, its applier waiting for a row a local transaction
		// held while that transaction waited to be certified after the
		// writesets queued behind the applier (README, "On a Galera cluster").
		"--wsrep-slave-threads=4",
		"--wsrep-sst-method=rsync",
		"--wsrep-sst-receive-address=127.0.0.1:" + strconv.Itoa(n.sst),
	}
	if bootstrap {
		f = append(f, "--wsrep-new-cluster")
	}
	return f
}

// Start starts a node that is not running and waits until it has joined the
// cluster and is synced: after Kill, it rejoins, by an incremental or a full
// state transfer.
func (n *Node) Start() {
	n.c.tb.Helper()
	n.start(false)
	n.waitSynced(3 * time.Minute)
}

func (n *Node) start(bootstrap bool) {
	n.c.tb.Helper()
	n.cmd = exec.Command("mariadbd", n.flags(bootstrap)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	// Its own process group, so that Kill also ends a state transfer's rsync;
	// killed with the test process however that dies.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: n.c.cred}
	dieWithTest(n.cmd.SysProcAttr)
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		n.c.tb.Fatalf("start %s: %v", n.name, err)
	}
	done := n.done
	go func() { _ = n.cmd.Wait(); close(done) }()
}

func (n *Node) waitSynced(limit time.Duration) {
	n.c.tb.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if !n.running() {
			n.c.tb.Fatalf("%s exited while starting: %s", n.name, tail(n.log.String(), 8<<10))
		}
		state, err := n.status("wsrep_local_state_comment")
		if err == nil && state == "Synced" {
			return
		}
		last = fmt.Errorf("state %q, %v", state, err)
		time.Sleep(200 * time.Millisecond)
	}
	n.c.tb.Fatalf("%s not synced after %s (%v): %s", n.name, limit, last, tail(n.log.String(), 8<<10))
}

// status reads one of the node's status variables.
func (n *Node) status(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := mysqldb.Open(ctx, n.DSN(""))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?", name).Scan(&v)
	return v, err
}

// WaitSize waits until a running node sees a cluster of size nodes, all synced.
func (c *Cluster) WaitSize(size int, limit time.Duration) {
	c.tb.Helper()
	deadline := time.Now().Add(limit)
	got := ""
	for time.Now().Before(deadline) {
		synced := 0
		for _, n := range c.Nodes {
			if !n.running() {
				continue
			}
			s, err := n.status("wsrep_cluster_size")
			state, _ := n.status("wsrep_local_state_comment")
			got = s
			if err == nil && s == strconv.Itoa(size) && state == "Synced" {
				synced++
			}
		}
		if synced == size {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.tb.Fatalf("the cluster did not reach %d synced nodes within %s (size %s)", size, limit, got)
}

// DSN returns the DSN of database name ("" for none) on this node.
func (n *Node) DSN(name string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", n.port, name)
}

// Name is the node's wsrep node name (node1, node2, node3).
func (n *Node) Name() string { return n.name }

// Kill kills the node with SIGKILL, as a crash or the OOM killer would.
func (n *Node) Kill() {
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
}

func (n *Node) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// CreateDB creates an empty database (replicated to every node) and returns its
// DSN on each node.
func (c *Cluster) CreateDB(name string) []string {
	c.tb.Helper()
	db, err := mysqldb.Open(context.Background(), c.Nodes[0].DSN(""))
	if err != nil {
		c.tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		c.tb.Fatal(err)
	}
	var dsns []string
	for _, n := range c.Nodes {
		dsns = append(dsns, n.DSN(name))
	}
	return dsns
}

// Open opens a pool on one node, closed when the test ends.
func (n *Node) Open(name string) *sqlx.DB {
	n.c.tb.Helper()
	db, err := mysqldb.Open(context.Background(), n.DSN(name))
	if err != nil {
		n.c.tb.Fatal(err)
	}
	n.c.tb.Cleanup(func() { db.Close() })
	return db
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// logBuffer keeps a node's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
