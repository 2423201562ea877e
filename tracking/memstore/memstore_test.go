package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/tracking"
	"github.com/consentkit/consentkit/tracking/memstore"
	"github.com/consentkit/consentkit/tracking/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store { return memstore.New() })
}
