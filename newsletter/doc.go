// Package newsletter is the site's opt-in newsletter and promotions (promise P13),
// kept so that no list or address is ever shared (P9) and email is used only for the
// purpose it was given for (P8). Its pages set no cookie (P7), and relaying a
// complaint, the one staff act that shows an address, is for admins only and
// recorded in the access log (P11).
//
// A site defines its own lists (Config.Lists: name, title, description, and the
// privacy.Purpose it mails under, newsletter or promotions; DefaultLists, a newsletter
// and promotions, when it defines none). Each list is its own opt-in, even beside
// another of the same purpose, and a campaign reaches its own list's members only.
// The pages, the mails, the policy page (Contract) and the consent records
// (ConsentSource) name the lists. Subscribing is double opt-in: the confirmation link opens a page
// that confirms only on POST, so a link scanner following GET links confirms no one.
// Opt-ins made at account registration arrive as privacy consent records and are
// honoured by SyncConsents without importing the accounts capability. Every opt-in and
// withdrawal appends a privacy consent record (list, policy version, source, time).
// No IP address, user agent or other trace of the visitor is stored.
//
// Leaving is always possible and takes effect at once: every campaign mail carries its
// recipient's own unsubscribe link and List-Unsubscribe / List-Unsubscribe-Post
// headers (RFC 8058 one-click); a POST to that link unsubscribes, a GET only shows a
// button. The preference page leaves single lists. The Service is the
// privacy.MessageAllower for both purposes: a confirmed member may be mailed, a
// pending subscriber only the confirmation (Ref ConfirmRef). The Dispatcher re-checks
// it just before delivery, so a person who leaves between enqueue and delivery gets
// nothing more. Permanent
// delivery failures (suppressed by the outbox) and complaints (ReportComplaint; from
// staff, RelayComplaint: admins only, recorded in the access log) stop all future
// mail to an address.
//
// Campaigns (privacy.RoleEditor) are written in Markdown, rendered to HTML with a
// plain-text alternative; images, raw HTML, tracking pixels and link rewriting do not
// exist. A campaign reaches the confirmed members of its list only, through the
// privacy outbox, in batches: each batch's messages and the campaign's resume cursor
// commit in one transaction, so a crash mid-campaign loses no recipient, and a
// recipient can receive a second copy only if their message was being delivered at
// the moment of the crash. Progress (queued, sent, failed, total, rate, time left) can
// be read while it sends. The staff pages (/staff/campaigns under the Handler) write
// and edit drafts, preview them, send a test to an operator address, show each
// list's member count (a number, never who), send after a confirmation, now or at a
// time, and cancel; a scheduled campaign is sent by whichever process finds it due
// first (SendDue in Run), once.
//
// Every word a person reads, on a page or in a mail, but the English sentence of a
// fault, is in the templates of DefaultTemplates (the files under templates/): the
// pages and forms in *.html (html/template), the confirmation mail and a campaign's
// text in *.txt (text/template), a campaign's HTML in campaign.html, and the lists'
// names in lists.txt, which pages and mails both use ({{text "list-titles"
// .Lists}}). A host restyles or translates them by passing its own files as
// HandlerConfig.Templates (pages) and Config.Templates (mail), usually the same
// fs.FS: a file named as a default file replaces it, and any file may redefine
// single templates with {{define "name"}}. An override that does not parse, or
// defines a name the defaults do not, fails New or NewHandler with an error naming
// it. Each page's title is the template of its name with "-title" added
// ("subscribe-title"). The faults of a form come as web.FieldError values, given to
// the template "field-error": its Text is English, and a translation words a fault
// by its Field, Code and Limit. Each template's data is described in a comment at
// the top of its file.
//
// No API or page lists or exports subscribers. A person's own subscriptions are
// exported and erased only through the privacy Registry (holder "newsletter").
package newsletter
