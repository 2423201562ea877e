// Package storetest is the conformance suite every comments.Store must pass, so
// that the memory and MySQL stores are proven to behave the same — among other
// things, that a thread read carries no address and an erasure leaves none (P4),
// and that a follow-up request stopped or unconfirmed is never allowed mail (P8):
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
package storetest
