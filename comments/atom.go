package comments

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// FeedSize is how many comments, newest first, a thread's feed holds at most;
// fewer when their HTML would pass Config.PageHTML, as a page of the thread
// does (audit #13 finding 4), but never none when the thread has one.
const FeedSize = 50

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

// atomPerson has no email element on purpose: Atom allows one, P4 does not.
type atomPerson struct {
	Name string `xml:"name"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Author    atomPerson  `xml:"author"`
	Link      atomLink    `xml:"link"`
	Content   atomContent `xml:"content"`
}

// FeedURL returns the address of thread's Atom feed.
func (s *Service) FeedURL(thread string) string { return s.base + "/feed/" + thread }

// ThreadURL returns the public page of thread (Config.ThreadURL).
func (s *Service) ThreadURL(thread string) string { return s.threadURL(thread) }

// Atom returns thread's newest published comments (FeedSize), newest first, as
// an Atom feed. Entries carry the author's name and the sanitized HTML, never an
// address. Returns ErrInvalid or ErrNotFound naming "thread".
func (s *Service) Atom(ctx context.Context, thread string) ([]byte, error) {
	shown, err := s.shown(ctx, thread, nil)
	if err != nil {
		return nil, err
	}
	// Every published comment is in the tree (a reply under its parent), and only
	// tombstones are marked Deleted.
	var published []*Public
	var collect func(ps []Public)
	collect = func(ps []Public) {
		for i := range ps {
			if !ps[i].Deleted {
				published = append(published, &ps[i])
			}
			collect(ps[i].Replies)
		}
	}
	collect(shown.view.Comments)
	slices.SortFunc(published, func(a, b *Public) int { return cmp.Compare(b.ID, a.ID) })
	page := s.threadURL(thread)
	host := "localhost"
	if u, err := url.Parse(s.base); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	title := func(name string, data any) (string, error) {
		var b strings.Builder
		err := s.tpl.Text.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	feedTitle, err := title("feed-title", struct{ Thread string }{thread})
	if err != nil {
		return nil, err
	}
	f := atomFeed{
		ID:    page,
		Title: feedTitle,
		Links: []atomLink{{Rel: "self", Type: "application/atom+xml", Href: s.FeedURL(thread)}, {Rel: "alternate", Type: "text/html", Href: page}},
	}
	var updated time.Time
	budget := s.cfg.PageHTML
	for i, p := range published[:min(len(published), FeedSize)] {
		if budget -= len(p.HTML); budget < 0 && i > 0 {
			break
		}
		changed := p.Created
		if p.Edited != nil && p.Edited.After(changed) {
			changed = *p.Edited
		}
		if changed.After(updated) {
			updated = changed
		}
		entryTitle, err := title("feed-entry-title", struct{ Name string }{p.Name})
		if err != nil {
			return nil, err
		}
		f.Entries = append(f.Entries, atomEntry{
			ID:        fmt.Sprintf("tag:%s,%s:comment-%d", host, p.Created.Format("2006-01-02"), p.ID),
			Title:     entryTitle,
			Published: p.Created.Format(time.RFC3339),
			Updated:   changed.Format(time.RFC3339),
			Author:    atomPerson{Name: p.Name},
			Link:      atomLink{Rel: "alternate", Type: "text/html", Href: fmt.Sprintf("%s#c%d", page, p.ID)},
			Content:   atomContent{Type: "html", Body: string(p.HTML)},
		})
	}
	if updated.IsZero() {
		updated = time.Unix(0, 0).UTC()
	}
	f.Updated = updated.Format(time.RFC3339)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
