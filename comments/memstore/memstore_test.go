package memstore_test

import (
	"testing"

	"github.com/consentkit/consentkit/comments"
	"github.com/consentkit/consentkit/comments/memstore"
	"github.com/consentkit/consentkit/comments/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) comments.Store { return memstore.New() })
}
