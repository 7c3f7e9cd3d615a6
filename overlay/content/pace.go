package content

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// pace is how slow a block transfer may be, on either side of a stream:
// silent for at most stall, and each block done by stall plus its bytes at
// minRate (bytes per second). A provider may be slow — a popular seed
// shares its uplink among hundreds of fetchers, and a 1 MiB block at
// 30 KB/s takes half a minute — but neither silent nor dripping a byte
// just often enough to beat the stall timeout. (A deadline of StallTimeout
// per whole block dropped slow seeds mid-block.)
type pace struct {
	stall   time.Duration
	minRate float64
	// stealAfter is how long a provider's run is left to it before an
	// idle provider requests it too.
	stealAfter time.Duration
}

// defaultPace is the production pace; Config.pace replaces it in tests.
var defaultPace = pace{stall: StallTimeout, minRate: MinProviderRate, stealAfter: StealAfter}

// due is when a block of size bytes (-1: unknown, a DAG node of a few
// KiB) started now must be done.
func (p pace) due(size int) time.Time {
	return time.Now().Add(p.stall + time.Duration(float64(max(size, 0))/p.minRate*float64(time.Second)))
}

// next is the deadline for the next read or write: stall from now, but
// not past due (zero: no block under way).
func (p pace) next(due time.Time) time.Time {
	d := time.Now().Add(p.stall)
	if !due.IsZero() && due.Before(d) {
		return due
	}
	return d
}

// stallReader moves st's read deadline ahead of every read (pace.next):
// the fetching side.
type stallReader struct {
	st   network.Stream
	pace pace
	due  time.Time     // the current block's
	got  *atomic.Int64 // counts what was read, if set
}

func (r *stallReader) Read(b []byte) (int, error) {
	_ = r.st.SetReadDeadline(r.pace.next(r.due))
	n, err := r.st.Read(b)
	if r.got != nil {
		r.got.Add(int64(n))
	}
	return n, err
}

// stallWriter moves st's write deadline ahead of every piece of at most
// stallPiece bytes (pace.next): the serving side, so a fetcher reading a
// byte now and then holds a serving stream no longer than an honest slow
// one.
type stallWriter struct {
	st   network.Stream
	pace pace
	due  time.Time // the current block's
}

func (w *stallWriter) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		_ = w.st.SetWriteDeadline(w.pace.next(w.due))
		n, err := w.st.Write(b[done:min(len(b), done+stallPiece)])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
