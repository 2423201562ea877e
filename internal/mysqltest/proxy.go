package mysqltest

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/mysqldb"
)

// Proxied returns a pool on a new database (NewDSN) whose connections go through a
// loopback proxy, and a pool on the same database straight to the server. The
// proxy dials the server for each connection a client opens and calls serve, in a
// goroutine of its own, with both ends: serve passes the bytes on, or does not, as
// the fault a test stands for. At cleanup the proxy closes every connection.
func Proxied(t *testing.T, serve func(client, server net.Conn)) (proxied, direct *sqlx.DB) {
	t.Helper()
	dsn := NewDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("a proxied database needs a server on TCP, not %s", cfg.Net)
	}
	upstream := cfg.Addr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go serve(c, u)
		}
	}()
	open := func(dsn string) *sqlx.DB {
		db, err := mysqldb.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	direct = open(dsn)
	cfg.Addr = ln.Addr().String()
	return open(cfg.FormatDSN()), direct
}
