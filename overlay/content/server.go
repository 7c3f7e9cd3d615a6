package content

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// server answers ProtocolID and ProtocolIDv1 requests from a Blockstore.
type server struct {
	h        host.Host // whose peerstore gives busy hints their addresses; nil: none
	store    Blockstore
	perPeer  int
	admitted func(context.Context, peer.ID) bool // nil: serve every peer
	limiter  *rate.Limiter                       // nil: unthrottled; tests cap a provider's link with it
	budget   *serveBudget                        // caps what is served of seeded artifacts
	pace     pace                                // how slow a fetcher may read

	mu     sync.Mutex
	active map[peer.ID]int
	bufs   sync.Pool // *[]byte of ChunkSize, for stores that read into a buffer

	// served counts the block bytes written to peers: what a harness
	// reports as this node's egress (frames' few header bytes left out).
	served atomic.Int64
}

// bufferedGetter is a Blockstore that can read a block into a caller's
// buffer (DiskStore).
type bufferedGetter interface {
	getInto(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// get reads a block, into a recycled buffer when the store allows; done
// gives the buffer back once the block has been written (yamux copies what
// it sends, so that is as soon as Write returns).
func (s *server) get(ctx context.Context, c cid.Cid) (data []byte, done func(), err error) {
	bg, ok := s.store.(bufferedGetter)
	if !ok {
		data, err = s.store.Get(ctx, c)
		return data, func() {}, err
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, ChunkSize)
		bp = &b
	}
	data, err = bg.getInto(ctx, c, *bp)
	return data, func() { s.bufs.Put(bp) }, err
}

func newServer(h host.Host, store Blockstore, perPeer int, sendRate float64, admitted func(context.Context, peer.ID) bool, budget *serveBudget) *server {
	s := &server{h: h, store: store, perPeer: perPeer, admitted: admitted, budget: budget, active: make(map[peer.ID]int), pace: defaultPace}
	if sendRate > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(sendRate), rateBurst)
	}
	return s
}

// A throttled server's token bucket holds rateBurst bytes (about 40 ms at
// 100 Mbit/s, like a link's queue) and writes are cut into ratePiece bytes.
// The depth lets a sender that woke late catch up, so the cap is the rate
// over any stretch longer than the burst, not the rate minus scheduler lag.
const (
	rateBurst = 512 << 10
	ratePiece = 32 << 10
)

// acquire takes one of p's request slots, reporting false when p already
// has perPeer requests open: one peer cannot tie up the whole server.
func (s *server) acquire(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[p] >= s.perPeer {
		return false
	}
	s.active[p]++
	return true
}

func (s *server) release(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[p]--; s.active[p] <= 0 {
		delete(s.active, p)
	}
}

// handle serves one request. A malformed or excess request gets an error
// frame naming the problem and a stream reset.
func (s *server) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if !s.acquire(p) {
		refuse(st, "too many concurrent requests from this peer")
		return
	}
	defer s.release(p)
	if !s.admit(p) {
		refuse(st, "peer not admitted to this zone")
		return
	}
	defer protectRequest(s.h, p)()
	_ = st.SetReadDeadline(s.pace.next(time.Time{}))
	br := bufio.NewReaderSize(io.LimitReader(st, MaxRequestSize), 4096)
	cids, err := decodeRequest(br)
	if err != nil {
		refuse(st, err.Error())
		return
	}
	if err := s.serve(st, p, cids); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// admit asks the admission check, if any, whether p may be served.
func (s *server) admit(p peer.ID) bool {
	if s.admitted == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), AdmissionTimeout)
	defer cancel()
	return s.admitted(ctx, p)
}

// serve writes one frame per requested CID to p. A block past the serve
// budget gets a busy frame, which ends the response: the peer asks others,
// those the frame names first (with their addresses on a ProtocolID
// stream; a ProtocolIDv1 peer could not read them).
func (s *server) serve(st network.Stream, p peer.ID, cids []cid.Cid) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := &stallWriter{st: st, pace: s.pace}
	var w io.Writer = sw
	if s.limiter != nil {
		w = &throttledWriter{ctx: ctx, w: w, lim: s.limiter, stall: s.pace.stall}
	}
	for _, c := range cids {
		data, done, err := s.get(ctx, c)
		sw.due = s.pace.due(len(data))
		switch {
		case errors.Is(err, ErrCorruptBlock):
			// Never serve rot; drop it so Has tells the truth again.
			_ = s.store.Delete(ctx, c)
			err = writeMissingFrame(w)
		case errors.Is(err, ErrNotFound):
			err = writeMissingFrame(w)
		case err != nil:
			_ = writeErrorFrame(w, "reading block store failed")
			return err
		case !s.budget.spend(p, c, len(data), time.Now()):
			done()
			withAddrs := st.Protocol() == ProtocolID
			return writeBusyFrame(w, busyHints(s.h, s.budget, p, c, st.Conn().RemoteMultiaddr(), withAddrs), withAddrs)
		default:
			if err = writeBlockFrame(w, data); err == nil {
				s.served.Add(int64(len(data)))
			}
		}
		done()
		if err != nil {
			return err
		}
	}
	return nil
}

// refuse answers with an error frame and ends the stream: the read side is
// reset (whatever else the peer sends is dropped) and the write side closed
// after the frame. A full yamux reset would discard the frame unread, and the
// peer would never learn what it did wrong.
func refuse(st network.Stream, msg string) {
	_ = st.SetWriteDeadline(time.Now().Add(time.Second))
	if err := writeErrorFrame(st, msg); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// throttledWriter spends tokens from a shared bucket before each piece, so
// all of a server's streams together stay under the bucket's rate.
type throttledWriter struct {
	ctx   context.Context
	w     io.Writer
	lim   *rate.Limiter
	stall time.Duration
}

func (t *throttledWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, ratePiece)
		// Bounded like any write, so a reset stream cannot park a server
		// goroutine on the bucket forever.
		ctx, cancel := context.WithTimeout(t.ctx, t.stall)
		err := t.lim.WaitN(ctx, n)
		cancel()
		if err != nil {
			return done, err
		}
		m, err := t.w.Write(p[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
