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
// Page views read a thread's version without a round trip each: a change to a
// thread's version returns VersionLag (10 ms) after the transaction the store
// opened for it commits, the store's Do included, and a view is answered by a
// version read that started no more than VersionLag before it arrived, so it
// shows every change acknowledged before it arrived; reads are shared between
// views, and a busy thread's next read starts every quarter of VersionLag
// without waiting for a slow one (see versionReads). A change made inside a unit of work another store
// opened is committed by that unit's caller, who must wait VersionLag after the
// commit before acknowledging it for the same to hold; so must one made by hand,
// and a site upgrading from a version of this package without the wait has,
// until its last old process has stopped, views up to VersionLag late after the
// changes the old processes make.
//
// Every statement joins the unit of work (Do) ctx carries. Give it the same
// *sqlx.DB as privacy/mysqlstore: the Service's mail is then enqueued in the
// comment's transaction, and the mail guard's reads see its uncommitted rows.
package mysqlstore
