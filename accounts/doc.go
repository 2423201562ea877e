// Package accounts keeps the policy's promises about members:
//
//   - P1: an account is created from an email address, one address one account;
//     addresses compare case-insensitively (privacy.AddressKey), so Zed@ and zed@
//     are one account, and mail goes to the address as it was typed
//     (trimmed, domain case-folded, the local part kept as typed; no
//     provider-specific rewriting), verified by a single-use mailed link that
//     asks for the password chosen with the registration that mailed it. Each
//     registration of an address not yet verified mails its own link and only the
//     newest works, so the newest mail may come from someone who registered the
//     address after its owner: asking for the password means that link confirms
//     nothing for the owner, who registers again, and whoever registered without
//     reading the address never holds its account. A link mailed before migration
//     00002 carries no password and confirms without one.
//   - P2: members store photos (type sniffed, metadata such as GPS removed, size
//     and quota bounded: 5 MiB and 16 megapixels by default, refused by the header
//     before any pixel is decoded, and decoded two at a time, so a burst of uploads
//     takes a bounded amount of memory), notes and messages, private or shared
//     with the community.
//   - P5: a neutral age screen keeps only "13 or over", never the date; under 13
//     nothing about the child is stored, only a parent's address in a consent
//     request ("email plus": a link, then a delayed confirmation), deleted if the
//     parent does not answer within 14 days.
//   - P7: no cookie, ever. A session is an opaque bearer token (256 bits from
//     privacy.TokenMaker over Config.Rand, crypto/rand unless a test injects
//     another reader) of which only the SHA-256 is stored, with idle and absolute
//     expiry; Service.Authenticate turns it into a privacy.Actor for every other
//     capability, which never imports this package.
//   - P8: mail goes out only for the account itself (confirming an address,
//     resetting a password, changing the address) under PurposeAccount,
//     and to a parent only under PurposeParentalConsent while a request of
//     theirs is on file.
//   - P11: staff roles are granted here; only an admin reads the staff list, and
//     each read is recorded by Config.Auditor when one is set.
//   - P12: passwords are argon2id PHC strings, rehashed at sign-in when parameters
//     change; legacy sha1 forms are imported and replaced at the first sign-in. A
//     bounded number of hashes run at once, and register, sign-in and reset answer
//     alike, in about the same time, whether an address has an account or not.
//
// Failed sign-ins are throttled, never locked out. The Handler limits each client
// address (HandlerConfig.Limiter: 20 hashing requests a minute). On top of that,
// the Service counts failures per address typed, with or without an account, so the
// throttle's answers (status, message, Retry-After) never tell the two apart. After
// Config.MaxFailures failures on an address within Config.FailureWindow, each
// client that has failed on it waits one second, doubled with each further failure,
// up to Config.MaxDelay, before its next try is even checked; a client that has not
// failed on it is not held back, so whoever guesses from elsewhere cannot keep the
// owner out. Once 16 clients have failed on one address, every client waits: a
// guesser with many client addresses is slowed, and the owner can still reset the
// password, which clears the count. The counts live in memory, keyed by an HMAC of
// the address and of the client address under a key drawn at start, at most 100,000
// addresses, and expire with the window: a site running several processes gives a
// guesser each process's allowance.
//
// A member may turn on codes from an authenticator app (TOTP, RFC 6238): the QR
// code is drawn by this server, the key is sealed under Config.FactorKey, ten
// one-time recovery codes are kept only hashed, and a code is accepted once. With
// codes on, a right password answers a one-time challenge, stored hashed and
// valid Config.ChallengeTTL, never a cookie; wrong codes count in the throttle
// above. Members see their sessions (when begun and last used, and a coarse
// device label from fixed lists, never an IP address or the user-agent string)
// and end one or all others. Changing the password ends every other session.
// Export, deletion without a password and turning a factor off need a proof
// (password, code or passkey) within Config.StepUpWindow in the session
// (Service.Confirm, ConfirmWithPasskey).
//
// A member may add passkeys (WebAuthn, go-webauthn) from a freshly proved
// session: discoverable and unlocked by the member (user verification), each
// signs in alone, with no address typed, and after the password in place of a
// code when codes are on. A passkey does not by itself turn on the second step:
// that stays with codes, whose recovery codes keep a member with a lost device
// from being locked out. Each exchange's state is held server-side under a
// one-time id stored hashed, valid Config.ChallengeTTL, never a cookie; the
// relying party is the site's host name (Config.PasskeyRPID), so a site served at
// an IP address has none. Only the public key, flags and signature counter are
// kept, never the attestation or the authenticator's model; a counter that goes
// back is refused. Removing a passkey needs a fresh proof.
//
// Registration opt-ins to the newsletter and promotions become privacy consent
// records, written in the registration's transaction. Staff roles live here
// (Grant, Revoke; GrantRole for operators). The Service is a privacy.Holder of the
// categories "accounts", "sign-in-sessions", "second-factors", "passkeys",
// "member-resources" and "parental-consent": members export and delete their own data, and retention
// purges unverified accounts (7 days), unanswered parental requests (14 days) and
// expired sessions, tokens, sign-in challenges and passkey ceremonies.
//
// # Markup the host owns
//
// Every word a person reads comes from DefaultTemplates, embedded and readable by
// the host: the pages and forms in *.html (html/template), the page titles, the
// messages the JSON API answers with and the mail in *.txt (text/template), one
// file per group of pages (register, parental, signin, reset, email, factors,
// staff; forms.html and common.txt hold the pieces they share: "field",
// "errors", "duration", "field-name", "signature"). A host restyles or translates by giving an fs.FS of
// its own: a file named as a default file replaces it, and any file may redefine
// single templates with {{define "name"}}. Config.Templates words the Service's
// mail and RegisterResult.Message; HandlerConfig.Templates the pages, and when
// nil the Handler takes the Service's, so one FS given to Config translates
// everything. New and NewHandler refuse an override that does not parse or that
// defines a name the defaults do not, naming it.
//
// A page's faults are web.FieldErrors: each beside its field (field.Err, or
// field.Code and field.Limit for a template that words the rule itself), the
// field named by the "field-name" template, and a fault of no field the form
// shows above it. A mail template is given Site, Operator, Link, Valid and
// Retention (durations as Days, Hours or Other, worded by "duration") and
// Approved; each template's comment says which it uses.
package accounts
