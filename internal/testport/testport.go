// Package testport finds loopback ports for the tests' servers to listen on.
package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Free returns a loopback port nothing listens on, below the kernel's range of
// ephemeral ports. A test that hands the port to a server it starts (a process,
// a cluster node) leaves it unbound for a while, and a port from that range
// (what listening on port 0 gives) can meanwhile become the local port of an
// outgoing connection, even of the test's own, which then connects to itself
// (a Galera node's "unexpected sequence nr", then its "Address already in use").
func Free(tb testing.TB) int {
	tb.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	tb.Fatalf("no free port found between 10000 and %d", low)
	return 0
}

// Addr returns "127.0.0.1:PORT" for a port of Free.
func Addr(tb testing.TB) string {
	tb.Helper()
	return "127.0.0.1:" + strconv.Itoa(Free(tb))
}
