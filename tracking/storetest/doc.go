// Package storetest is the conformance suite every tracking.Store must pass, so the
// memory and MySQL stores are proven to count alike — additively, exactly under
// concurrency, and without losing or doubling a count when rolling up — which is what
// lets several processes keep promise P6 together:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
package storetest
