package mysqltest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/internal/mysqldb"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func TestIsolatedDatabases(t *testing.T) {
	a, b := mysqltest.New(t), mysqltest.New(t)
	_, err := a.Exec(`CREATE TABLE t (id INT PRIMARY KEY)`)
	require.NoError(t, err)
	_, err = a.Exec(`INSERT INTO t VALUES (1)`)
	require.NoError(t, err)
	_, err = b.Exec(`SELECT * FROM t`)
	require.Error(t, err, "another test's database does not see the table")

	_, err = a.Exec(`INSERT INTO t VALUES (1)`)
	assert.ErrorIs(t, mysqldb.Translate(err), privacy.ErrConflict, "duplicate key is a conflict")
	err = a.QueryRowContext(context.Background(), `SELECT id FROM t WHERE id = 2`).Scan(new(int))
	assert.ErrorIs(t, mysqldb.Translate(err), privacy.ErrNotFound)
}

func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := mysqldb.Open(context.Background(), "root@tcp(127.0.0.1:1)/")
	require.Error(t, err)
	err = mysqldb.Translate(err)
	assert.ErrorIs(t, err, privacy.ErrUnavailable, "a database that is away is a 503, not a 500")
	assert.Equal(t, 503, web.HTTPStatus(err))
}

func TestTranslateBusyServer(t *testing.T) {
	for _, n := range []uint16{1040, 1205, 1213} {
		err := mysqldb.Translate(fmt.Errorf("query: %w", &mysql.MySQLError{Number: n, Message: "busy"}))
		assert.ErrorIs(t, err, privacy.ErrUnavailable, "error %d", n)
		assert.Equal(t, 503, web.HTTPStatus(err))
	}
}
