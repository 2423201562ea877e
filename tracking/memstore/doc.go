// Package memstore keeps the tracking counters in memory: the default for a single
// process that can afford to lose its counts when it stops, and the store of unit
// tests. Like every tracking.Store it holds counters only — no address, user agent
// or identifier of any kind (P6).
package memstore
