package content

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rawRequest sends req on a new content stream from a to b and returns the
// first response frame.
func rawRequest(t *testing.T, a, b *node, req []byte) (frame, network.Stream) {
	t.Helper()
	st, err := a.h.NewStream(context.Background(), b.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Reset() })
	if _, err := st.Write(req); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	fr, err := readFrame(bufio.NewReader(st), -1, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return fr, st
}

func TestServerRefusesMalformedRequest(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	for _, tc := range []struct {
		name, req, wantMsg string
	}{
		{"zero CIDs", "\x00", "request for 0 blocks"},
		{"garbage CID", "\x01\x04abcd", "malformed content request"},
		{"CID too long", "\x01\xff\x01", "CID of 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr, _ := rawRequest(t, nodes[0], nodes[1], []byte(tc.req))
			if fr.status != statusError || !strings.Contains(string(fr.data), tc.wantMsg) {
				t.Errorf("response status %d %q, want an error frame saying %q", fr.status, fr.data, tc.wantMsg)
			}
		})
	}
}

func TestServerAnswersMissingBlocks(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	c := rawBlock(t, []byte("nobody has this"))
	fr, _ := rawRequest(t, nodes[0], nodes[1], encodeRequest(nil, []cid.Cid{c}))
	if fr.status != statusMissing {
		t.Errorf("response status %d, want missing", fr.status)
	}
}

func TestServerBoundsRequestsPerPeer(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	data := bytes.Repeat([]byte{7}, 256<<10)
	c := rawBlock(t, data)
	if err := nodes[1].store.PutVerified(context.Background(), c, data); err != nil {
		t.Fatal(err)
	}
	// Four copies of the block outgrow the stream's flow-control window;
	// nobody reads, so each request stays open on the server.
	req := encodeRequest(nil, []cid.Cid{c, c, c, c})
	srv := nodes[1].svc.srv
	for range ServeStreamsPerPeer {
		st, err := nodes[0].h.NewStream(context.Background(), nodes[1].h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Reset() })
		st.Write(req)
	}
	waitFor(t, "requests to be served", func() bool { return activeFor(srv, nodes[0].h.ID()) == ServeStreamsPerPeer })
	fr, _ := rawRequest(t, nodes[0], nodes[1], req)
	if fr.status != statusError || !strings.Contains(string(fr.data), "too many concurrent requests") {
		t.Errorf("request over the bound: status %d %q, want an error frame", fr.status, fr.data)
	}
}

func activeFor(s *server, p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[p]
}

// Served counts the block bytes a provider wrote: at least the artifact
// (its leaves) and no more than what went on the stream, frames included.
func TestServedCountsBlockBytes(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	provider, fetcher := nodes[1], nodes[0]
	sent := countServed(provider)
	data, sum := artifact(1<<20+333, 5)
	root := seed(t, data, fetcher, provider)
	if got := provider.svc.Served(); got != 0 {
		t.Fatalf("served %d bytes before any fetch, want 0", got)
	}
	if _, _, err := fetchTo(t, fetcher, Want{CID: root, Size: int64(len(data)), SHA256: sum, VendorURLs: []string{deadURL()}}); err != nil {
		t.Fatal(err)
	}
	if got := provider.svc.Served(); got < int64(len(data)) || got > sent.Load() {
		t.Errorf("served %d bytes, want between the artifact's %d and the %d written to streams", got, len(data), sent.Load())
	}
	if got := fetcher.svc.Served(); got != 0 {
		t.Errorf("the fetcher served %d bytes, want 0", got)
	}
}
