package comments

import (
	"cmp"
	"container/list"
	"context"
	"sync"
)

// DefaultThreadCache is the default bound of Config.ThreadCache: 32 MiB, room
// for about 18 threads of 1,000 typical comments or thousands of short threads.
const DefaultThreadCache = 32 << 20

// The size of a cached thread is estimated as the bytes of the strings it holds
// (each comment's name and HTML, and the rendered list) plus these allowances for
// what surrounds them: a Public, its avatar, edit time, initials and place in a
// Replies slice, and the cache's own bookkeeping. TestThreadCacheSize checks the
// estimate against the heap a cached thread takes.
const (
	perCachedComment = 384
	perCachedThread  = 512
	perPagedComment  = 128 // a Public copied into a page
	perCachedPage    = 64
)

// shownThread is one thread as every visitor sees it, at one version: the public
// tree and its pages, each with the HTML of its comment list. It holds no address: it is built from
// Store.Thread, which reads none, into Public, which has no field for one. Once
// ready is closed it is never modified, so requests share it without copying.
type shownThread struct {
	thread    string
	version   int64
	versioned bool // version is the store's: the thread came through the cache
	ready     chan struct{}
	view      ThreadView
	pages     []shownPage // at least one
	err       error
	size      int64
	elem      *list.Element // its place in the cache; nil once out of it

	markup *markup // the Handler's markup its pages' lists are in; nil for none
}

// threadCache holds the threads a process showed last, one version of each, in
// at most max estimated bytes, evicting the least recently shown first.
type threadCache struct {
	mu           sync.Mutex
	max          int64
	size         int64
	lru          list.List // of *shownThread, the most recently shown in front
	byThread     map[string]*list.Element
	hits, misses int64
}

func newThreadCache(max int64) *threadCache {
	return &threadCache{max: max, byThread: map[string]*list.Element{}}
}

// get returns the cached thread at version, rendered with m unless m is nil, or,
// with load set, a new entry the caller must fill, to be rendered with m or
// else with def. Other callers asking for the same version meanwhile wait on
// it, so a thread that changed is read and rendered once, not once per visitor.
func (c *threadCache) get(thread string, version int64, m, def *markup) (e *shownThread, load bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byThread[thread]; ok {
		e := el.Value.(*shownThread)
		if e.version == version && (m == nil || e.markup == m) {
			c.lru.MoveToFront(el)
			c.hits++
			return e, false
		}
		c.remove(el)
	}
	c.misses++
	e = &shownThread{thread: thread, version: version, versioned: true, markup: cmp.Or(m, def), ready: make(chan struct{})}
	e.elem = c.lru.PushFront(e)
	c.byThread[thread] = e.elem
	return e, true
}

// fill completes e, wakes those waiting on it, and makes room for it. An entry
// that failed, or that alone exceeds the bound, leaves the cache.
func (c *threadCache) fill(e *shownThread, view ThreadView, pages []shownPage, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.view, e.pages, e.err = view, pages, err
	close(e.ready)
	if e.elem == nil {
		return // a newer version replaced it, or it was evicted, while it loaded
	}
	e.size = sizeOf(e)
	if err != nil || e.size > c.max {
		c.remove(e.elem)
		return
	}
	c.size += e.size
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
}

// grow adds n bytes made for e after it was filled (its pages' served bytes) to
// its size, making room for them.
func (c *threadCache) grow(e *shownThread, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.elem == nil {
		return
	}
	e.size += n
	c.size += n
	for c.size > c.max && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

func (c *threadCache) remove(el *list.Element) {
	e := el.Value.(*shownThread)
	c.lru.Remove(el)
	if c.byThread[e.thread] == el {
		delete(c.byThread, e.thread)
	}
	c.size -= e.size
	e.elem, e.size = nil, 0
}

func sizeOf(e *shownThread) int64 {
	n := int64(perCachedThread + len(e.thread))
	var walk func(ps []Public, each int64, strings bool)
	walk = func(ps []Public, each int64, strings bool) {
		for i := range ps {
			n += each
			if strings {
				n += int64(len(ps[i].Name) + len(ps[i].HTML))
			}
			walk(ps[i].Replies, each, strings)
		}
	}
	walk(e.view.Comments, perCachedComment, true)
	for _, pg := range e.pages {
		// A page's comments are copies of the tree's, sharing their strings.
		n += perCachedPage + int64(len(pg.list))
		walk(pg.comments, perPagedComment, false)
	}
	return n
}

// CacheStats describes a Service's thread cache (Config.ThreadCache).
type CacheStats struct {
	Threads int   // threads cached
	Bytes   int64 // their estimated size, never above Config.ThreadCache
	Hits    int64 // thread reads answered from the cache
	Misses  int64 // thread reads that read the store, because the thread changed or was not cached
}

// CacheStats reports on the thread cache; all zero when it is off.
func (s *Service) CacheStats() CacheStats {
	c := s.cache
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Threads: len(c.byThread), Bytes: c.size, Hits: c.hits, Misses: c.misses}
}

// shown returns thread as visitors see it now: from the cache when the store's
// version of the thread is the one cached, else read from the store, rendered,
// and cached. The pages' HTML is rendered with m, a Handler's; with m nil, a
// cached thread is taken whatever rendered it, and one read for the cache is
// rendered with the default markup, uncached not at all. The result is shared;
// it must not be modified. Returns ErrInvalid or ErrNotFound naming "thread".
func (s *Service) shown(ctx context.Context, thread string, m *markup) (*shownThread, error) {
	if err := s.checkThread(ctx, thread); err != nil {
		return nil, err
	}
	if s.cache == nil {
		return s.load(ctx, thread, m)
	}
	// The version is read before the comments, so the comments are at least as
	// new as the version they are cached under: a visitor who reads a version
	// after a change committed never gets a thread from before it.
	v, err := s.store.ThreadVersion(ctx, thread)
	if err != nil {
		return nil, err
	}
	e, load := s.cache.get(thread, v, m, s.markup)
	if load {
		built, err := s.load(ctx, thread, e.markup)
		if err != nil {
			s.cache.fill(e, ThreadView{}, nil, err)
			return nil, err
		}
		s.cache.fill(e, built.view, built.pages, nil)
		return e, nil
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		// The request that loaded it failed, perhaps only because it was
		// cancelled: this one reads for itself.
		return s.load(ctx, thread, m)
	}
	return e, nil
}

// load reads thread and pages it, rendering the pages with m unless m is nil,
// without the cache.
func (s *Service) load(ctx context.Context, thread string, m *markup) (*shownThread, error) {
	cs, err := s.store.Thread(ctx, thread)
	if err != nil {
		return nil, err
	}
	e := &shownThread{thread: thread, view: s.tree(thread, cs), markup: m}
	if err := s.pages(e); err != nil {
		return nil, err
	}
	return e, nil
}
