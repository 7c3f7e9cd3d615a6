package content

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A copy is called off once other requests delivered every leaf of its
// run, not one leaf sooner; the copy that delivered is left alone, and the
// one called off reads as superseded when released.
func TestSupersedeWaitsForTheWholeRun(t *testing.T) {
	tr := newTransfer(context.Background(), nil, 2, 1, nil)
	tr.start([]leaf{{size: 8}, {size: 8}, {size: 8}})
	slow, fast := &source{id: "slow"}, &source{id: "fast"}
	for _, s := range []*source{slow, fast} {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		t.Cleanup(s.cancel)
	}
	tr.mu.Lock()
	owned := tr.mark([]int{0, 1}, slow, false)
	other := tr.mark([]int{2}, slow, false)
	stolen := tr.mark([]int{0, 1}, fast, true)
	tr.mu.Unlock()

	tr.deliver(0, make([]byte, 8), stolen)
	if owned.ctx.Err() != nil {
		t.Fatalf("the slow copy was called off with one of its two leaves still to come")
	}
	tr.deliver(1, make([]byte, 8), stolen)
	if owned.ctx.Err() == nil {
		t.Errorf("the slow copy goes on after the stolen run delivered both its leaves")
	}
	if stolen.ctx.Err() != nil || other.ctx.Err() != nil {
		t.Errorf("called off: the delivering copy %v, the slow provider's other run %v; want neither", stolen.ctx.Err(), other.ctx.Err())
	}
	if !tr.release(owned) {
		t.Errorf("the called-off copy is not released as superseded")
	}
	if tr.release(stolen) || tr.release(other) {
		t.Errorf("a copy that was not called off is released as superseded")
	}
}

// gatedWriter holds its first Write until open is closed, so a fetch
// cannot end while the test looks at it.
type gatedWriter struct {
	bytes.Buffer
	entered, open chan struct{}
	once          sync.Once
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.open
	})
	return g.Buffer.Write(p)
}

// A slow seed's requests are reset as soon as a faster provider, stealing
// its runs, has delivered them, while the fetch still runs (its writer
// holds it here), and the slow seed is not dropped for it. Left open, the
// slow copy went on loading both ends' links for the rest of its run (two
// minutes at this pace) or until the whole fetch ended.
func TestSupersededCopyCalledOff(t *testing.T) {
	fcfg := seedCfg()
	fcfg.stall, fcfg.minRate = time.Minute, 1 // the slow seed is never overdue
	f := newStaticNode(t, peer.AddrInfo{}, fcfg)
	slowCfg := seedCfg()
	slowCfg.sendRate = 8 << 10
	slowCfg.stall, slowCfg.minRate = time.Minute, 1
	data, sum := artifact(2*ChunkSize, 23)
	slow, fast := newHolderWith(t, data, f, slowCfg), newHolder(t, data, f)
	root, err := ContentID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// An empty bucket: the slow seed sends nothing for its first seconds,
	// so its runs are ripe for stealing at StealAfter.
	slow.svc.srv.limiter.AllowN(time.Now(), rateBurst)
	late := seedOnceAsked(t, f, slow, fast)
	w := &gatedWriter{entered: make(chan struct{}), open: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res Result
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = f.svc.Fetch(ctx, Want{CID: root, Size: int64(len(data)), SHA256: sum, Seeds: []peer.ID{slow.h.ID()}}, w, WithLateSeeds(late))
		done <- err
	}()
	select {
	case <-w.entered:
	case err := <-done:
		t.Fatalf("Fetch ended before writing: %v", err)
	}
	waitFor(t, "the slow seed's requests to be called off", func() bool { return !requesting(f, slow) })
	close(w.open)
	if err := <-done; err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	checkArtifact(t, w.Bytes(), data)
	for _, p := range res.Providers {
		if p.Err != nil {
			t.Errorf("provider %s dropped: %v", p.Peer, p.Err)
		}
	}
}
