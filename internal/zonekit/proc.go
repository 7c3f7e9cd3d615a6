package zonekit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one running patchnet daemon with its output collected.
type Proc struct {
	// Name is the node's name in the zone.
	Name string
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Done is closed once the process exited and its output is read.
	Done chan struct{}
	// Addr is the TCP listen address it printed, ending in /p2p/ID.
	Addr string

	mu  sync.Mutex
	out bytes.Buffer
}

// Output is everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *Proc) appendLine(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.WriteString(line + "\n")
}

// Start starts cmd (a daemon: `patchnet supernode|agent …`, maybe inside
// a namespace) and waits until it prints its TCP listen address, which it
// returns (ending in /p2p/ID). On error the process is stopped.
func Start(ctx context.Context, name string, cmd *exec.Cmd) (*Proc, string, error) {
	p := &Proc{Name: name, Cmd: cmd, Done: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.Done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			p.appendLine(line)
			if a, ok := strings.CutPrefix(line, "listening on "); ok && strings.Contains(a, "/tcp/") {
				select {
				case addr <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() { cmd.Wait(); w.Close() }()
	select {
	case a := <-addr:
		p.Addr = a
		return p, a, nil
	case <-p.Done:
		return nil, "", fmt.Errorf("%s exited before listening:\n%s", name, p.Output())
	case <-ctx.Done():
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("waiting for %s to listen: %w\n%s", name, ctx.Err(), p.Output())
	}
}

// Stop sends SIGTERM and waits up to grace, then kills.
func (p *Proc) Stop(grace time.Duration) {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill kills the process (no shutdown) and waits for it.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.Done
}

// WaitOutput waits until the process printed want, polling its output.
func (p *Proc) WaitOutput(ctx context.Context, want string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !strings.Contains(p.Output(), want) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never printed %q: %w\n%s", p.Name, want, ctx.Err(), p.Output())
		case <-p.Done:
			if !strings.Contains(p.Output(), want) {
				return fmt.Errorf("%s exited without printing %q:\n%s", p.Name, want, p.Output())
			}
		case <-t.C:
		}
	}
	return nil
}
