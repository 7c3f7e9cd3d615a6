package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
)

// fetched says where an artifact came from.
type fetched struct {
	source string // "peers", "vendor", "local" or a "+" join
	detail string // providers and their shares
	from   []peer.ID
	bytes  map[string]int64 // bytes by source
}

// want is what fetching acc's artifact asks the content layer for: the
// announced content id, size, SHA-256 and vendor URLs, and as seeds the
// supernodes whose co-signatures were accepted, then those heard
// co-signing it since (not this node; fetch hands it the ones heard while
// it runs). Each of
// them fetched the artifact from the vendor, checked it and seeded it
// before co-signing, so it holds the artifact now, while DHT provider
// records are still being stored; as providers they grant no trust, every
// block is still checked.
func (n *Node) want(acc *updates.Accepted) (content.Want, error) {
	art := acc.Announcement.Patchnet.Artifact
	want := content.Want{Size: art.Size, SHA256: art.SHA256, VendorURLs: art.URLs}
	if art.ContentID != "" {
		c, err := cid.Decode(art.ContentID)
		if err != nil {
			return content.Want{}, fmt.Errorf("decoding content id %q: %w", art.ContentID, err)
		}
		want.CID = c
	}
	// Repeats are dropped by the content layer, as is this node.
	want.Seeds = append(supernodeIDs(acc, n.ID()), n.cosigners.seedsFor(want.SHA256)...)
	return want, nil
}

// supernodeIDs are the peer IDs of acc's co-signers, self left out.
func supernodeIDs(acc *updates.Accepted, self peer.ID) []peer.ID {
	var out []peer.ID
	for _, s := range acc.Supernodes {
		if s.PeerID != self {
			out = append(out, s.PeerID)
		}
	}
	return out
}

// fetch writes the artifact want names to w: from its seeds and the peers
// that provide its content id, else from its vendor URLs. content.Service
// counts every byte against the size and checks the SHA-256; on error
// whatever reached w must be discarded.
func (n *Node) fetch(ctx context.Context, want content.Want, w io.Writer) (fetched, error) {
	progress, done := n.fetches.track(want.SHA256)
	defer done()
	late, stop := n.cosigners.watch(want.SHA256)
	defer stop()
	res, err := n.content.Fetch(ctx, want, w, content.WithProgress(progress), content.WithLateSeeds(late))
	if err != nil {
		return fetched{}, err
	}
	return describeFetch(res), nil
}

func describeFetch(res content.Result) fetched {
	var f fetched
	var srcs []string
	for _, s := range res.Sources {
		if !slices.Contains(srcs, string(s)) {
			srcs = append(srcs, string(s))
		}
	}
	f.source = strings.Join(srcs, "+")
	var parts []string
	provs := slices.Clone(res.Providers)
	slices.SortStableFunc(provs, func(a, b content.ProviderStat) int { return int(b.Bytes - a.Bytes) })
	for _, p := range provs {
		if p.Bytes > 0 {
			f.from = append(f.from, p.Peer)
			parts = append(parts, fmt.Sprintf("%s %d B", shortID(p.Peer.String()), p.Bytes))
		}
	}
	f.bytes = sourceBytes(res)
	f.detail = fmt.Sprintf("%d bytes from %s", res.Bytes, f.source)
	if len(parts) > 0 {
		f.detail += ": " + strings.Join(parts, ", ")
	}
	f.detail += droppedProviders(provs)
	if res.Searched {
		f.detail += "; searched the DHT for providers"
	}
	for _, m := range res.BadMirrors {
		what := "failed"
		if errors.Is(m.Err, trust.ErrUntrusted) {
			what = "BAD MIRROR, served other bytes"
		}
		f.detail += fmt.Sprintf("; mirror %s %s: %v", m.URL, what, m.Err)
	}
	return f
}

// shortID is the last 6 characters of a peer ID, as people compare them.
func shortID(id string) string {
	if len(id) <= 6 {
		return id
	}
	return "…" + id[len(id)-6:]
}

// droppedProviders says why the first few providers that were dropped
// were: an operator asking why a fetch went to the vendor URL reads it
// in the fetched event.
func droppedProviders(provs []content.ProviderStat) string {
	var out string
	shown := 0
	for _, p := range provs {
		if p.Err == nil {
			continue
		}
		if shown == maxDroppedShown {
			return out + "; …"
		}
		out += fmt.Sprintf("; provider %s dropped: %v", shortID(p.Peer.String()), p.Err)
		shown++
	}
	return out
}
