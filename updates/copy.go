package updates

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/patchnet/patchnet/trust"
)

// copyCounted copies at most limit bytes of src into dst, failing with
// trust.ErrOversized as soon as src offers one byte more. Reading runs in its
// own goroutine with FetchBuffers buffers in flight, so network reads overlap
// hashing and disk writes (dst's). A source that delivers nothing for stall is
// closed (the read fails). progress gets the bytes copied so far.
func copyCounted(ctx context.Context, dst io.Writer, src io.ReadCloser, limit int64, stall time.Duration, progress func(int64)) (int64, error) {
	p := newPipe(FetchBuffers, FetchBufferSize)
	p.stall = stall
	p.watchdog = time.AfterFunc(stall, func() { p.stalled.Store(true); src.Close() })
	defer p.watchdog.Stop()
	go p.fill(src)
	n, err := p.drain(ctx, dst, limit, progress)
	p.stop(src)
	if err == nil {
		err = p.readErr
	}
	if err != nil && p.stalled.Load() {
		err = fmt.Errorf("no data for %s: %w", p.stall, err)
	}
	return n, err
}

type pipe struct {
	free, full chan []byte
	sizes      chan int
	done       chan struct{}
	quit       chan struct{}
	readErr    error
	stall      time.Duration
	watchdog   *time.Timer
	stalled    atomic.Bool
}

func newPipe(buffers, size int) *pipe {
	p := &pipe{
		free: make(chan []byte, buffers), full: make(chan []byte, buffers),
		sizes: make(chan int, buffers), done: make(chan struct{}), quit: make(chan struct{}),
	}
	for i := 0; i < buffers; i++ {
		p.free <- make([]byte, size)
	}
	return p
}

// fill reads src into free buffers until EOF, an error or quit.
func (p *pipe) fill(src io.Reader) {
	defer close(p.done)
	defer close(p.full)
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.quit:
			return
		}
		n, err := readFull(src, buf, p.watchdog, p.stall)
		if n > 0 {
			p.sizes <- n
			p.full <- buf
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			p.readErr = fmt.Errorf("reading response: %w", err)
			return
		}
	}
}

// readFull reads until buf is full, EOF or an error; unlike io.ReadFull it
// keeps a transport's io.ErrUnexpectedEOF distinct from a clean end.
func readFull(r io.Reader, buf []byte, w *time.Timer, stall time.Duration) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if m > 0 && w != nil {
			w.Reset(stall)
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (p *pipe) drain(ctx context.Context, dst io.Writer, limit int64, progress func(int64)) (int64, error) {
	var total, reported int64
	for buf := range p.full {
		n := <-p.sizes
		if int64(n) > limit-total {
			return total, fmt.Errorf("%w: server sent more than the announced %d bytes", trust.ErrOversized, limit)
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return total, fmt.Errorf("writing fetched bytes: %w", err)
		}
		total += int64(n)
		p.watchdog.Reset(p.stall) // a slow disk is not a stalled server
		p.free <- buf
		if total-reported >= ProgressInterval || total == limit {
			progress(total)
			reported = total
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// stop ends the reading goroutine (closing src unblocks a pending Read) and
// waits for it, so src is never read after copyCounted returns.
func (p *pipe) stop(src io.Closer) {
	close(p.quit)
	src.Close()
	for range p.full {
		<-p.sizes
	}
	<-p.done
}
