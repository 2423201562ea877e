// Package memstore keeps comments and follow-up state in memory: the embedded
// default for trials and the store for unit tests. It keeps what the comments
// Service needs to keep P4 — addresses only for moderation and confirmed follow-up,
// tokens only as SHA-256 hashes — and nothing survives a restart; for a site, use
// mysqlstore.
package memstore
