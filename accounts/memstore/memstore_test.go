package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/accounts/memstore"
	"github.com/consentkit/consentkit/accounts/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) accounts.Store { return memstore.New() })
}
