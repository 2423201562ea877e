package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/contact"
	"github.com/consentkit/consentkit/contact/memstore"
	"github.com/consentkit/consentkit/contact/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) contact.Store { return memstore.New() })
}
