// Package mysqlstore keeps comments and follow-up state in MySQL (MariaDB 10.6 or
// later), in the tables comments_comments and comments_subscribers. Addresses are
// stored only for the Service, which never shows them (P4); follow-up tokens are
// stored as SHA-256 hashes only.
//
// Methods that take a then func run it inside their transaction, passing a context
// that carries it, so the privacy outbox (privacy/mysqlstore on the same database)
// enqueues a message in it, and FollowUpAllowed, which the mail guard calls, sees
// its uncommitted rows. Called inside a caller's transaction, such a method undoes
// its own change through a savepoint when then fails, as the memory store does.
package mysqlstore
