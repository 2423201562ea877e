package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/newsletter/memstore"
	"github.com/consentkit/consentkit/newsletter/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) newsletter.Store { return memstore.New() })
}
