// Package privacy is the kernel of consentkit: the site's privacy promises held as
// Go values and the machinery every capability uses to keep them. It holds the
// Policy (operator, purposes, data categories, retention), consent records, the purpose-bound Mailer with its durable outbox and
// Dispatcher, the Registry through which every holder of personal data exports,
// erases and purges, subject requests (Rights), the disclosure register, staff
// roles with the Auditor that records their reads, the age screen, and the
// TokenMaker behind every link and bearer token the site hands out. It imports no
// capability; capabilities (accounts, contact, comments, newsletter, tracking)
// import it. It is domain only: HTTP, the policy page and NoCookies live in
// privacy/web.
//
// # The promises
//
// The code cites these promises by number; each package's own comment names the
// ones it keeps.
//
//   - P1: An account is opened with an email address, and one address holds at
//     most one account (accounts).
//   - P2: Members can upload and keep their own resources: photos, text and
//     messages (accounts).
//   - P3: The contact form asks for an email address and uses it for nothing but
//     the answer (contact).
//   - P4: A blog comment asks for a name and an email address; the name may be
//     shown, the address never is (comments).
//   - P5: Nothing personal is collected from a child under 13 without a parent's
//     consent: the age question gives no hint of the cutoff, only the parent's
//     address is kept, and it is deleted if consent does not come in time
//     (the age screen, ParseBirthDate and IsChild, used by accounts).
//   - P6: Use of the site is counted only as totals of page views, split by the
//     visitor's domain, browser and content type, and never linked to a person
//     (tracking).
//   - P7: The site sets no cookie (web.NoCookies, and every handler).
//   - P8: An address is mailed only for what it was given for: signing up,
//     support, follow-up on a comment, and newsletters or promotions the person
//     opted in to (Mailer, which refuses any other message).
//   - P9: No address and no mailing list is ever handed to a third party (the
//     Mailer mails only the data subject or the operator, and nothing exports a
//     list).
//   - P10: One person's data is disclosed only when law, valid legal process or
//     someone's safety requires it, and each disclosure is recorded
//     (Disclosures, the register).
//   - P11: Only authorised staff reach personal data, and their reads are
//     recorded (roles and the Auditor).
//   - P12: Passwords are kept only in one-way form: argon2id, with old sha1 hashes
//     replaced at the next sign-in (accounts).
//   - P13: Newsletters and promotions are sent only to those who opted in, and
//     leaving is always possible (newsletter).
//   - P14: Reading and browsing need no personal data; nothing personal is
//     collected until a person sends a form (every capability).
//   - P15: Changes to the policy are posted on the policy page, each under its own
//     version (the policy page).
//
// Beyond these, the kernel gives what visitors now expect: an export of all that is
// held about an address, erasure from every store, retention periods that purge by
// themselves, and consent records that name the policy version agreed to.
package privacy
