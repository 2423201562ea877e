package comments

import (
	"strconv"
)

// Paging bounds what one view of a thread serves (audit #13 finding 4): a thread
// may hold Config.MaxThreadSize comments and MaxThreadHTML bytes, far more than
// a page should carry.
const (
	// DefaultPageComments is how many comments, replies included, a page holds.
	DefaultPageComments = 50
	// DefaultPageHTML bounds the bytes of comment HTML on a page. With comments
	// at the DefaultHTML cap that is 8 of them: about 140 KB of HTML page, and at
	// most about 0.7 MB as JSON, which escapes < > & six bytes each.
	DefaultPageHTML = 128 << 10
)

// shownPage is one page of a shown thread: its comments as a forest (a reply
// whose parent is on an earlier page is a root here, its ParentID telling
// whose) and, when rendered, the page's heading and list as HTML.
type shownPage struct {
	comments []Public
	list     string
	out      *pageOut // the page's served bytes, made on its first view
}

// Paging tells a JSON client where it is among a thread's pages. Prev and Next
// are the JSON API's URLs of the neighbouring pages, empty at either end.
type Paging struct {
	Page  int    `json:"page"`  // 1 for the oldest comments
	Pages int    `json:"pages"` // at least 1
	Prev  string `json:"prev,omitempty"`
	Next  string `json:"next,omitempty"`
}

// pageCost estimates the bytes a comment adds to the page, as markup.listHTML does.
func pageCost(p *Public) int { return len(p.HTML) + 2*len(p.Name) + 520 }

// paginate splits the comments of tree, in the order the page shows them (each
// comment before its replies), into ranges of that order holding at most n
// comments and at most budget bytes (pageCost), but never fewer than one
// comment. A thread with no comments has one empty page.
func paginate(tree []Public, n, budget int) [][2]int {
	var out [][2]int
	start, count, bytes, i := 0, 0, 0, 0
	var walk func(ps []Public)
	walk = func(ps []Public) {
		for k := range ps {
			c := pageCost(&ps[k])
			if count > 0 && (count+1 > n || bytes+c > budget) {
				out = append(out, [2]int{start, i})
				start, count, bytes = i, 0, 0
			}
			count++
			bytes += c
			i++
			walk(ps[k].Replies)
		}
	}
	walk(tree)
	return append(out, [2]int{start, i})
}

// pageForest returns the comments of tree whose place in the page's order is in
// [from, to), keeping their nesting; a comment in range whose parent is not
// becomes a root. The Publics are shallow copies sharing their strings.
func pageForest(tree []Public, from, to int) []Public {
	i := 0
	var walk func(ps []Public) []Public
	walk = func(ps []Public) []Public {
		var out []Public
		for k := range ps {
			if i >= to {
				break
			}
			idx := i
			i++
			replies := walk(ps[k].Replies)
			if idx >= from {
				p := ps[k]
				p.Replies = replies
				out = append(out, p)
			} else {
				out = append(out, replies...)
			}
		}
		return out
	}
	f := walk(tree)
	if f == nil {
		f = []Public{} // JSON clients get a list, never null
	}
	return f
}

// pages splits e.view into pages as cfg says, rendering each page's list with
// e.markup unless it is nil.
func (s *Service) pages(e *shownThread) error {
	ranges := paginate(e.view.Comments, s.cfg.PageComments, s.cfg.PageHTML)
	e.pages = make([]shownPage, len(ranges))
	for k, r := range ranges {
		pg := &e.pages[k]
		pg.comments = pageForest(e.view.Comments, r[0], r[1])
		pg.out = &pageOut{}
		if e.markup != nil {
			var err error
			if pg.list, err = e.markup.listHTML(ThreadView{Thread: e.view.Thread, Count: e.view.Count, Comments: pg.comments}, k+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// pageQuery returns the query that selects page n of a thread: none for the first.
func pageQuery(n int) string {
	if n <= 1 {
		return ""
	}
	return "?page=" + strconv.Itoa(n)
}
