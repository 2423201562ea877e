package comments

import (
	"encoding/json"
	"strings"

	"github.com/consentkit/consentkit/privacy/web"
)

// Stamp returns a comment form stamp of h whose time signer signed.
func Stamp(h *Handler, signer *web.Signer) string { return h.stampWith(signer.Stamp()) }

// CachedText returns all that s's thread cache holds, as text, for tests that
// check what it keeps.
func CachedText(s *Service) string {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	var b strings.Builder
	for el := s.cache.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*shownThread)
		<-e.ready
		j, _ := json.Marshal(e.view)
		b.Write(j)
		b.WriteString(e.thread)
		for _, pg := range e.pages {
			b.WriteString(pg.list)
		}
	}
	return b.String()
}

// FastList reports whether h writes a comment's date and reply link without
// running a template for each comment.
func FastList(h *Handler) bool { return h.markup.layout != "" && h.markup.reply != nil }
