// Package storetest is the conformance suite every accounts.Store must pass, so the
// memory and MySQL stores are proven to behave the same:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
//
// The suite checks the rules the promises rest on: one account per address (P1),
// quotas and owner-only deletion of resources (P2), single-use parental requests
// (P5), single-use expiring tokens and ending sessions (P12), and that a failed
// then leaves nothing behind.
package storetest
