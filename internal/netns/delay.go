package netns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// delayer holds each packet a node receives for a fixed delay before
// letting it in: an iptables NFQUEUE rule on eth0's ingress hands the
// packets to a queue of the node's namespace, which this process reads.
// The kernel has no netem here; these are real kernel packets, delayed in
// userspace. Ingress, not egress: a packet queued on its way out still
// belongs to its socket, and TCP small queues then let a connection have
// only a couple of packets in flight (throughput collapses); one that
// crossed the veth into the namespace belongs to no socket.
type delayer struct {
	q     *nfqueue
	delay time.Duration
	// jitter adds to each packet's delay a uniform share of itself,
	// never letting a packet overtake the one before it (as netem with a
	// FIFO behind it): real paths vary their delay, they rarely reorder.
	jitter time.Duration
	stop   chan struct{}
	wg     sync.WaitGroup
}

// LatencyAvailable says why SetLatency cannot work here (no iptables), or
// nil.
func LatencyAvailable() error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return errors.New("iptables is not installed: links get no latency (the Makefile's APT_DEPS installs it)")
	}
	return nil
}

// SetLatency delays every packet the node receives by d and a uniform
// share of jitter (in order: a packet never overtakes the one before
// it), so with it on every node a one-way trip between two nodes takes
// d more. It can be set once per node.
func (nd *Node) SetLatency(ctx context.Context, d, jitter time.Duration) error {
	if d < 0 || jitter < 0 || d+jitter <= 0 {
		return fmt.Errorf("latency %v, jitter %v: want a positive delay", d, jitter)
	}
	if err := LatencyAvailable(); err != nil {
		return err
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.delayer != nil {
		return fmt.Errorf("node %s has a latency already", nd.Name)
	}
	var dl *delayer
	err := doIn("/run/netns/"+nd.NS, func() error {
		var err error
		dl, err = startDelayer(d, jitter)
		return err
	})
	if err != nil {
		return fmt.Errorf("delaying %s's packets: %w", nd.Name, err)
	}
	if err := run(ctx, "ip", append([]string{"netns", "exec", nd.NS, "iptables"}, queueRule("eth0")...)...); err != nil {
		dl.close()
		return fmt.Errorf("delaying %s's packets: %w", nd.Name, err)
	}
	nd.delayer = dl
	return nil
}

// startDelayer opens the packet queue of the calling thread's namespace
// and starts releasing what it holds after d and its share of jitter.
func startDelayer(d, jitter time.Duration) (*delayer, error) {
	dl := &delayer{delay: d, jitter: jitter, stop: make(chan struct{})}
	var err error
	if dl.q, err = openNFQueue(0, MaxQueuedPackets); err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(int64(delayerPoll))
	unix.SetsockoptTimeval(dl.q.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	dl.run()
	return dl, nil
}

// queueRule is the iptables rule handing what dev receives to queue 0,
// letting it through undelayed when no delayer reads the queue.
func queueRule(dev string) []string {
	return []string{"-w", "-A", "INPUT", "-i", dev, "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass"}
}

// lossRule is the iptables rule dropping what dev receives with
// probability p, ahead of a delayer's.
func lossRule(dev string, p float64) []string {
	return []string{"-w", "-I", "INPUT", "1", "-i", dev,
		"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', -1, 64), "-j", "DROP"}
}

// pending is a queued packet and when it may go.
type pending struct {
	id  uint32
	due time.Time
}

// wait is a packet's delay: the latency and a uniform share of the
// jitter.
func (dl *delayer) wait() time.Duration {
	if dl.jitter <= 0 {
		return dl.delay
	}
	return dl.delay + rand.N(dl.jitter)
}

// run starts reading packet ids and releasing each when due, in the
// order they came: one released in turn, so a packet whose drawn delay
// is shorter than the one's ahead of it waits for that one.
func (dl *delayer) run() {
	due := make(chan pending, MaxQueuedPackets)
	dl.wg.Add(2)
	go func() {
		defer dl.wg.Done()
		defer close(due)
		buf := make([]byte, 1<<16)
		for {
			select {
			case <-dl.stop:
				return
			default:
			}
			ids, err := dl.q.receive(buf)
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				return
			}
			now := time.Now()
			for _, id := range ids {
				due <- pending{id, now.Add(dl.wait())}
			}
		}
	}()
	go func() {
		defer dl.wg.Done()
		for p := range due {
			if wait := time.Until(p.due); wait > 0 {
				time.Sleep(wait) // the delay itself, not a wait for a condition
			}
			dl.q.accept(p.id)
		}
	}()
}

// close stops the delayer and closes its queue (the kernel drops what is
// still queued).
func (dl *delayer) close() {
	close(dl.stop)
	dl.wg.Wait()
	dl.q.close()
}

// SetLoss drops each packet the node receives with probability p (an
// iptables statistic rule on eth0's ingress, ahead of the delayer's), so
// with it on every node a path between two nodes loses that share. It can
// be set once per node; LatencyAvailable says whether iptables is there.
func (nd *Node) SetLoss(ctx context.Context, p float64) error {
	if !(p > 0 && p < 1) {
		return fmt.Errorf("loss %v: want a probability between 0 and 1", p)
	}
	if err := LatencyAvailable(); err != nil {
		return err
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.loss > 0 {
		return fmt.Errorf("node %s has a loss already", nd.Name)
	}
	err := run(ctx, "ip", append([]string{"netns", "exec", nd.NS, "iptables"}, lossRule("eth0", p)...)...)
	if err != nil {
		return fmt.Errorf("dropping %s's packets: %w", nd.Name, err)
	}
	nd.loss = p
	return nil
}
