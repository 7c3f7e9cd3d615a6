package rawgossip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Remote is a peer in another process (`patchnet testnet raw-gossip`),
// driven through the line protocol on its standard input and output.
type Remote struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string

	graft, prune, dup atomic.Int64

	mu      sync.Mutex
	got     map[int64]time.Time
	waiters map[string]chan Event // by "dial ADDR" or "publish ROUND"
	err     error                 // why its output ended early or was malformed
	output  strings.Builder       // its standard error, for failures
	done    chan struct{}         // closed when its output ended
}

// Start starts cmd (the peer's process, named name in errors), and
// returns once it said where it listens.
func Start(ctx context.Context, name string, cmd *exec.Cmd) (*Remote, error) {
	r := &Remote{name: name, cmd: cmd, got: map[int64]time.Time{}, waiters: map[string]chan Event{}, done: make(chan struct{})}
	var err error
	if r.in, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("raw gossip peer %s: %w", name, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("raw gossip peer %s: %w", name, err)
	}
	cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.output}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting raw gossip peer %s: %w", name, err)
	}
	listening := make(chan string, 1)
	go r.read(out, listening)
	select {
	case r.addr = <-listening:
		return r, nil
	case <-r.done:
	case <-ctx.Done():
	}
	r.Close()
	return nil, fmt.Errorf("raw gossip peer %s did not listen: %w", name, errors.Join(ctx.Err(), r.failure()))
}

// read applies the peer's events until its output ends.
func (r *Remote) read(out io.Reader, listening chan<- string) {
	defer close(r.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 256), MaxLineBytes)
	for sc.Scan() {
		e, err := ParseEvent(sc.Text())
		if err != nil {
			r.fail(err)
			continue
		}
		r.apply(e, listening)
	}
	r.fail(sc.Err())
}

// apply records one event and wakes whoever waits for it.
func (r *Remote) apply(e Event, listening chan<- string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := ""
	switch e.Kind {
	case "listening":
		select {
		case listening <- e.Addr:
		default:
		}
	case "counts":
		r.graft.Store(e.Grafts)
		r.prune.Store(e.Prunes)
		r.dup.Store(e.Duplicates)
	case "got":
		if _, ok := r.got[e.Round]; !ok {
			r.got[e.Round] = e.At
		}
	case "dialed", "dial-failed":
		key = "dial " + e.Addr
	case "published", "publish-failed":
		key = fmt.Sprintf("publish %d", e.Round)
	}
	if ch := r.waiters[key]; ch != nil {
		delete(r.waiters, key)
		ch <- e
	}
}

// fail keeps the first error that ended or broke its output.
func (r *Remote) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && err != nil {
		r.err = err
	}
}

// failure is why the peer failed, with what it wrote to its standard
// error.
func (r *Remote) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	why := "its output ended"
	if r.err != nil {
		why = r.err.Error()
	}
	return fmt.Errorf("%s; it wrote: %q", why, strings.TrimSpace(r.output.String()))
}

// Addr is the peer's multiaddr, ending in /p2p/ID.
func (r *Remote) Addr() string { return r.addr }

// Grafts, Prunes and Duplicates are the peer's counts as it last said.
func (r *Remote) Grafts() int64     { return r.graft.Load() }
func (r *Remote) Prunes() int64     { return r.prune.Load() }
func (r *Remote) Duplicates() int64 { return r.dup.Load() }

// Got is when round's message first reached the peer, by its clock.
func (r *Remote) Got(round int64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.got[round]
	return at, ok
}

// Dial has the peer connect to addr (another peer's Addr).
func (r *Remote) Dial(ctx context.Context, addr string) error {
	e, err := r.ask(ctx, "dial "+addr, "dial "+addr)
	if err == nil && e.Kind == "dial-failed" {
		err = errors.New(e.Reason)
	}
	if err != nil {
		return fmt.Errorf("raw gossip peer %s: dialing %s: %w", r.name, addr, err)
	}
	return nil
}

// Publish has the peer publish round's message of size bytes and returns
// when it did, by its clock.
func (r *Remote) Publish(ctx context.Context, round int64, size int) (time.Time, error) {
	key := fmt.Sprintf("publish %d", round)
	e, err := r.ask(ctx, fmt.Sprintf("publish %d %d", round, size), key)
	if err == nil && e.Kind == "publish-failed" {
		err = errors.New(e.Reason)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("raw gossip peer %s: %w", r.name, err)
	}
	return e.At, nil
}

// ask writes a command and waits for the event answering it (key).
func (r *Remote) ask(ctx context.Context, command, key string) (Event, error) {
	ch := make(chan Event, 1)
	r.mu.Lock()
	if r.waiters[key] != nil {
		r.mu.Unlock()
		return Event{}, fmt.Errorf("%q is being answered already: its answer could not be told apart", command)
	}
	r.waiters[key] = ch
	r.mu.Unlock()
	if _, err := io.WriteString(r.in, command+"\n"); err != nil {
		return Event{}, fmt.Errorf("writing %q: %w", command, err)
	}
	select {
	case e := <-ch:
		return e, nil
	case <-r.done:
		return Event{}, fmt.Errorf("it exited: %w", r.failure())
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Close ends the peer's input and waits StopWait for it to exit, then
// kills it.
func (r *Remote) Close() error {
	r.in.Close()
	select {
	case <-r.done:
	case <-time.After(StopWait):
		r.cmd.Process.Kill()
		<-r.done
	}
	return r.cmd.Wait() // once its output is read, as exec asks
}

// lockedWriter is an io.Writer under a mutex it shares.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
