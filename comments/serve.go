package comments

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// A thread's page is served from bytes made once per thread version. What
// differs between two views of it is only the form's stamp, single-use and so
// new for each view, and the host's layout around it; so each page is kept as
// its bytes before the stamp and after it (a holed body), each also compressed
// once as a deflate segment that ends on a byte boundary without ending the
// stream. A gzip answer is then the cached segments with the stamp and the
// layout between them as stored (uncompressed) deflate blocks: no compression
// per request. Brotli is not offered: the standard library has no encoder, and
// gzip already brings a page of 50 comments from about 45 KB to 12 KB.
//
// The layout is asked for at each view, unless it is static
// (HandlerConfig.LayoutKey; web.Plain, the default, is): then what it wrote
// for one view of a page, and the headers it set, serve every later view with
// the same key, title and host HTML around the thread. While the layout writes
// the same, a page's views are answered from whole answers kept for that frame
// (framed), only the stamp and a gzip answer's CRC written for each.
//
// The ETag names the thread version, the page, a digest of what the layout
// wrote and the stamp the page carries: the bytes are a function of those, so
// the tag is strong. A browser revalidating gets 304 only while that version
// is current and its stamp may still post a comment (valid for at least half
// the Signer's MaxAge, and not spent), so a 304 never puts a spent or expiring
// stamp back on screen: a visitor who posted is sent a page with a new one.

// holed is a response body with one hole, for the stamp.
type holed struct {
	before, after     []byte
	gzBefore, gzAfter []byte                  // before and after as deflate segments
	framed            *atomic.Pointer[framed] // the answers last made of it
}

// pageOut holds the holed bodies of one page, made on its first view.
type pageOut struct {
	once, jsonOnce sync.Once
	html           holed // the thread section (threadHTML) for a view with no reply and no errors
	json           holed // the JSON answer
	htmlErr        error
	jsonErr        error
}

func (b *holed) size() int64 {
	return int64(len(b.before) + len(b.after) + len(b.gzBefore) + len(b.gzAfter))
}

// stampMarker stands for the stamp while a page's bytes are made; stamps are
// base64url and dots, which html/template writes unchanged in an attribute.
const stampMarker = "consentkitSTAMPmarker"

func stampSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// deflateSegment compresses s as deflate blocks that end byte-aligned and
// without the final block, so that more blocks may follow it in one stream.
func deflateSegment(s []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(s); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil { // a sync flush: byte-aligned, not final
		return nil, err
	}
	return b.Bytes(), nil
}

func newHoled(body, hole string) (holed, error) {
	before, after, ok := strings.Cut(body, hole)
	if !ok || strings.Contains(after, hole) {
		return holed{}, errNoHole
	}
	gb, err := deflateSegment([]byte(before))
	if err != nil {
		return holed{}, err
	}
	ga, err := deflateSegment([]byte(after))
	if err != nil {
		return holed{}, err
	}
	return holed{before: []byte(before), after: []byte(after), gzBefore: gb, gzAfter: ga, framed: new(atomic.Pointer[framed])}, nil
}

var errNoHole = errors.New("comments: the page's stamp could not be placed")

// pageHTML returns the thread section of page n (from 1) of e, with a hole for
// the stamp, for a view with no reply and no errors.
func (s *Service) pageHTML(e *shownThread, n int) (*holed, error) {
	o := e.pages[n-1].out
	o.once.Do(func() {
		p := threadPage{View: ThreadView{Thread: e.view.Thread, Count: e.view.Count, Comments: e.pages[n-1].comments},
			List: e.pages[n-1].list, Paging: paging(e, n, ""), Feed: s.FeedURL(e.thread),
			Action: s.mount + "/t/" + e.thread + pageQuery(n), Stamp: stampMarker,
			Err: map[string]string{}, MaxName: MaxNameLen, MaxEmail: privacy.MaxEmailLen, MaxBody: s.cfg.MaxBody, MaxLinks: s.cfg.MaxLinks}
		var body template.HTML
		if body, o.htmlErr = e.markup.threadHTML(p); o.htmlErr == nil {
			o.html, o.htmlErr = newHoled(string(body), stampMarker)
		}
		if o.htmlErr == nil && s.cache != nil {
			s.cache.grow(e, o.html.size())
		}
	})
	return &o.html, o.htmlErr
}

// pageJSON returns the JSON answer to page n of e, with a hole for the stamp.
func (s *Service) pageJSON(e *shownThread, n int) (*holed, error) {
	o := e.pages[n-1].out
	o.jsonOnce.Do(func() {
		out := threadJSON{ThreadView: ThreadView{Thread: e.view.Thread, Count: e.view.Count, Comments: e.pages[n-1].comments}}
		out.Paging = paging(e, n, s.base+"/t/"+e.thread)
		out.Form.Timestamp, out.Form.Honeypot = stampMarker, web.Honeypot
		out.Form.MaxBody, out.Form.MaxLinks = s.cfg.MaxBody, s.cfg.MaxLinks
		var b bytes.Buffer
		// As web.WriteJSON encodes, so the bytes are those it would send.
		if o.jsonErr = json.NewEncoder(&b).Encode(out); o.jsonErr == nil {
			o.json, o.jsonErr = newHoled(b.String(), stampMarker)
		}
		if o.jsonErr == nil && s.cache != nil {
			s.cache.grow(e, o.json.size())
		}
	})
	return &o.json, o.jsonErr
}

// acceptsGzip reports whether r's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			if !strings.EqualFold(coding, "gzip") && !strings.EqualFold(coding, "x-gzip") && coding != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}

// served is one answer made from a holed body: head, before, stamp, after,
// foot, in that order.
type served struct {
	head, foot []byte
	body       *holed
	stamp      string
	etag       string // the ETag; empty for none
}

func (o *served) length() int {
	return len(o.head) + len(o.body.before) + len(o.stamp) + len(o.body.after) + len(o.foot)
}

// etag returns the ETag of an answer with core and stamp, in the encoding gz
// says.
func etag(core, stamp string, gz bool) string {
	if gz {
		return `"` + core + stamp + `~gz"`
	}
	return `"` + core + stamp + `~id"`
}

// storedBlocks appends p to dst as stored deflate blocks, the last one final
// when final is set.
func storedBlocks(dst, p []byte, final bool) []byte {
	for {
		n := min(len(p), 0xffff)
		last := n == len(p)
		var h byte
		if last && final {
			h = 1
		}
		dst = append(dst, h, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		dst = append(dst, p[:n]...)
		p = p[n:]
		if last {
			return dst
		}
	}
}

var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// answer is the body of one answer, as sent, and where its stamp is in it.
type answer struct {
	b       []byte
	stampAt int
	stamp   int      // the stamp's length
	length  []string // the Content-Length value, when kept with a frame
}

// build makes o's body, gzip-encoded when gz is set, in a.
func (o *served) build(a *answer, gz bool) {
	stamp := []byte(o.stamp)
	a.stamp = len(stamp)
	if !gz {
		// One buffer, written at once: each piece written on its own costs a
		// system call.
		b := append(append(a.b[:0], o.head...), o.body.before...)
		a.stampAt = len(b)
		b = append(append(append(b, stamp...), o.body.after...), o.foot...)
		a.b = b
		return
	}
	b := storedBlocks(append(a.b[:0], gzipHeader...), o.head, false)
	b = append(b, o.body.gzBefore...)
	a.stampAt = len(b) + 5 // after the stored block's header
	b = storedBlocks(b, stamp, false)
	b = append(b, o.body.gzAfter...)
	b = storedBlocks(b, o.foot, true)
	crc := crc32.Update(crc32.Update(0, crc32.IEEETable, o.head), crc32.IEEETable, o.body.before)
	b = binary.LittleEndian.AppendUint32(b, o.crcFrom(crc, stamp))
	a.b = binary.LittleEndian.AppendUint32(b, uint32(o.length()))
}

// crcFrom returns the CRC-32 of o's uncompressed body given crc, that of what
// precedes the stamp, and the stamp's bytes.
func (o *served) crcFrom(crc uint32, stamp []byte) uint32 {
	crc = crc32.Update(crc, crc32.IEEETable, stamp)
	crc = crc32.Update(crc, crc32.IEEETable, o.body.after)
	return crc32.Update(crc, crc32.IEEETable, o.foot)
}

// Header values every thread answer sets, made once: a header map's values
// are only read, and copied when the answer is sent, so answers share them.
var (
	varyEncoding  = []string{"Accept-Encoding"}
	gzipEncoding  = []string{"gzip"}
	revalidate    = []string{"private, no-cache"}
	headerETag    = http.CanonicalHeaderKey("ETag")
	headerNoStore = []string{"no-store"}
	jsonType      = []string{"application/json; charset=utf-8"}
)

// send answers with body, o's in the encoding gz says, length its
// Content-Length value when the caller has one made. Cache-Control and the
// status are the caller's.
func (o *served) send(w http.ResponseWriter, status int, gz bool, body []byte, length []string) {
	hd := w.Header()
	if v := hd["Vary"]; len(v) == 0 {
		hd["Vary"] = varyEncoding
	} else {
		hd["Vary"] = append(v, varyEncoding[0])
	}
	if o.etag != "" {
		hd[headerETag] = []string{o.etag}
	}
	if gz {
		hd["Content-Encoding"] = gzipEncoding
	}
	if length == nil {
		length = []string{strconv.Itoa(len(body))}
	}
	hd["Content-Length"] = length
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// answerBufs hold answers while they are written.
var answerBufs = sync.Pool{New: func() any { return &answer{b: make([]byte, 0, 64<<10)} }}

// write answers with o, gzip-encoded when gz is set, from answers made for
// fr's frame when it has one.
func (o *served) write(w http.ResponseWriter, status int, gz bool, fr *framed) {
	if fr == nil {
		a := answerBufs.Get().(*answer)
		o.build(a, gz)
		o.send(w, status, gz, a.b, nil)
		answerBufs.Put(a)
		return
	}
	pool := &fr.id
	if gz {
		pool = &fr.gz
	}
	a, _ := pool.Get().(*answer)
	switch {
	case a == nil || a.stamp != len(o.stamp):
		if a == nil {
			a = &answer{}
		}
		o.build(a, gz)
		a.length = []string{strconv.Itoa(len(a.b))}
	case !gz:
		copy(a.b[a.stampAt:], o.stamp)
	default:
		copy(a.b[a.stampAt:], o.stamp)
		fr.crcOnce.Do(func() {
			fr.crcBefore = crc32.Update(crc32.Update(0, crc32.IEEETable, o.head), crc32.IEEETable, o.body.before)
		})
		binary.LittleEndian.PutUint32(a.b[len(a.b)-8:], o.crcFrom(fr.crcBefore, a.b[a.stampAt:a.stampAt+a.stamp]))
	}
	o.send(w, status, gz, a.b, a.length)
	pool.Put(a)
}

// framed is a holed body in the frame of one layout's head and foot. While the
// layout writes the same head and foot, the views of the body are answered
// from whole answers made for that frame, kept in pools, of which only the
// stamp (and a gzip answer's CRC) is written for each view: no copy of the
// body, no digest of the frame. It is not modified once stored.
type framed struct {
	head, foot []byte
	status     int
	tag        string      // the ETag core but the stamp; empty for none
	layout     *layoutCall // the static Layout's call that made head and foot; nil for none
	crcOnce    sync.Once
	crcBefore  uint32    // CRC-32 of head and before
	id, gz     sync.Pool // of *answer
}

// frame returns body's answers for the frame of head, foot and status, made
// by call unless it is nil, for page n in format of e; last is false when the
// body was last framed otherwise, so the caller makes its answer as it would
// for a frame seen once.
func (b *holed) frame(e *shownThread, format string, n int, head, foot []byte, status int, call *layoutCall) (fr *framed, last bool) {
	if fr := b.framed.Load(); fr != nil && fr.status == status && bytes.Equal(fr.head, head) && bytes.Equal(fr.foot, foot) &&
		(call == nil || fr.layout != nil) {
		return fr, true
	}
	fr = &framed{head: head, foot: foot, status: status, layout: call}
	if e.versioned {
		fr.tag = tagCore(e, format, n, head, foot)
	}
	b.framed.Store(fr)
	return fr, false
}

// tagCore returns the ETag core, but for the stamp, of a view of page n of e
// framed by head and foot.
func tagCore(e *shownThread, format string, n int, head, foot []byte) string {
	d := sha256.New()
	d.Write(head)
	d.Write([]byte{0})
	d.Write(foot)
	var sum [sha256.Size]byte
	return "ck1~" + format + "~" + strconv.FormatInt(e.version, 36) + "~" + strconv.Itoa(n) + "~" +
		hex.EncodeToString(d.Sum(sum[:0])[:12]) + "~"
}

// reusedStamp returns the stamp of the first of r's If-None-Match tags whose
// core is made by mk from it, when that stamp may still post a comment for half
// its life and has not posted one: the view it tags is current and may be shown
// again. Empty otherwise.
func (h *Handler) reusedStamp(ctx context.Context, r *http.Request, mk func(stamp string) string, gz bool) string {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return ""
	}
	for t := range strings.SplitSeq(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
			continue
		}
		core := t[1 : len(t)-1]
		i := strings.LastIndexByte(core, '~')
		if i < 0 {
			continue
		}
		if enc := core[i+1:]; enc != "gz" && enc != "id" || (enc == "gz") != gz {
			continue
		}
		core = core[:i]
		stamp := core[strings.LastIndexByte(core, '~')+1:]
		if !stampSafe(stamp) || mk(stamp) != core || !h.stampFresh(ctx, stamp) {
			continue
		}
		return stamp
	}
	return ""
}

// stampFresh reports whether stamp is one this Handler made, is valid for at
// least half the Signer's MaxAge more, and has posted no comment.
func (h *Handler) stampFresh(ctx context.Context, stamp string) bool {
	half := *h.cfg.Signer
	if half.MaxAge <= 0 {
		half.MaxAge = 24 * time.Hour // web.Signer's default
	}
	half.MaxAge /= 2
	half.MinAge = -1 // a page shown a second ago is still the page
	signed, _, _ := strings.Cut(stamp, ".")
	if half.Check(signed) != nil {
		return false
	}
	_, _, err := h.checkStampWith(ctx, &half, stamp)
	return err == nil
}

// layoutCapture records what the host's Layout writes, sharing the real
// writer's header map.
type layoutCapture struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (c *layoutCapture) Header() http.Header { return c.header }
func (c *layoutCapture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *layoutCapture) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.buf.Write(p)
}

// bodyMarker stands for the page's body in the host's Layout.
const bodyMarker = "<!--consentkit:comments:thread-->"

// layoutCall is one call of a static Layout (see HandlerConfig.LayoutKey): what
// it was given, the request's key, and the headers it set. Another call with
// the same writes the same.
type layoutCall struct {
	key, title    string
	status        int
	before, after template.HTML
	set           http.Header // the headers it set, as it left them; only read
	del           []string    // those it removed
}

func (c *layoutCall) same(key string, status int, title string, before, after template.HTML) bool {
	return c != nil && c.key == key && c.status == status && c.title == title && c.before == before && c.after == after
}

// apply makes hd as c's Layout left it.
func (c *layoutCall) apply(hd http.Header) {
	for k, v := range c.set {
		hd[k] = v
	}
	for _, k := range c.del {
		delete(hd, k)
	}
}

// frame returns what the host's Layout writes before and after the body of a
// page with title, and its status; ok is false when its output does not hold
// the body exactly once, so the page must go through the Layout whole. When
// the Layout is static, call records the call, with key the request's.
func (h *Handler) frame(w http.ResponseWriter, r *http.Request, status int, title string, before, after template.HTML, key string) (head, foot []byte, code int, call *layoutCall, ok bool) {
	c := &layoutCapture{header: w.Header()}
	var was http.Header
	if h.static {
		was = c.header.Clone()
	}
	h.cfg.Layout(c, r, status, title, bodyMarker)
	out := c.buf.Bytes()
	i := bytes.Index(out, []byte(bodyMarker))
	if i < 0 || bytes.Contains(out[i+len(bodyMarker):], []byte(bodyMarker)) {
		return nil, nil, 0, nil, false
	}
	head = append(out[:i:i], before...)
	foot = append([]byte(after), out[i+len(bodyMarker):]...)
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if h.static {
		call = &layoutCall{key: key, title: title, status: status, before: before, after: after, set: http.Header{}}
		for k, v := range c.header {
			if !slices.Equal(v, was[k]) {
				call.set[k] = slices.Clip(slices.Clone(v))
			}
		}
		for k := range was {
			if _, ok := c.header[k]; !ok {
				call.del = append(call.del, k)
			}
		}
	}
	return head, foot, c.status, call, true
}

// framedBody returns the answers of body in the frame of the host's Layout
// with title, before and after, the frame a static Layout made for an earlier
// view with the same when there is one (its headers set on w), else the one
// the Layout writes now; last as holed.frame's; ok as Handler.frame's.
func (h *Handler) framedBody(w http.ResponseWriter, r *http.Request, shown *shownThread, n int, body *holed, title string, before, after template.HTML) (fr *framed, last, ok bool) {
	var key string
	if h.static {
		if h.cfg.LayoutKey != nil {
			key = h.cfg.LayoutKey(r)
		}
		if fr := body.framed.Load(); fr != nil && fr.layout.same(key, http.StatusOK, title, before, after) {
			fr.layout.apply(w.Header())
			return fr, true, true
		}
	}
	head, foot, status, call, ok := h.frame(w, r, http.StatusOK, title, before, after, key)
	if !ok {
		return nil, false, false
	}
	fr, last = body.frame(shown, "html", n, head, foot, status, call)
	return fr, last, true
}

// ServeThread answers r with the page of thread that r's ?page= asks for, in
// the Layout with title, before and after placed around the thread section:
// the host's own page of a thread, such as a blog post, served as GET
// /t/{thread} serves the thread alone, from bytes made once per thread
// version, gzip-encoded when r allows, with an ETag a browser revalidates.
// before and after are the host's HTML, written as they are. A ?reply= view
// (the form under the comment answered) and a ?posted= view (the author's own
// comment, opened by its manage token, where Handler sends a browser after a
// post) are rendered for the request, the second kept by no cache. When the
// thread cannot be shown it writes nothing and returns the error (ErrInvalid
// or ErrNotFound naming "thread" or "page", or the store's), so the host can show its page without the comments.
func (h *Handler) ServeThread(w http.ResponseWriter, r *http.Request, thread, title string, before, after template.HTML) error {
	shown, err := h.svc.shown(r.Context(), thread, h.markup)
	if err != nil {
		return err
	}
	n, err := page(r, shown)
	if err != nil {
		return err
	}
	var q url.Values // nil, and so empty, for a request with no query
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if q.Get("reply") == "" && q.Get("posted") == "" {
		body, err := h.svc.pageHTML(shown, n)
		if err != nil {
			return err
		}
		if fr, last, ok := h.framedBody(w, r, shown, n, body, title, before, after); ok {
			h.serveHoled(w, r, body, fr, last)
			return nil
		}
	}
	p, err := h.threadPage(r, thread, Input{}, nil, false)
	if err != nil {
		return err
	}
	frag, err := h.markup.threadHTML(p)
	if err != nil {
		return err
	}
	if q.Get("posted") != "" {
		// The URL holds the author's manage token and the page their pending
		// comment: kept by no cache, and sent to no other site in a Referer.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	h.cfg.Layout(w, r, http.StatusOK, title, before+frag+after)
	return nil
}

// serveHoled answers with body in the frame fr (last as holed.frame's), its
// hole filled with the stamp of the view the browser holds when that view is
// current (304), else with a new one.
func (h *Handler) serveHoled(w http.ResponseWriter, r *http.Request, body *holed, fr *framed, last bool) {
	gz := acceptsGzip(r)
	o := served{head: fr.head, foot: fr.foot, body: body}
	status := fr.status
	if status == http.StatusOK && fr.tag != "" {
		mk := func(stamp string) string { return fr.tag + stamp }
		if stamp := h.reusedStamp(r.Context(), r, mk, gz); stamp != "" {
			hd := w.Header()
			hd["Cache-Control"] = revalidate
			hd.Add("Vary", "Accept-Encoding")
			hd.Set("ETag", etag(fr.tag, stamp, gz))
			hd.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	o.stamp = h.stamp()
	if status == http.StatusOK && fr.tag != "" {
		o.etag = etag(fr.tag, o.stamp, gz)
		// Stored by the browser, and asked about before each use.
		w.Header()["Cache-Control"] = revalidate
	}
	if !last {
		fr = nil
	}
	o.write(w, status, gz, fr)
}
