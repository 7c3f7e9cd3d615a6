package rawgossip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The line protocol between a runner and a peer in another process
// (Serve, Remote). The runner writes commands, one a line:
//
//	dial MULTIADDR          connect to the peer at MULTIADDR (ending in /p2p/ID)
//	publish ROUND SIZE      publish round ROUND's message of SIZE bytes
//
// and the peer writes events, one a line:
//
//	listening MULTIADDR     first, once: its address, ending in /p2p/ID
//	dialed MULTIADDR        a dial succeeded
//	dial-failed MULTIADDR REASON
//	published ROUND UNIXNANO
//	publish-failed ROUND REASON
//	got ROUND UNIXNANO      round ROUND's message first reached it
//	counts GRAFTS PRUNES DUPLICATES   after any of them changed
//
// The peer exits when its input ends. Times are the peer's clock: a runner
// compares them only with times of peers on its own host.

// Event is one line a peer writes.
type Event struct {
	// Kind is the line's first word.
	Kind string
	// Addr is a listening, dialed or dial-failed event's multiaddr.
	Addr string
	// Round is a published, publish-failed or got event's round.
	Round int64
	// At is a published or got event's time.
	At time.Time
	// Reason is a failure's error message.
	Reason string
	// Grafts, Prunes and Duplicates are a counts event's.
	Grafts, Prunes, Duplicates int64
}

// ErrMalformed is wrapped by every error of ParseEvent.
var ErrMalformed = errors.New("malformed raw-gossip line")

// ParseEvent reads one event line.
func ParseEvent(line string) (Event, error) {
	kind, rest, _ := strings.Cut(line, " ")
	e := Event{Kind: kind}
	fail := func(why string) (Event, error) {
		return Event{}, fmt.Errorf("%w: %s: %q", ErrMalformed, why, truncate(line))
	}
	switch kind {
	case "listening", "dialed":
		if _, err := peer.AddrInfoFromString(rest); err != nil {
			return fail("want a multiaddr ending in /p2p/ID")
		}
		e.Addr = rest
	case "dial-failed":
		e.Addr, e.Reason, _ = strings.Cut(rest, " ")
		if _, err := peer.AddrInfoFromString(e.Addr); err != nil {
			return fail("want a multiaddr ending in /p2p/ID")
		}
	case "published", "got":
		n, err := ints(rest, 2)
		if err != nil || n[0] < 0 || n[1] <= 0 {
			return fail("want a round and a time in unix nanoseconds")
		}
		e.Round, e.At = n[0], time.Unix(0, n[1])
	case "publish-failed":
		r, reason, _ := strings.Cut(rest, " ")
		n, err := ints(r, 1)
		if err != nil || n[0] < 0 {
			return fail("want a round")
		}
		e.Round, e.Reason = n[0], reason
	case "counts":
		n, err := ints(rest, 3)
		if err != nil || n[0] < 0 || n[1] < 0 || n[2] < 0 {
			return fail("want three counts")
		}
		e.Grafts, e.Prunes, e.Duplicates = n[0], n[1], n[2]
	default:
		return fail("unknown event")
	}
	return e, nil
}

// ints parses exactly n space-separated integers.
func ints(s string, n int) ([]int64, error) {
	f := strings.Split(s, " ")
	if len(f) != n {
		return nil, fmt.Errorf("%d fields, want %d", len(f), n)
	}
	out := make([]int64, n)
	for i, x := range f {
		var err error
		if out[i], err = strconv.ParseInt(x, 10, 64); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// truncate shortens a line quoted in an error.
func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// Serve runs p's side of the line protocol: it reads commands from in
// and writes events to out until in ends or ctx does. A malformed
// command is an error that ends it, naming the line.
func Serve(ctx context.Context, p *Peer, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &eventWriter{w: out}
	ai := peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()}
	addrs, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("naming the peer's address: %v (%d addresses)", err, len(addrs))
	}
	w.line("listening %s", addrs[0])
	go report(ctx, p, w)
	var wg sync.WaitGroup
	defer wg.Wait()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 256), MaxLineBytes)
	for sc.Scan() {
		if err := command(ctx, p, w, &wg, sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// command runs one command line in its own goroutine.
func command(ctx context.Context, p *Peer, w *eventWriter, wg *sync.WaitGroup, line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "dial":
		ai, err := peer.AddrInfoFromString(rest)
		if err != nil {
			return fmt.Errorf("%w: dial: %v: %q", ErrMalformed, err, truncate(line))
		}
		wg.Go(func() {
			if err := Dial(ctx, p.h, *ai); err != nil {
				w.line("dial-failed %s %s", rest, oneLine(err))
				return
			}
			w.line("dialed %s", rest)
		})
	case "publish":
		n, err := ints(rest, 2)
		if err != nil || n[0] < 0 || n[1] < 0 || n[1] > MaxMessageBytes {
			return fmt.Errorf("%w: want publish ROUND SIZE (size at most %d): %q", ErrMalformed, MaxMessageBytes, truncate(line))
		}
		wg.Go(func() {
			at, err := p.Publish(ctx, n[0], int(n[1]))
			if err != nil {
				w.line("publish-failed %d %s", n[0], oneLine(err))
				return
			}
			w.line("published %d %d", n[0], at.UnixNano())
		})
	default:
		return fmt.Errorf("%w: unknown command: %q", ErrMalformed, truncate(line))
	}
	return nil
}

// report writes p's new deliveries and changed counts as they happen.
func report(ctx context.Context, p *Peer, w *eventWriter) {
	var last [3]int64
	sent := map[int64]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		}
		p.mu.Lock()
		for r, at := range p.got {
			if !sent[r] {
				sent[r] = true
				w.line("got %d %d", r, at.UnixNano())
			}
		}
		p.mu.Unlock()
		if c := [3]int64{p.Grafts(), p.Prunes(), p.Duplicates()}; c != last {
			last = c
			w.line("counts %d %d %d", c[0], c[1], c[2])
		}
	}
}

// oneLine keeps an error's message on its line, within MaxLineBytes
// with the rest of it.
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > MaxLineBytes/2 {
		s = s[:MaxLineBytes/2] + "…"
	}
	return s
}

// eventWriter writes whole lines from several goroutines.
type eventWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// line writes one formatted line; a write error is the runner gone,
// which ends the peer through its input.
func (e *eventWriter) line(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.w, format+"\n", args...)
}
