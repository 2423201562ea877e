// Package mysqlstore keeps newsletter subscriptions and campaigns in MySQL
// (MariaDB 10.6 or later). It must share its database with privacy/mysqlstore: the
// mail and consent records a change causes are written in the change's transaction.
//
// A campaign is enqueued in batches; each batch, its outbox messages and the
// campaign's resume cursor (the last subscription id enqueued) commit in one
// transaction under a lock on the campaign row. A process killed mid-campaign
// therefore loses no recipient and enqueues none twice when any process resumes it
// (P13). It stores no IP address, and offers no query that lists a list's members
// outside a campaign batch (P9).
package mysqlstore
