// Package mysqlstore keeps accounts, sessions, tokens, member resources and parental
// consent requests in MySQL (MariaDB 10.6 or later), in tables prefixed accounts_.
// It keeps P1 with a unique key on the address (utf8mb4_bin, so comparisons are
// exact), P2 with a per-account quota checked under a row lock, P5 with parental
// requests that hold only the parent's address, and P12 by storing only SHA-256
// hashes of session and mailed tokens.
//
// Methods that cause mail run their then callback inside the transaction they
// opened, with a ctx carrying it (internal/sqltx): the privacy kernel's MySQL
// outbox and consent store, on the same database, join it, so a verification mail
// or a registration opt-in exists if and only if the account does.
package mysqlstore
