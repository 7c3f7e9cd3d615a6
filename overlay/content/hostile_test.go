package content

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/patchnet/patchnet/trust"
)

// Providers that lie: corrupt blocks, endless data, an artifact whose
// digest is not the announced one.

// corruptingHandler serves like the real server but flips a byte of every
// raw leaf: a malicious peer.
func corruptingHandler(store Blockstore) network.StreamHandler {
	return func(st network.Stream) {
		defer st.Close()
		cids, err := decodeRequest(bufio.NewReader(st))
		if err != nil {
			st.Reset()
			return
		}
		for _, c := range cids {
			data, err := store.Get(context.Background(), c)
			if err != nil {
				writeMissingFrame(st)
				continue
			}
			if c.Prefix().Codec == cid.Raw && len(data) > 0 {
				data[0] ^= 1
			}
			if writeBlockFrame(st, data) != nil {
				return
			}
		}
	}
}

func TestCorruptBlocksRefused(t *testing.T) {
	nodes := newNet(t, 4, defaultCfg)
	data, sum := artifact(16<<20, 2)
	root := seed(t, data, nodes[0], nodes[1:]...)
	bad := nodes[1]
	bad.h.SetStreamHandler(ProtocolID, corruptingHandler(bad.store))

	got, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, got, data)
	for _, p := range res.Providers {
		isBad := p.Peer == bad.h.ID()
		if p.Bad != isBad || isBad != errors.Is(p.Err, ErrCorruptBlock) {
			t.Errorf("provider %s (malicious: %v): Bad=%v Err=%v", p.Peer, isBad, p.Bad, p.Err)
		}
		if isBad && (p.Bytes != 0 || !errors.Is(p.Err, trust.ErrUntrusted)) {
			t.Errorf("malicious provider credited with %d bytes, err %v", p.Bytes, p.Err)
		}
	}
}

// endlessHandler serves DAG nodes honestly but answers a request for
// leaves with a block frame claiming 1 GiB, then streams bytes until the
// peer gives up.
func endlessHandler(store Blockstore) network.StreamHandler {
	return func(st network.Stream) {
		defer st.Reset()
		cids, err := decodeRequest(bufio.NewReader(st))
		if err != nil {
			return
		}
		if cids[0].Prefix().Codec != cid.Raw {
			for _, c := range cids {
				data, _ := store.Get(context.Background(), c)
				writeBlockFrame(st, data)
			}
			st.Close()
			return
		}
		endless(st)
	}
}

func endless(st network.Stream) {
	st.Write([]byte{statusBlock, 0x80, 0x80, 0x80, 0x80, 0x04}) // uvarint 1 GiB
	junk := make([]byte, 64<<10)
	for {
		if _, err := st.Write(junk); err != nil {
			return
		}
	}
}

func TestEndlessDataAborted(t *testing.T) {
	data, sum := artifact(3<<20+7, 3)

	t.Run("peer", func(t *testing.T) {
		nodes := newNet(t, 2, defaultCfg)
		root := seed(t, data, nodes[0], nodes[1])
		nodes[1].h.SetStreamHandler(ProtocolID, endlessHandler(nodes[1].store))
		got, _, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
		if !errors.Is(err, ErrEndlessData) || !errors.Is(err, trust.ErrUntrusted) || len(got) != 0 {
			t.Fatalf("Fetch from endless peer: wrote %d bytes, err %v; want ErrEndlessData", len(got), err)
		}
	})
	t.Run("vendor", func(t *testing.T) {
		nodes := newNet(t, 1, defaultCfg)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for {
				if _, err := w.Write(data); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		got, _, err := fetchTo(t, nodes[0], Want{Size: int64(len(data)), SHA256: sum, VendorURLs: []string{srv.URL}})
		if !errors.Is(err, ErrEndlessData) || len(got) > len(data) {
			t.Fatalf("Fetch from endless vendor: wrote %d bytes, err %v; want ErrEndlessData after at most %d", len(got), err, len(data))
		}
	})
	t.Run("DAG larger than announced", func(t *testing.T) {
		nodes := newNet(t, 2, defaultCfg)
		root := seed(t, data, nodes[0], nodes[1])
		got, _, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)) - 1, SHA256: sum})
		if !errors.Is(err, ErrSizeMismatch) || len(got) != 0 {
			t.Fatalf("Fetch of a DAG larger than announced: wrote %d bytes, err %v; want ErrSizeMismatch", len(got), err)
		}
	})
}

func TestWrongSoftwareDigestRejected(t *testing.T) {
	nodes := newNet(t, 2, defaultCfg)
	data, sum := artifact(2<<20+1, 4)
	root := seed(t, data, nodes[0], nodes[1])
	sum[0] ^= 0xff // a compromised publisher announced another digest

	_, res, err := fetchTo(t, nodes[0], Want{CID: root, Size: int64(len(data)), SHA256: sum})
	if !errors.Is(err, ErrDigestMismatch) || !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("Fetch with wrong digest: err %v, want ErrDigestMismatch", err)
	}
	if res.Provided {
		t.Errorf("artifact with wrong digest was provided")
	}
	if keys, _ := nodes[0].store.AllKeys(context.Background()); len(keys) != 0 {
		t.Errorf("fetcher kept %d blocks of a rejected artifact", len(keys))
	}
	if roots := nodes[0].svc.Provider().Roots(); len(roots) != 0 {
		t.Errorf("fetcher holds roots %v after a rejected fetch", roots)
	}
}
