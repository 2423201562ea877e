// Package contact is a contact form whose address is used only to answer (P3, P8,
// P9): a visitor's request is stored under a random reference and the operator's
// support inbox is told of it; staff with the support role list, read, answer and
// close requests, and every read is an access record (P11). The form and the staff
// pages set no cookie (P7).
//
// The form is not a relay. Nothing the visitor typed is ever mailed to the address
// the visitor typed: the notification goes only to the operator's inbox, the
// optional acknowledgement (off by default, at most one per address per day) is
// fixed text, and staff replies quote nothing. Fields that reach a mail header
// refuse every control character, so no header can be injected. A honeypot field,
// a signed timestamp and per-client-address limits held in memory (the address is
// never stored or logged) keep bots out.
//
// Closed requests are purged after the retention period (180 days by default); the
// Service registers with privacy.Registry to export and erase everything it holds
// about an address. Open requests are kept until closed or erased.
//
// The request and its notification are written in one unit of work
// (privacy.UnitOfWork): either both are kept or neither is. New refuses a Store
// that is not on the Mailer's store's database, where they could not commit
// together.
//
// The host owns the markup. Every page, form and mail renders from templates
// (DefaultTemplates, embedded from contact/templates: *.html for the pages through
// html/template, *.txt for the mail through text/template), and every word a person
// sees is in them. To restyle or translate, a host gives an fs.FS of overrides,
// HandlerConfig.Templates for the pages and Config.Templates for the mail: a file
// named as a default file replaces it, and a file of any other name may redefine
// single templates, e.g. {{define "form"}} and {{define "form-title"}} for the form
// alone. A field's faults reach the templates as web.FieldError, whose Code lets a
// translation word them. An override that does not parse, or defines a template
// the package has not, makes the constructor fail naming it.
package contact
