// Package tracking tallies page views as aggregate counters — per page, visitor
// domain, browser and content type — and never ties one to a person. It keeps
// promise P6 of the policy ("usage is tallied as aggregate page views, broken down by
// visitor domain, browser type and MIME type"), and with it P7 (it sets no cookie) and
// P14 (reading the site collects nothing personal).
//
// # What is kept, and what is not
//
// A Tracker is server-side middleware: no script, no pixel, no cookie. For each
// successful GET (any 2xx but 204, 205 and 206) it adds one to four counters, each in
// a table of its own, so no combination of values can single a visitor out:
//
//   - the path, as an allow-listed path or the pattern it matches ("/blog/{slug}"),
//     or, for the patterns the host lists in TrackerConfig.ByPath, the page's own
//     path ("/blog/hello-world", at most TrackerConfig.MaxPaths of them); the query
//     is dropped and any other path counts as "(other)", so visitors cannot grow the
//     table (TrackerConfig.Paths, TrackerConfig.MuxPatterns);
//   - the visitor's domain: reverse DNS of the client address reduced to the domain
//     registered under an ICANN public suffix ("example.net"), or "(unresolved)";
//   - the browser family and major version under the name the browser goes by
//     ("Chrome 131", "Samsung Internet 26", "Android WebView 131", "Instagram
//     in-app"), or "(unknown)";
//   - the response's media type, without parameters ("text/html").
//
// Bots and prefetches (by user agent and by the Sec-Purpose, Purpose, X-Purpose and
// X-Moz headers) are counted as one daily total and left out of every other figure:
// crawlers, AI crawlers, monitoring and testing agents, headless browsers, HTTP
// libraries and command-line tools.
//
// No IP address, user-agent string, account id, cookie or per-visitor identifier —
// hashed or not — is stored in any table, written to any log line or shown in any
// report. In memory, the address is used for one thing: the domain lookup. Lookups
// run off the request path in worker goroutines with a timeout; their cache is keyed
// by network (the /24 of an IPv4 address, the /48 of an IPv6 one), never by address,
// and the address handed to a lookup is dropped as soon as it returns. Behind a proxy,
// the address comes only from TrackerConfig.TrustedHeader. User agents are parsed
// once per distinct string, with uap-core's rules (the ua-parser project's, through
// uap-go) and signs of automation, by a goroutine off the request path: a hit with a
// user agent not seen before waits there, in memory, until it is known to be a
// person's or a bot's (at most 4,096 hits wait; past that, a flood of distinct user
// agents counts as bots). What is remembered is which label a keyed hash of the
// string stands for, not the string.
//
// # Counting and durability
//
// Counting happens in memory, in shards chosen at random, so the request path takes no
// global lock and allocates nothing beyond its response-writer wrapper (values are
// counted as small integer ids and named at flush time; the hour of a hit comes from
// a clock the flusher advances every 50 ms unless TrackerConfig.Now is set). Every
// FlushEvery (default 10 s) and on Close the counts are written to the Store in one
// batch of additive upserts (INSERT ... ON DUPLICATE KEY UPDATE n = n + VALUES(n) on
// MySQL). A crash therefore loses at most one interval of counts; a flush that fails
// is retried with the next, under the batch's key (Store.Add), so a batch the Store
// added after all (the answer to its commit lost) is not counted twice. Several
// processes may write to one database: their counts add up exactly.
//
// # Storage and retention
//
// Paths are counted per hour, the other dimensions per day. Service.Maintain — also
// run by the privacy Registry through Service.Purge — rolls hourly counters older than
// Config.HourlyFor into days, daily counters older than Config.DailyFor into months,
// and deletes every counter older than Config.RetentionMonths (default 25). The
// Service is a privacy.Holder of the category "usage-statistics" and a
// privacy.Purger; it is neither an Exporter nor an Eraser, because it holds nothing
// about any person to export or erase.
//
// # Reports
//
// Service.Report gives totals, a time series and the top values of each dimension
// over a range; Service.PathSeries one path's series; Service.Compare a report beside
// the period of the same length just before it (PreviousRange). A value with fewer
// than Config.K (default 5) views in the range is merged into "(other)", so a rare
// domain or page cannot point at the one visitor behind it; in a comparison, a
// value's previous views under K are not given either, but counted in the previous
// "(other)". Handler serves the reports as JSON, as CSV and as pages with
// server-rendered SVG charts (no JavaScript, no style attribute, nothing loaded from
// elsewhere): a range is a Preset (today, 7 days, 30 days, 12 months) or two dates in
// the URL, each figure stands beside the previous period's and its change, and the
// page's CSV link holds the figures it shows as a data: URL, so it downloads without
// credentials wherever the page is shown. HandlerConfig.Title names the pages a
// report lists by their titles. It is separate
// from the middleware: whether only staff see it is the host's choice
// (HandlerConfig.Role, or where the host mounts it). It only reads (GET and HEAD), so
// it needs no cross-origin protection, and it sets no cookie.
//
// The host owns the pages' markup. They render from templates (DefaultTemplates,
// embedded from tracking/templates, parsed with html/template) that hold every word
// they show, the charts' SVG with them. To restyle or translate, a host gives
// HandlerConfig.Templates, an fs.FS of overrides: a file named as a default file
// replaces it, and a file of any other name may redefine single templates, e.g.
// {{define "path"}} and {{define "path-title"}} for one path's page alone. A faulty
// parameter reaches the templates as web.FieldError, whose Code lets a translation
// word it. An override that does not parse, or defines a template the package has
// not, makes NewHandler fail naming it.
package tracking
