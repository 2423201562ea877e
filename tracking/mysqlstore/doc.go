// Package mysqlstore keeps the tracking counters in MySQL (MariaDB 10.6 or later), one
// table per dimension (tracking_paths, tracking_domains, tracking_browsers,
// tracking_mime_types, tracking_bots). Each row is a period, its start, a value and a
// count: no column can hold an address, a user agent or an identifier (P6).
//
// Counts are added with INSERT ... ON DUPLICATE KEY UPDATE views = views + VALUES(views),
// so any number of processes may flush into one database and their counts add up. The
// same transaction records the batch's key in tracking_batches (a random key and a
// time), so a batch sent again after a lost answer is added once.
// Rollups lock the rows they merge (SELECT ... FOR UPDATE), so concurrent rollups from
// several processes neither lose nor double a count.
package mysqlstore
