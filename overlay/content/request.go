package content

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// errMissing means the provider answered that it does not hold a block.
var errMissing = errors.New("provider does not hold the block")

// blockSink receives each verified block of a request, in request order.
// It owns data from then on.
type blockSink func(i int, data []byte) error

// requestBlocks asks p for cids over one stream and hands each block to
// sink after checking it against its CID. sizes[i] is the length the DAG
// promises for cids[i] (-1 if unknown); a frame of any other length is
// refused before its bytes are read. Any failure ends the request; blocks
// already handed over stay valid. got, if not nil, counts the bytes read.
func requestBlocks(ctx context.Context, h host.Host, p peer.ID, cids []cid.Cid, sizes []int, bufs *bufferPool, pc pace, got *atomic.Int64, sink blockSink) error {
	// 1.1.0 first; a node not yet upgraded answers 1.0.0 (wire.go). The
	// host picks from what identify learned, so this costs no round trip.
	defer protectRequest(h, p)()
	st, err := h.NewStream(ctx, p, ProtocolID, ProtocolIDv1)
	if err != nil {
		return fmt.Errorf("opening stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	ok := false
	defer func() {
		if !ok {
			_ = st.Reset()
		}
	}()
	_ = st.SetWriteDeadline(pc.next(time.Time{}))
	if _, err := st.Write(encodeRequest(nil, cids)); err != nil {
		return fmt.Errorf("sending request to %s: %w", p, err)
	}
	if err := st.CloseWrite(); err != nil {
		return fmt.Errorf("sending request to %s: %w", p, err)
	}
	sr := &stallReader{st: st, pace: pc, got: got}
	br := bufio.NewReaderSize(sr, 128<<10)
	for i, c := range cids {
		sr.due = pc.due(sizes[i])
		data, err := readBlock(br, c, sizes[i], bufs)
		if be := (*busyError)(nil); errors.As(err, &be) {
			be.from, be.via = p, st.Conn().RemoteMultiaddr()
		}
		if err != nil {
			return fmt.Errorf("receiving %s from %s: %w", c, p, ctxErr(ctx, err))
		}
		if err := sink(i, data); err != nil {
			return err
		}
	}
	ok = true
	_ = st.Close()
	return nil
}

// readBlock reads one frame and returns its verified block.
func readBlock(br *bufio.Reader, c cid.Cid, size int, bufs *bufferPool) ([]byte, error) {
	buf := bufs.get()
	fr, err := readFrame(br, size, buf)
	if err != nil {
		bufs.put(buf)
		return nil, err
	}
	switch fr.status {
	case statusMissing:
		bufs.put(buf)
		return nil, errMissing
	case statusBusy, statusBusyAddrs:
		bufs.put(buf)
		hints, err := decodeBusyBody(fr.data, fr.status == statusBusyAddrs)
		if err != nil {
			return nil, fmt.Errorf("decoding busy frame: %w", err)
		}
		return nil, &busyError{hints: hints}
	case statusError:
		return nil, fmt.Errorf("%w: %q", ErrRemote, fr.data)
	}
	if err := verifyBlock(c, fr.data); err != nil {
		bufs.put(fr.data)
		return nil, err
	}
	return fr.data, nil
}

// busyError is ErrBusy with the peers the busy provider (from, reached at
// via) named.
type busyError struct {
	hints []busyHint
	from  peer.ID
	via   ma.Multiaddr
}

func (e *busyError) Error() string { return ErrBusy.Error() }
func (e *busyError) Unwrap() error { return ErrBusy }

// ctxErr prefers the context's error: a reset we caused is not the peer's
// fault.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// bufferPool recycles ChunkSize block buffers between the network and the
// writer, so a fetch allocates about ReorderWindow of them, not one per
// block. A nil pool allocates each block at its exact size (DAG nodes).
type bufferPool struct {
	ch chan []byte
}

func newBufferPool(n int) *bufferPool {
	return &bufferPool{ch: make(chan []byte, n)}
}

func (b *bufferPool) get() []byte {
	if b == nil {
		return nil
	}
	select {
	case buf := <-b.ch:
		return buf
	default:
		return make([]byte, 0, ChunkSize)
	}
}

func (b *bufferPool) put(buf []byte) {
	if b == nil || cap(buf) < ChunkSize || cap(buf) > MaxBlockSize {
		return
	}
	select {
	case b.ch <- buf[:0]:
	default:
	}
}
