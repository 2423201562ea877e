// Package web is consentkit over HTTP: the kit every capability's handler is
// built from, and the privacy kernel's own pages.
//
// The kit: the one map from error kind to HTTP status and the one JSON writer
// (WriteJSON, WriteJSONError), field errors for pages (FieldErrors), the security
// headers every page sends (SecurityHeaders), NoCookies (P7), form decoding with a
// bounded body, a honeypot field and a signed timestamp that a bot submitting at
// once cannot pass (Decode, Honeypot, Signer), per-client-address rate limits kept
// in memory only, the address never stored (Limiter), content negotiation between
// HTML forms and the JSON API (WantsJSON), the host's page layout (Layout) and
// mounting under any prefix (Mount).
//
// The kernel's pages (Handler): the policy page and its history (P15), composed from
// the contracts of the registered holders (PolicyMarkdown, PolicyHTML); the data
// request pages through which anyone can export or erase what the site holds about
// their address; and the admin API for the access log (P11), the disclosure register
// (P10), consent histories and completed requests. Public pages work without
// JavaScript and set no cookie; every POST is refused when it comes from another
// origin.
package web
