// Package bounce stops mail to addresses that bounce or complain (P13: leaving is
// always possible, and a complaint is a way of leaving).
//
// Each outgoing message is sent from a VERP return path, bounce+TOKEN@ a domain the
// operator points at a Receiver. The token names the outbox message, not the
// address, and is signed, so a stranger cannot forge one that suppresses someone
// else. The Receiver is an SMTP server that accepts mail for those addresses only,
// reads delivery status notifications (RFC 3464) and feedback reports (RFC 5965),
// and suppresses the message's recipient on a permanent failure or a complaint; a
// temporary failure is counted. Anything else is refused with a 5xx reply that says
// what was expected.
package bounce
