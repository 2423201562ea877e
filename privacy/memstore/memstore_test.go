package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/memstore"
	"github.com/consentkit/consentkit/privacy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) privacy.Store { return memstore.New() })
}
