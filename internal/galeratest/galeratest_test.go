package galeratest_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/galeratest"
	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/privacy"
)

// TestCluster starts a cluster and shows what a store on it relies on: a row
// written on one node is read on the others, and of two claims of one row on two
// nodes by SELECT ... FOR UPDATE SKIP LOCKED, which Galera does not lock across
// nodes, only the first to commit stands: the other fails at commit with 1213.
// And a named lock (GET_LOCK) is the node's own: two connections to two nodes
// hold one name at once, which is why README's cluster section has migrations run
// once, and lets a retention run on each node at once.
func TestCluster(t *testing.T) {
	c := galeratest.Start(t)
	c.CreateDB("smoke")
	ctx := context.Background()
	a, b := c.Nodes[0].Open("smoke"), c.Nodes[1].Open("smoke")
	_, err := a.ExecContext(ctx, `CREATE TABLE q (id INT PRIMARY KEY, owner VARCHAR(10))`)
	require.NoError(t, err)
	_, err = a.ExecContext(ctx, `INSERT INTO q VALUES (1, NULL)`)
	require.NoError(t, err)
	for _, n := range c.Nodes {
		db := n.Open("smoke")
		_, err := db.ExecContext(ctx, `SET SESSION wsrep_sync_wait = 1`)
		require.NoError(t, err)
		var got int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM q`).Scan(&got), n.Name())
		assert.Equal(t, 1, got, "rows on %s", n.Name())
	}

	ta, err := a.BeginTxx(ctx, nil)
	require.NoError(t, err)
	tb, err := b.BeginTxx(ctx, nil)
	require.NoError(t, err)
	var ida, idb int
	require.NoError(t, ta.QueryRowContext(ctx, `SELECT id FROM q WHERE owner IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&ida))
	require.NoError(t, tb.QueryRowContext(ctx, `SELECT id FROM q WHERE owner IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&idb))
	assert.Equal(t, ida, idb, "each node lets its claimer take the row")
	_, err = ta.ExecContext(ctx, `UPDATE q SET owner = 'a' WHERE id = ?`, ida)
	require.NoError(t, err)
	_, err = tb.ExecContext(ctx, `UPDATE q SET owner = 'b' WHERE id = ?`, idb)
	require.NoError(t, err)
	require.NoError(t, ta.Commit())
	err = tb.Commit()
	require.Error(t, err, "the second claim must not commit")
	assert.Contains(t, err.Error(), "1213")

	for _, db := range []*sqlx.DB{a, b} {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var got int
		require.NoError(t, conn.QueryRowContext(ctx, `SELECT GET_LOCK('smoke', 0)`).Scan(&got))
		assert.Equal(t, 1, got, "a named lock is taken on each node")
	}

	// A node that will not serve (here told to; a node rejoining after a crash
	// does the same until it is synced) refuses with 1047, which is a 503.
	c3 := c.Nodes[2].Open("smoke")
	_, err = c3.ExecContext(ctx, `SET GLOBAL wsrep_reject_queries = ALL`)
	require.NoError(t, err)
	err = c3.QueryRowContext(ctx, `SELECT COUNT(*) FROM q`).Scan(new(int))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1047")
	assert.ErrorIs(t, mysqldb.Translate(err), privacy.ErrUnavailable, "%v", err)
}
