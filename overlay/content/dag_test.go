package content

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	pb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// fileNode builds a dag-pb UnixFS node with the given type, inline data,
// file size, and children (CID, block size).
func fileNode(t *testing.T, typ pb.Data_DataType, data []byte, filesize uint64, kids map[cid.Cid]uint64) []byte {
	t.Helper()
	fsn := unixfs.NewFSNode(typ)
	fsn.SetData(data)
	pn := new(merkledag.ProtoNode)
	for c, size := range kids {
		fsn.AddBlockSize(size)
		if err := pn.AddRawLink("", &ipld.Link{Cid: c}); err != nil {
			t.Fatal(err)
		}
	}
	if filesize != 0 {
		fsn.UpdateFilesize(int64(filesize) - int64(fsn.FileSize()))
	}
	b, err := fsn.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	pn.SetData(b)
	raw, err := pn.EncodeProtobuf(false)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestChildrenRejectsMalformedNodes(t *testing.T) {
	leaf := rawBlock(t, []byte("leaf"))
	self := sumCID(t, 1, cid.DagProtobuf, 0x12, "node")
	for _, tc := range []struct {
		name string
		node []byte
		size uint64
		want error
	}{
		{"not protobuf", []byte{0xff, 0xff}, 4, ErrBadDAG},
		{"directory", fileNode(t, unixfs.TDirectory, nil, 0, map[cid.Cid]uint64{leaf: 4}), 4, ErrBadDAG},
		{"inline data", fileNode(t, unixfs.TFile, []byte("data"), 0, nil), 4, ErrBadDAG},
		{"size differs from parent's", fileNode(t, unixfs.TFile, nil, 0, map[cid.Cid]uint64{leaf: 4}), 5, ErrSizeMismatch},
		{"CIDv0 child", fileNode(t, unixfs.TFile, nil, 0, map[cid.Cid]uint64{sumCID(t, 0, 0, 0, "x"): 4}), 4, ErrBadDAG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := children(entry{c: self, size: tc.size}, tc.node); !errors.Is(err, tc.want) {
				t.Errorf("children: %v, want %v", err, tc.want)
			}
		})
	}
	good := fileNode(t, unixfs.TFile, nil, 0, map[cid.Cid]uint64{leaf: 4})
	if kids, err := children(entry{c: self, size: 4}, good); err != nil || len(kids) != 1 || !kids[0].c.Equals(leaf) {
		t.Errorf("children of a good node = %v, %v", kids, err)
	}
}

func TestResolveDAGBoundsDepth(t *testing.T) {
	store := NewMemStore()
	data, _ := artifact(1024, 14)
	// One-byte chunks, two links a node: 1024 leaves ten levels down.
	root, err := buildWith(context.Background(), bytes.NewReader(data), &storeDAG{ctx: context.Background(), store: store}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = resolveDAG(context.Background(), root, int64(len(data)), storeNodes(store))
	if !errors.Is(err, ErrBadDAG) {
		t.Fatalf("resolving a DAG %d levels deep: %v, want ErrBadDAG", 10, err)
	}
}
