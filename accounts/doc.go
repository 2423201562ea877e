// Package accounts keeps the policy's promises about members:
//
//   - P1: an account is created from an email address, one address one account
//     (trimmed, domain case-folded, the local part kept as typed; no
//     provider-specific rewriting), verified by a single-use mailed link.
//   - P2: members store photos (type sniffed, metadata such as GPS removed, size
//     and quota bounded), notes and messages, private or shared with the community.
//   - P5: a neutral age screen keeps only "13 or over", never the date; under 13
//     nothing about the child is stored, only a parent's address in a consent
//     request ("email plus": a link, then a delayed confirmation), deleted if the
//     parent does not answer within 14 days.
//   - P7: no cookie, ever. A session is an opaque bearer token (256 bits from
//     crypto/rand) of which only the SHA-256 is stored, with idle and absolute
//     expiry; Service.Authenticate turns it into a privacy.Actor for every other
//     capability, which never imports this package.
//   - P12: passwords are argon2id PHC strings, rehashed at sign-in when parameters
//     change; legacy sha1 forms are imported and replaced at the first sign-in. A
//     bounded number of hashes run at once, failed sign-ins are throttled per
//     account (a growing delay, never a lockout) and per client address (memory
//     only), and register, sign-in and reset answer alike, in about the same time,
//     whether an address has an account or not.
//
// Registration opt-ins to the newsletter and promotions become privacy consent
// records, written in the registration's transaction. Staff roles live here
// (Grant, Revoke; GrantRole for operators). The Service is a privacy.Holder of the
// categories "accounts", "member-resources" and "parental-consent": members export
// and delete their own data, and retention purges unverified accounts (7 days),
// unanswered parental requests (14 days) and expired sessions and tokens.
package accounts
