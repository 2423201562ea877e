// Package mysqlstore keeps comments and follow-up state in MySQL (MariaDB 10.6 or
// later), in the tables comments_comments, comments_subscribers and
// comments_threads. Addresses are stored only for the Service, which never shows
// them (P4); follow-up tokens are stored as SHA-256 hashes only.
//
// comments_threads holds each thread's version, which every change to what the
// thread shows replaces, in its own transaction, with a random 63-bit number: a
// version never comes back (but for a 2⁻⁶³ chance per change), not even after the
// database is restored from a backup, so a Service's cache keyed by it is never
// stale. Whoever changes comments_comments by hand must also change the thread's
// version (UPDATE comments_threads SET version = version + 1 WHERE thread = ...),
// or restart the site's processes; so must a site upgrading from a version of this
// package without comments_threads once its last old process has stopped, since
// those change comments without changing versions.
//
// Page views read a thread's version without a round trip each: a method that
// changes a thread's version returns VersionLag (10 ms) after its transaction
// commits, and a view is answered by a version read that started no more than
// VersionLag before it arrived, so it shows every change acknowledged before it
// arrived; reads are shared between views (see versionReads). A change made
// inside a caller's transaction (see below) is committed by the caller, who
// must wait VersionLag after the commit before acknowledging it for the same
// to hold; so must one made by hand, and a site upgrading from a version of
// this package without the wait has, until its last old process has stopped,
// views up to VersionLag late after the changes the old processes make.
//
// Methods that take a then func run it inside their transaction, passing a context
// that carries it, so the privacy outbox (privacy/mysqlstore on the same database)
// enqueues a message in it, and FollowUpAllowed, which the mail guard calls, sees
// its uncommitted rows. Called inside a caller's transaction, such a method undoes
// its own change through a savepoint when then fails, as the memory store does.
package mysqlstore
