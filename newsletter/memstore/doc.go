// Package memstore keeps newsletter subscriptions and campaigns in memory: the
// embedded default for trials and the store for unit tests. It keeps the same
// promises as the MySQL store (P8, P9, P13: no IP address, no list export, only
// confirmed members reached), but nothing survives a restart, so a campaign
// interrupted by a crash is not resumed; use mysqlstore for that.
package memstore
