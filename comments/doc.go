// Package comments is a blog comment engine that keeps promise P4 — a comment needs
// a name and an email address, and the address is never shown — together with P7
// (no cookies), P8 and P9 (the address is mailed only for comment follow-up, only
// after the commenter confirmed it, and never shared), P11 (a moderator reads an
// address only through the privacy.Auditor) and P14 (reading a thread collects
// nothing).
//
// Comments are rendered on the server: a thread page with its form works without
// JavaScript and sets no cookie, and the same routes answer JSON to a client that
// asks for it. The commenter's address appears in no public HTML, JSON or Atom
// response — not even in the form shown again after an error, which asks for it
// again — and the store's thread read does not even fetch it. It feeds no avatar
// service: the optional avatar is the commenter's
// initials on one of eight colours chosen by a keyed hash (HMAC-SHA256 with the
// site's Key), so the colour cannot be computed from the address by anyone who
// lacks the key, and no image is fetched from a third party.
//
// # Markup
//
// Every page, form and mail renders from the templates in DefaultTemplates,
// which hold every word a person reads: the pages and the comment form (*.html,
// html/template), the follow-up mail and the feed's titles (*.txt,
// text/template). A host restyles or translates them by handing its overrides to
// NewHandler (HandlerConfig.Templates, for the pages) and to New
// (Config.Templates, for the mail and the feed): a file named as a default file
// replaces it, and any file may redefine single templates, so
//
//	{{define "form"}}<form class="mine" method="post" action="{{.Action}}">…{{end}}
//
// restyles and translates the comment form alone. Both constructors fail on an
// override that does not parse or that defines a template the defaults do not.
// Errors reach the templates as web.FieldError values, which a translation
// words by Code; the error messages of Go code stay in English. A comment in the
// list is written by the package for speed, its words (the date's layout, the
// reply link, "edited", "deleted") taken from their templates once, at
// NewHandler.
//
// # Markdown
//
// A comment's body is Markdown (goldmark, raw HTML off), rendered once when it is
// written and sanitized with bluemonday's UGC policy: links get
// rel="nofollow ugc noopener", only http, https and mailto URLs survive (relative
// URLs too are dropped, so a comment cannot point at the site's own forms), and
// images are shown as links, so reading a comment never makes the reader's browser
// contact a server the commenter chose. The Markdown source is kept beside the HTML
// so Rerender can apply a changed policy to every stored comment.
//
// # Thread cache
//
// A thread page of 1,000 comments takes about 10 ms to read from MySQL and render,
// so each Service keeps the threads it showed last, as visitors see them (the
// public tree and its rendered HTML, never an address), under the version the
// store keeps for each thread (Store.ThreadVersion). A page view asks for that
// version, and reads and renders the comments only when it differs from the cached
// one. The store changes the version in the transaction of every change to what the
// thread shows, so a process never shows a thread from before a change the store
// acknowledged (its method returned) to it or to any other process on the same
// database; comments/mysqlstore answers the views of a busy thread from one recent
// read rather than a round trip each (see VersionLag there). Many visitors arriving
// after a change wait for one read of the comments. Config.ThreadCache bounds the
// cache's estimated bytes (32 MiB by default), dropping the thread shown least
// recently first; CacheStats reports its use.
//
// A page is served from its bytes made once per version, gzip-encoded once, with
// only its form stamp new at each view: one HMAC-SHA256 and no system call (see
// Handler). The host's Layout around it runs at each view unless the host declares
// it static (HandlerConfig.LayoutKey; the default Layout is), when it runs once per
// page, key, title and host HTML, and its views reuse what it wrote.
//
// # Size
//
// What a thread stores and serves is bounded, so that a flood of comments cannot
// exhaust memory: a comment's rendered HTML (MaxHTML, 16 KiB), a thread's comments
// (MaxThreadSize, 1,000, and MaxThreadHTML, 4 MiB of HTML), one page of a thread
// as HTML or JSON (PageComments, 50, and PageHTML, 128 KiB of comment HTML; pages
// link to their neighbours and JSON carries Paging), and the feed (the newest
// FeedSize, 50, within PageHTML).
//
// # Moderation
//
// By default (ModerateFirst) the first comment from an address waits for a
// moderator and later ones publish at once, once one was approved. Moderators
// (privacy.RoleModerator) approve, reject and delete, one comment or those chosen
// on a page of the queue at once; the queue shows each comment as its page will,
// with a link to that page, and no address, and CommenterEmail returns one. Every one of these writes an access record
// through the required privacy.Auditor first (P11): the queue one per commenter it
// shows, the others one for the comment's author. A known limitation of ModerateFirst, shared with every engine that
// uses the rule: whoever knows an approved commenter's address can post under it
// without moderation, and sees that the address had commented. Hosts for whom that
// matters choose ModerateAll.
//
// # Follow-up mail
//
// "Email me about replies" is honoured only after double opt-in. Asking sends one
// confirmation mail (purpose PurposeFollowUp) whose link opens a page
// that confirms on POST; a GET changes nothing, so a mail scanner that follows links
// confirms nothing. Every follow-up mail, the confirmation included, carries a
// one-click stop link (RFC 8058). The Service registers a privacy.MessageAllower for
// the purpose, which the Mailer asks at Send and again at delivery. It allows a
// message only when a live comment from the address asked for follow-up and the
// address has not used the stop link; a reply notification (or any other message)
// also needs the address confirmed, while the confirmation mail (Ref ConfirmRef)
// passes with an unexpired pending request. So a pending request carries the
// confirmation and nothing else, at most one confirmation is issued per address per
// ConfirmTTL, and a confirmation still queued when its link expires is refused at
// delivery.
//
// The stop link stops every follow-up mail to the address, a pending confirmation
// included, and no new confirmation is sent to it; the stop page offers to resume,
// which, since the link reached only that mailbox, also confirms the address. The
// link's token is an HMAC of the address under Key; only its SHA-256 is stored.
// Rotating Key therefore invalidates the stop links in mail already sent.
//
// # Manage link
//
// Posting a comment answers with a "manage my comment" link: a random 256-bit
// token of which only the SHA-256 is stored. It lets the author edit the comment
// for EditWindow (15 minutes) and delete it at any time, without an account. A
// browser that posted the form is sent (303 See Other, so a refresh posts nothing
// again) to the thread's page with the token in its query (?posted=), where the
// author, and only whoever holds the token, sees the comment, pending or
// published, with its link; that page is kept by no cache and sends no Referer.
//
// # Spam
//
// The handler refuses a filled honeypot (answered as a success, nothing stored), a
// missing, forged or too-fresh form stamp (web.Signer), a stamp that already posted
// a comment (each served form has its own; the store keeps a spent one's hash
// until it expires, so every process refuses it), and, by default, more than
// 10 comments an hour after a burst of 5 from one client address (web.Limiter,
// memory only; the address is never stored or logged). The Service refuses more than MaxLinks links in a comment, the
// same text twice from one address in one thread, and the same text posted anywhere
// by anyone within DuplicateWindow.
//
// # Personal data
//
// The Service is a privacy.Holder of the category "comments": Export returns every
// comment and the follow-up state held for an address; Erase removes them, or with
// EraseKeepText keeps published comments' text under the name "deleted" with no name,
// address, avatar or manage link; Purge removes rejected comments RejectedRetention
// (30 days) after rejection and confirmation requests that were never confirmed.
package comments
