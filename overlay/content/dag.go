package content

import (
	"context"
	"fmt"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
)

// leaf is one raw block of the artifact, in file order.
type leaf struct {
	c    cid.Cid
	size int
}

// nodeFetcher returns the verified bytes of each CID, in order.
type nodeFetcher func(ctx context.Context, cids []cid.Cid) ([][]byte, error)

// resolveDAG walks the DAG under root level by level, fetching internal
// nodes with fetch, and returns the ordered leaves plus the internal nodes'
// bytes (so a fetcher can store and serve them too). size is the announced
// artifact size: every node's UnixFS sizes must add up to it, so a DAG that
// describes more (or less) data than announced is refused before any leaf is
// fetched.
func resolveDAG(ctx context.Context, root cid.Cid, size int64, fetch nodeFetcher) ([]leaf, map[cid.Cid][]byte, error) {
	if err := checkCIDShape(root); err != nil {
		return nil, nil, fmt.Errorf("checking root: %w: %w", ErrBadDAG, err)
	}
	level := []entry{{c: root, size: uint64(size)}}
	internal := make(map[cid.Cid][]byte)
	for depth := 0; ; depth++ {
		var want []cid.Cid
		for _, e := range level {
			if e.c.Prefix().Codec == cid.DagProtobuf {
				want = append(want, e.c)
			}
		}
		if len(want) == 0 {
			leaves, err := toLeaves(level)
			return leaves, internal, err
		}
		if depth >= MaxDAGDepth {
			return nil, nil, fmt.Errorf("DAG deeper than %d levels: %w", MaxDAGDepth, ErrBadDAG)
		}
		nodes, err := fetchInBatches(ctx, want, fetch)
		if err != nil {
			return nil, nil, fmt.Errorf("fetching DAG level %d: %w", depth, err)
		}
		for i, c := range want {
			internal[c] = nodes[i]
		}
		if level, err = expand(level, internal); err != nil {
			return nil, nil, err
		}
		if len(level)+len(internal) > MaxDAGNodes {
			return nil, nil, fmt.Errorf("DAG of more than %d nodes: %w", MaxDAGNodes, ErrBadDAG)
		}
	}
}

// entry is a DAG link with the byte count the parent promises beneath it.
type entry struct {
	c    cid.Cid
	size uint64
}

func fetchInBatches(ctx context.Context, want []cid.Cid, fetch nodeFetcher) ([][]byte, error) {
	var out [][]byte
	for start := 0; start < len(want); start += MaxBlocksPerRequest {
		got, err := fetch(ctx, want[start:min(len(want), start+MaxBlocksPerRequest)])
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// expand replaces every dag-pb entry of level by its children.
func expand(level []entry, nodes map[cid.Cid][]byte) ([]entry, error) {
	var next []entry
	for _, e := range level {
		if e.c.Prefix().Codec != cid.DagProtobuf {
			next = append(next, e)
			continue
		}
		kids, err := children(e, nodes[e.c])
		if err != nil {
			return nil, err
		}
		next = append(next, kids...)
	}
	return next, nil
}

// children decodes an internal UnixFS file node and checks its sizes.
func children(e entry, data []byte) ([]entry, error) {
	pn, err := merkledag.DecodeProtobuf(data)
	if err != nil {
		return nil, fmt.Errorf("decoding node %s: %w: %w", e.c, ErrBadDAG, err)
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return nil, fmt.Errorf("decoding UnixFS data of %s: %w: %w", e.c, ErrBadDAG, err)
	}
	links := pn.Links()
	switch {
	case fsn.Type() != unixfs.TFile:
		return nil, fmt.Errorf("node %s is UnixFS type %s, not a file: %w", e.c, fsn.Type(), ErrBadDAG)
	case len(fsn.Data()) != 0 || len(links) == 0:
		return nil, fmt.Errorf("node %s carries inline data (leaves must be raw blocks): %w", e.c, ErrBadDAG)
	case len(links) != fsn.NumChildren():
		return nil, fmt.Errorf("node %s has %d links but %d block sizes: %w", e.c, len(links), fsn.NumChildren(), ErrBadDAG)
	case fsn.FileSize() != e.size:
		return nil, fmt.Errorf("node %s describes %d bytes where %d are expected: %w", e.c, fsn.FileSize(), e.size, ErrSizeMismatch)
	}
	kids := make([]entry, len(links))
	var sum uint64
	for i, l := range links {
		if err := checkCIDShape(l.Cid); err != nil {
			return nil, fmt.Errorf("link %d of %s: %w: %w", i, e.c, ErrBadDAG, err)
		}
		kids[i] = entry{c: l.Cid, size: fsn.BlockSize(i)}
		sum += kids[i].size
	}
	if sum != e.size {
		return nil, fmt.Errorf("node %s: block sizes add up to %d, not %d: %w", e.c, sum, e.size, ErrSizeMismatch)
	}
	return kids, nil
}

// toLeaves checks the final level is all raw blocks of acceptable size.
func toLeaves(level []entry) ([]leaf, error) {
	out := make([]leaf, len(level))
	for i, e := range level {
		if e.size > MaxBlockSize {
			return nil, fmt.Errorf("leaf %s of %d bytes (limit %d): %w", e.c, e.size, MaxBlockSize, ErrSizeMismatch)
		}
		out[i] = leaf{c: e.c, size: int(e.size)}
	}
	return out, nil
}
