// Package storetest is the conformance suite every newsletter.Store must pass, so
// the memory and MySQL stores are proven to behave the same (P13: a campaign reaches
// confirmed members of its list only, each once; a failed batch loses no one):
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
package storetest
