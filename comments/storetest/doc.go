// Package storetest is the conformance suite every comments.Store must pass, so
// that the memory and MySQL stores are proven to behave the same:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
package storetest
