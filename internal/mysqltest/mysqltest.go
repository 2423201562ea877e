// Package mysqltest gives each test a freshly created, uniquely named MySQL database,
// dropped when the test ends, so packages tested in parallel never see each other's rows.
//
// The server is found through CONSENTKIT_TEST_MYSQL_DSN (default
// "root@tcp(127.0.0.1:3306)/"). When it cannot be reached the test is skipped, or
// fails when CONSENTKIT_REQUIRE_MYSQL=1.
//
// CONSENTKIT_TEST_MYSQL_NODES, the DSNs of a Galera cluster's nodes separated by
// spaces, puts New's databases on the cluster instead: each call outside a
// transaction runs on the next node in turn, with wsrep_sync_wait=SyncWait so
// that it sees what the calls before it wrote on the other nodes. The proof
// package's TestStoresOnGalera runs the stores' tests that way.
package mysqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
)

// DefaultDSN is used when CONSENTKIT_TEST_MYSQL_DSN is not set.
const DefaultDSN = "root@tcp(127.0.0.1:3306)/"

// SyncWait is the wsrep_sync_wait a store needs on a Galera cluster to read its
// own writes across nodes: a read or a BEGIN (1), an UPDATE or DELETE (2) and an
// INSERT or REPLACE (4) each first wait until the node has applied every
// transaction the cluster committed before it began. An UPDATE that ran on a node
// behind the others would find no row and change nothing, without an error. A
// statement inside a transaction does not wait (MariaDB skips the wait in an
// active transaction): its BEGIN did. A wait longer than the provider's
// repl.causal_read_timeout (30 s) fails with error 1205, as a lock wait does.
const SyncWait = "7"

// Nodes returns CONSENTKIT_TEST_MYSQL_NODES's DSNs, none without a cluster.
func Nodes() []string { return strings.Fields(os.Getenv("CONSENTKIT_TEST_MYSQL_NODES")) }

// ServerDSN returns the DSN of the test server, without a database name: on a
// cluster, of its first node.
func ServerDSN() string {
	if nodes := Nodes(); len(nodes) > 0 {
		return nodes[0]
	}
	if dsn := os.Getenv("CONSENTKIT_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// New returns a connection to a new, empty database, dropped at cleanup. On a
// cluster (CONSENTKIT_TEST_MYSQL_NODES) the pool keeps no idle connection, so
// that each call outside a transaction opens one on the next node.
func New(tb testing.TB) *sqlx.DB {
	tb.Helper()
	dsn := NewDSN(tb)
	var db *sqlx.DB
	var err error
	if nodes := Nodes(); len(nodes) > 0 {
		db, err = openNodes(dsn, nodes)
	} else {
		db, err = mysqldb.Open(context.Background(), dsn)
	}
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func openNodes(dsn string, nodes []string) (*sqlx.DB, error) {
	cfg, err := mysqldb.Config(dsn)
	if err != nil {
		return nil, err
	}
	var dsns []string
	for _, n := range nodes {
		c, err := mysqldb.Config(n)
		if err != nil {
			return nil, err
		}
		c.Params["wsrep_sync_wait"] = SyncWait
		// A connection names its database before it could wait for the node
		// to apply the CREATE DATABASE made on the first.
		if err := awaitDatabase(c.FormatDSN(), cfg.DBName); err != nil {
			return nil, err
		}
		c.DBName = cfg.DBName
		dsns = append(dsns, c.FormatDSN())
	}
	db, err := mysqldb.OpenNodes(context.Background(), dsns...)
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(0)
	return db, nil
}

func awaitDatabase(server, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := mysqldb.Open(ctx, server)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	return db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewDSN creates a new, empty database and returns a DSN that selects it, for tests
// that open several connections (two processes sharing one database). The database
// is dropped at cleanup.
func NewDSN(tb testing.TB) string {
	tb.Helper()
	dsn := ServerDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := mysqldb.Open(ctx, dsn)
	if err != nil {
		if os.Getenv("CONSENTKIT_REQUIRE_MYSQL") == "1" {
			tb.Fatalf("MySQL at %q is required (CONSENTKIT_REQUIRE_MYSQL=1) but unreachable: %v", dsn, err)
		}
		tb.Skipf("MySQL at %q unreachable (set CONSENTKIT_TEST_MYSQL_DSN): %v", dsn, err)
	}
	defer admin.Close()

	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	prefix := unsafeName.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	name := "ck_" + prefix + "_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := mysqldb.Open(ctx, dsn)
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})

	cfg, err := mysqldb.Config(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// CheckMigrate applies a store's migrations from three goroutines at once on a new
// database, then once more, and fails unless every one succeeded and each migration
// is recorded once in the store's goose version table. It returns the database for
// further checks. The database's pool has one connection: a migration that held
// one while asking for another would wait for ever behind the others.
func CheckMigrate(t *testing.T, migrate func(ctx context.Context, db *sqlx.DB) error, versionTable string) *sqlx.DB {
	t.Helper()
	ctx := context.Background()
	db := OneConnection(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = migrate(ctx, db) })
	}
	wg.Wait()
	errs = append(errs, migrate(ctx, db))
	for _, err := range errs {
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	var rows, distinct int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version_id) FROM `"+versionTable+"` WHERE version_id > 0").Scan(&rows, &distinct); err != nil {
		t.Fatalf("read %s: %v", versionTable, err)
	}
	if rows == 0 || rows != distinct {
		t.Fatalf("%s records %d migrations for %d versions, want each once", versionTable, rows, distinct)
	}
	return db
}

// OneConnection is New with a pool of one connection, on which a caller that holds
// a connection and asks for another fails with mysqldb.ErrPoolWait.
func OneConnection(tb testing.TB) *sqlx.DB {
	tb.Helper()
	db := New(tb)
	mysqldb.SetMaxConns(db, 1)
	return db
}
