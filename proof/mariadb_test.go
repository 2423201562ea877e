package proof_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/testport"
)

// mariaDB is a private MariaDB server the test owns: the fault tests kill it, and
// the shared server on 3306 serves every other package's tests at the same time.
type mariaDB struct {
	tb   testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	args []string // more mariadbd options
}

// startMariaDB creates a data directory with mariadb-install-db and starts
// mariadbd, with args added to its options, on a free loopback port until the
// test ends. It skips the test when
// either program is missing, unless CONSENTKIT_REQUIRE_MYSQL=1.
func startMariaDB(tb testing.TB, args ...string) *mariaDB {
	tb.Helper()
	for _, prog := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(prog); err != nil {
			if os.Getenv("CONSENTKIT_REQUIRE_MYSQL") == "1" {
				tb.Fatalf("%s is required to run a private MariaDB (CONSENTKIT_REQUIRE_MYSQL=1): %v", prog, err)
			}
			tb.Skipf("%s not found: this test runs a private MariaDB it can kill (apt-get install mariadb-server)", prog)
		}
	}
	// Not t.TempDir: its name can make the socket path longer than a socket allows.
	dir, err := os.MkdirTemp("", "proof-mariadb-")
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(tb, os.Mkdir(filepath.Join(dir, "tmp"), 0o700))
	m := &mariaDB{tb: tb, dir: dir, log: &logBuffer{}, args: args}
	m.port = testport.Free(tb)
	install := exec.Command("mariadb-install-db", m.flags(nil, true)...)
	out, err := install.CombinedOutput()
	require.NoError(tb, err, "mariadb-install-db: %s", out)
	m.Start()
	tb.Cleanup(func() {
		if m.running() {
			m.Kill()
		}
	})
	return m
}

func (m *mariaDB) flags(extra []string, install bool) []string {
	// A tmpdir of its own: servers started at once by parallel test runs
	// otherwise share /tmp and fail on each other's temporary tables.
	f := []string{"--no-defaults", "--datadir=" + filepath.Join(m.dir, "data"), "--tmpdir=" + filepath.Join(m.dir, "tmp")}
	if install {
		f = append(f, "--auth-root-authentication-method=normal", "--skip-test-db")
	} else {
		f = append(f, "--port="+strconv.Itoa(m.port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.dir, "sock"),
			"--pid-file="+filepath.Join(m.dir, "pid"), "--skip-log-bin", "--skip-name-resolve")
	}
	if os.Geteuid() == 0 {
		f = append(f, "--user=root")
	}
	f = append(f, "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M")
	return append(f, extra...)
}

// Start starts mariadbd on the data directory and waits until it answers.
func (m *mariaDB) Start() {
	m.tb.Helper()
	m.cmd = exec.Command("mariadbd", m.flags(m.args, false)...)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	dieWithTest(m.cmd)
	m.done = make(chan struct{})
	require.NoError(m.tb, m.cmd.Start())
	done := m.done
	go func() { _ = m.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		db, err := mysqldb.Open(ctx, m.DSN(""))
		cancel()
		if err == nil {
			db.Close()
			return
		}
		if !m.running() || time.Now().After(deadline) {
			m.tb.Fatalf("mariadbd did not start: %v\n%s", err, m.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *mariaDB) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Kill kills mariadbd with SIGKILL, as a crash or the OOM killer would.
func (m *mariaDB) Kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}

// DSN returns the DSN of database name ("" for none) on this server.
func (m *mariaDB) DSN(name string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", m.port, name)
}

// CreateDB creates an empty database and returns its DSN.
func (m *mariaDB) CreateDB(name string) string {
	m.tb.Helper()
	db, err := mysqldb.Open(context.Background(), m.DSN(""))
	require.NoError(m.tb, err)
	defer db.Close()
	_, err = db.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	require.NoError(m.tb, err)
	return m.DSN(name)
}
