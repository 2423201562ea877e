// Package memstore keeps accounts, sessions, tokens, member resources and parental
// consent requests in memory: the embedded default for trials and the store for
// unit tests. Nothing survives a restart.
//
// It keeps the same promises as the MySQL store (P1, P2, P5, P12): one account per
// address, only token hashes, nothing about a child but a parent's address.
package memstore
