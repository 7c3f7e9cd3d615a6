package content

import (
	"fmt"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RequestProtectTag prefixes the connection manager's protection tag on a
// peer while a block request to or from it runs.
const RequestProtectTag = "patchnet-content"

// requestTags numbers the requests' tags, so that two requests with one
// peer do not end each other's protection.
var requestTags atomic.Uint64

// protectRequest keeps the connection manager from trimming h's
// connections to p until the returned function is called: a transfer of
// a large artifact over a capped link runs for minutes, far past the
// manager's grace period, and a trim would cut it (the fetcher then
// searches again or goes to the vendor's origin). A nil host protects
// nothing.
func protectRequest(h host.Host, p peer.ID) func() {
	if h == nil {
		return func() {}
	}
	cm := h.ConnManager()
	tag := fmt.Sprintf("%s-%d", RequestProtectTag, requestTags.Add(1))
	cm.Protect(p, tag)
	return func() { cm.Unprotect(p, tag) }
}
