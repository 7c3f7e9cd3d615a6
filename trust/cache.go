package trust

import (
	"container/list"
	"crypto"
	"slices"
	"sync"
	"time"
)

// chainCache is a bounded LRU of verified chains keyed by leaf fingerprint.
//
// Keying by the leaf alone is sound: an entry records that a valid chain from
// this exact leaf to a pinned root existed; which intermediates a later
// message carries does not change that. The entry lives until the earliest
// notAfter in the chain or nextUpdate of a CRL consulted, and is dropped as
// soon as a newer CRL from any CA in the chain arrives.
type chainCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[Fingerprint]*list.Element
	gen     uint64 // bumped by every invalidation
}

type cacheEntry struct {
	key        Fingerprint
	id         Identity
	pub        crypto.PublicKey
	validFrom  time.Time     // the chain's latest notBefore, minus skew
	validUntil time.Time     // earliest notAfter / CRL nextUpdate
	issuers    []Fingerprint // CAs whose CRLs this verdict depends on
}

func newChainCache(max int) *chainCache {
	return &chainCache{max: max, order: list.New(), entries: make(map[Fingerprint]*list.Element)}
}

// generation is the invalidation count; a verification that started at one
// generation may only store its verdict if none happened meanwhile.
func (c *chainCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// get returns the entry for key if it is still valid at now.
func (c *chainCache) get(key Fingerprint, now time.Time) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if now.Before(e.validFrom) || !now.Before(e.validUntil) {
		c.order.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e, true
}

// put stores e unless an invalidation happened since generation gen.
func (c *chainCache) put(e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.entries[e.key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.entries[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
}

// invalidateIssuer drops every verdict that depends on CA issuer.
func (c *chainCache) invalidateIssuer(issuer Fingerprint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*cacheEntry)
		if slices.Contains(e.issuers, issuer) {
			c.order.Remove(el)
			delete(c.entries, e.key)
		}
		el = next
	}
}

// len is the number of entries, for tests and metrics.
func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
