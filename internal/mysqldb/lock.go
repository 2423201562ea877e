package mysqldb

// LockName is the SQL expression of a named lock's name (GET_LOCK, RELEASE_LOCK)
// for the name bound to its one placeholder. MySQL's named locks are the
// server's, not a database's: the name is scoped to the connection's database,
// hashed to stay within the 64 characters a lock name may have, so that sites
// (or test runs) on different databases of one server never wait on each other.
const LockName = "CONCAT('consentkit:', SHA1(CONCAT(IFNULL(DATABASE(), ''), '/', ?)))"
