package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// cidBuilder is the one way this package names blocks: CIDv1, sha2-256 (the
// codec is dag-pb for internal nodes, raw for leaves).
var cidBuilder = cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256}

// Import reads an artifact from r, builds its UnixFS DAG (ChunkSize leaves,
// balanced layout, raw leaves, CIDv1, sha2-256), stores every block in store
// and returns the root CID. Artifacts over MaxArtifactSize are refused.
func Import(ctx context.Context, r io.Reader, store Blockstore) (cid.Cid, error) {
	root, err := build(ctx, r, &storeDAG{ctx: ctx, store: store})
	if err != nil {
		return cid.Undef, fmt.Errorf("importing artifact: %w", err)
	}
	return root, nil
}

// ContentID returns the root CID Import would give r's bytes, without
// storing anything. `patchnet update new` uses it to fill an announcement's
// content id from the artifact file, so publishers and fetchers agree on the
// address; the bytes are read once and memory stays at one chunk.
func ContentID(r io.Reader) (cid.Cid, error) {
	root, err := build(context.Background(), r, &storeDAG{ctx: context.Background()})
	if err != nil {
		return cid.Undef, fmt.Errorf("computing content id: %w", err)
	}
	return root, nil
}

// build runs boxo's balanced importer over r with patchnet's parameters.
func build(ctx context.Context, r io.Reader, dag *storeDAG) (cid.Cid, error) {
	return buildWith(ctx, r, dag, ChunkSize, LinksPerNode)
}

// buildWith is build with the chunk size and fan-out as parameters, so tests
// can make deep DAGs from small inputs.
func buildWith(ctx context.Context, r io.Reader, dag *storeDAG, chunk int64, links int) (cid.Cid, error) {
	lr := &limitedReader{r: r, left: MaxArtifactSize}
	params := helpers.DagBuilderParams{
		Maxlinks:   links,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
		Dagserv:    dag,
	}
	db, err := params.New(chunker.NewSizeSplitter(lr, chunk))
	if err != nil {
		return cid.Undef, err
	}
	root, err := balanced.Layout(db)
	if lr.err != nil {
		return cid.Undef, lr.err
	}
	if err != nil {
		return cid.Undef, err
	}
	if err := ctx.Err(); err != nil {
		return cid.Undef, err
	}
	return root.Cid(), nil
}

// limitedReader fails once more than left bytes have been read, rather than
// silently truncating as io.LimitReader would.
type limitedReader struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.err = fmt.Errorf("artifact larger than %d bytes: %w", int64(MaxArtifactSize), ErrOversized)
		return n, l.err
	}
	return n, err
}

// storeDAG adapts a Blockstore to the ipld.DAGService the importer writes
// to; with a nil store it only lets the importer compute CIDs.
type storeDAG struct {
	ctx   context.Context
	store Blockstore
}

var _ ipld.DAGService = (*storeDAG)(nil)

var errWriteOnly = errors.New("import DAG service is write-only")

func (s *storeDAG) Add(ctx context.Context, n ipld.Node) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.store == nil {
		return nil
	}
	return s.store.PutVerified(ctx, n.Cid(), n.RawData())
}

func (s *storeDAG) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := s.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (s *storeDAG) Get(context.Context, cid.Cid) (ipld.Node, error) {
	return nil, errWriteOnly
}

func (s *storeDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, 1)
	ch <- &ipld.NodeOption{Err: errWriteOnly}
	close(ch)
	return ch
}

func (s *storeDAG) Remove(context.Context, cid.Cid) error { return errWriteOnly }

func (s *storeDAG) RemoveMany(context.Context, []cid.Cid) error { return errWriteOnly }
