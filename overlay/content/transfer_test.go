package content

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
)

// badFirstRouter hands out the DHT's provider records with the attacker's
// first. kad-dht promises no order, and like kad-dht it returns at most
// count records (0: all of them).
type badFirstRouter struct {
	routing.ContentRouting
	bad map[peer.ID]bool
}

func (r *badFirstRouter) FindProvidersAsync(ctx context.Context, k cid.Cid, count int) <-chan peer.AddrInfo {
	var all []peer.AddrInfo
	for ai := range r.ContentRouting.FindProvidersAsync(ctx, k, 0) {
		all = append(all, ai)
	}
	slices.SortStableFunc(all, func(a, b peer.AddrInfo) int {
		switch {
		case r.bad[a.ID] == r.bad[b.ID]:
			return 0
		case r.bad[a.ID]:
			return -1
		}
		return 1
	})
	if count > 0 && len(all) > count {
		all = all[:count]
	}
	out := make(chan peer.AddrInfo)
	go func() {
		defer close(out)
		for _, ai := range all {
			select {
			case out <- ai:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestBadProviderRecordsDoNotStarveFetch: eight peers add provider records
// for an artifact they do not hold, and the DHT hands those out first; the
// fetch skips past them to the one honest provider.
func TestBadProviderRecordsDoNotStarveFetch(t *testing.T) {
	nodes := newNet(t, 10, defaultCfg)
	fetcher, honest, liars := nodes[0], nodes[1], nodes[2:]
	data, sum := artifact(3<<20+99, 4)
	root := seed(t, data, fetcher, honest)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bad := map[peer.ID]bool{}
	for _, l := range liars {
		if err := l.dht.Provide(ctx, root, true); err != nil {
			t.Fatalf("adding a bogus provider record: %v", err)
		}
		bad[l.h.ID()] = true
	}
	waitFor(t, "every record in the fetcher's DHT", func() bool {
		ais, _ := fetcher.dht.FindProviders(ctx, root)
		return len(ais) >= 1+len(liars)
	})
	svc, err := New(fetcher.h, &badFirstRouter{ContentRouting: fetcher.dht, bad: bad}, NewMemStore(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fetcher.svc = svc

	got, res, err := fetchTo(t, fetcher, Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch with %d bogus records ahead of the honest one: %v", len(liars), err)
	}
	checkArtifact(t, got, data)
	for _, p := range res.Providers {
		switch {
		case p.Peer == honest.h.ID() && (p.Err != nil || p.Bytes != int64(len(data))):
			t.Errorf("honest provider: %d bytes, %v; want all %d bytes", p.Bytes, p.Err, len(data))
		case bad[p.Peer] && !errors.Is(p.Err, errMissing):
			t.Errorf("bogus provider %s: %v, want dropped for not holding the block", p.Peer, p.Err)
		}
	}
}
