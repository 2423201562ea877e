package mysqlstore_test

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/consentkit/consentkit/internal/sqltx"
)

func withTx(ctx context.Context, tx *sqlx.Tx) context.Context { return sqltx.With(ctx, tx) }
