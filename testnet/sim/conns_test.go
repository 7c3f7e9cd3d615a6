package sim

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	lpnet "github.com/libp2p/go-libp2p/core/network"

	"github.com/patchnet/patchnet/node/nodelab"
)

// watchConns logs, every interval until stop closes, the agents'
// connection counts (p50, p90, max) and how many connections the zone
// opened and closed since the last line: connections are most of a sim
// node's memory, and each new one a TLS handshake.
func watchConns(b *testing.B, lab *nodelab.Lab, interval time.Duration, stop <-chan struct{}) {
	var opened, closed atomic.Int64
	for _, m := range lab.Members() {
		m.Overlay().Host().Network().Notify(&lpnet.NotifyBundle{
			ConnectedF:    func(lpnet.Network, lpnet.Conn) { opened.Add(1) },
			DisconnectedF: func(lpnet.Network, lpnet.Conn) { closed.Add(1) },
		})
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var use processUse
	use.sample()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var counts []int
		for _, m := range lab.Agents {
			counts = append(counts, len(m.Overlay().Host().Network().Conns()))
		}
		slices.Sort(counts)
		n := len(counts)
		signers := append([]*nodelab.Member{lab.Publisher}, lab.Supernodes...)
		var signerConns []int
		for _, m := range signers {
			signerConns = append(signerConns, len(m.Overlay().Host().Network().Conns()))
		}
		cores, gcs := use.sample()
		b.Logf("agent connections p50 %d p90 %d max %d, %d agents connected to no signer; publisher and supernodes %v; zone opened %d, closed %d in %v; %.2f cores, %d GC cycles",
			counts[n/2], counts[n*9/10], counts[n-1], signerless(lab.Agents, signers), signerConns, opened.Swap(0), closed.Swap(0), interval, cores, gcs)
	}
}

// signerless counts the agents connected to none of signers (the
// publisher and the supernodes): they cannot ask a signer where a seed is
// (overlay.LocatePeer).
func signerless(agents, signers []*nodelab.Member) int {
	n := 0
	for _, a := range agents {
		net := a.Overlay().Host().Network()
		if !slices.ContainsFunc(signers, func(s *nodelab.Member) bool { return net.Connectedness(s.ID()) == lpnet.Connected }) {
			n++
		}
	}
	return n
}

// processUse samples the process's CPU time (cpuSeconds) and GC cycles:
// a 1,000-node zone on two cores that saturates them slows every node's
// answers alike.
type processUse struct {
	at  time.Time
	cpu float64
	gcs uint32
}

// sample returns the cores used and the GC cycles run since the last
// sample.
func (u *processUse) sample() (cores float64, gcs uint32) {
	cpu := cpuSeconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	now := time.Now()
	if !u.at.IsZero() {
		cores = (cpu - u.cpu) / now.Sub(u.at).Seconds()
		gcs = ms.NumGC - u.gcs
	}
	u.at, u.cpu, u.gcs = now, cpu, ms.NumGC
	return cores, gcs
}
