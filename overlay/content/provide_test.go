package content

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A fetch whose seed delivers the artifact within SeedOnlyWindow never
// asks the DHT, and leaves its provide to Run within
// SeedCoveredProvideSpread: a zone's fetchers finishing together must not
// all walk the DHT at once. One whose seed is slow asks the DHT once the
// window is over, takes the other holder it finds, and provides at once —
// unless the DHT already named ProvideRecordsEnough holders: then its
// provide waits too (it provided at once without the check, checked).
func TestSeedsCoverFetchWithoutDHTWalk(t *testing.T) {
	type outcome struct {
		Searched, Due, Provided bool
		Finds, Provides         int
	}
	for _, tc := range []struct {
		name  string
		slow  bool
		fakes int // provider records without addresses the search also gets
		want  outcome
	}{
		{"seed in time", false, 0, outcome{Searched: false, Due: true, Provided: true}},
		{"slow seed", true, 0, outcome{Searched: true, Due: false, Provided: true, Finds: 1, Provides: 1}},
		{"slow seed, holders plenty", true, ProvideRecordsEnough, outcome{Searched: true, Due: true, Provided: true, Finds: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newNet(t, 3, func(i int) Config {
				c := DefaultConfig()
				c.SeedServeCopies = 0
				if i == 1 && tc.slow {
					// 32 s for the artifact alone: the search, which starts
					// after SeedOnlyWindow, reaches the DHT's holder (after
					// the fake records) long before, however loaded the
					// machine.
					c.sendRate = 64 << 10
				}
				return c
			})
			data, sum := artifact(2<<20+9, 21)
			root := seed(t, data, nodes[0], nodes[1], nodes[2])
			r := &countingRouter{node: nodes[0], count: map[cid.Cid]int{}, fakes: tc.fakes}
			svc, err := New(nodes[0].h, r, nodes[0].store, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			want := Want{CID: root, Size: int64(len(data)), SHA256: sum, Seeds: []peer.ID{nodes[1].h.ID()}}
			res, err := svc.Fetch(context.Background(), want, &buf)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkArtifact(t, buf.Bytes(), data)
			svc.Provider().wait()
			r.mu.Lock()
			got := outcome{res.Searched, slices.Contains(svc.Provider().Due(), root), res.Provided, r.finds, r.count[root]}
			r.mu.Unlock()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if used := providerIDs(res); tc.slow && !slices.Contains(used, nodes[2].h.ID()) {
				t.Errorf("providers used %v, want the holder the DHT names (%v) too", used, nodes[2].h.ID())
			}
		})
	}
}

// recordRouter records when each Provide reached it; it finds named
// holders of every root, none by default. Run's schedule is checked in
// virtual time (synctest), which a real DHT cannot run in.
type recordRouter struct {
	mu    sync.Mutex
	at    map[cid.Cid][]time.Time
	named int
}

func (r *recordRouter) Provide(_ context.Context, c cid.Cid, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at[c] = append(r.at[c], time.Now())
	return nil
}

func (r *recordRouter) FindProvidersAsync(context.Context, cid.Cid, int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo, r.named)
	for i := range r.named {
		ch <- peer.AddrInfo{ID: peer.ID(fmt.Sprintf("holder-%d", i))}
	}
	close(ch)
	return ch
}

// Holders the DHT names — real ones, or records an attacker planted to
// keep the zone's agents from providing — postpone a checked first
// announce past the spread but do not suppress it: the root is announced
// within the reprovide interval after the check (at its postponed point,
// or by the periodic re-provide if that comes first).
func TestPostponedProvideStillAnnouncedWithinReprovideInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recordRouter{at: map[cid.Cid][]time.Time{}, named: ProvideRecordsEnough}
		p := NewProvider(r, ReprovideInterval, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go p.Run(ctx)
		data, _ := artifact(64, 500)
		c, err := ContentID(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		p.ProvideWithin(c, SeedCoveredProvideSpread)
		time.Sleep(SeedCoveredProvideSpread + time.Second)
		synctest.Wait()
		r.mu.Lock()
		early := len(r.at[c])
		r.mu.Unlock()
		if early != 0 || !slices.Contains(p.Postponed(), c) {
			t.Fatalf("after the spread: announced %d times, postponed %v; want 0 and postponed", early, p.Postponed())
		}
		time.Sleep(ReprovideInterval)
		synctest.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		if n := len(r.at[c]); n == 0 {
			t.Errorf("not announced within the reprovide interval after the check")
		}
		if due := p.Due(); len(due) != 0 {
			t.Errorf("still due after the reprovide interval: %v", due)
		}
	})
}

// ProvideWithin announces each root once, from Run, at a random point
// within the spread — not all at once — and never a root Forgotten or
// provided meanwhile a second time.
func TestProvideWithinSpreadsAnnounces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recordRouter{at: map[cid.Cid][]time.Time{}}
		p := NewProvider(r, ReprovideInterval, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go p.Run(ctx)
		start := time.Now()
		var roots []cid.Cid
		for i := range 40 {
			data, _ := artifact(64+i, uint64(100+i))
			c, err := ContentID(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			roots = append(roots, c)
			p.ProvideWithin(c, SeedCoveredProvideSpread)
		}
		forgotten, provided := roots[0], roots[1]
		p.Forget(forgotten)
		if err := p.Provide(ctx, provided); err != nil {
			t.Fatal(err)
		}
		time.Sleep(SeedCoveredProvideSpread + time.Second)
		synctest.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		instants := map[time.Time]bool{}
		for _, c := range roots[2:] {
			if len(r.at[c]) != 1 {
				t.Fatalf("root %s announced %d times, want once", c, len(r.at[c]))
			}
			if d := r.at[c][0].Sub(start); d > SeedCoveredProvideSpread {
				t.Errorf("root %s announced after %v, past the spread %v", c, d, SeedCoveredProvideSpread)
			}
			instants[r.at[c][0]] = true
		}
		if len(instants) < 10 {
			t.Errorf("38 announces at %d instants: not spread", len(instants))
		}
		if n, m := len(r.at[forgotten]), len(r.at[provided]); n != 0 || m != 1 {
			t.Errorf("forgotten root announced %d times (want 0), provided one %d (want 1)", n, m)
		}
		if due := p.Due(); len(due) != 0 {
			t.Errorf("still due after the spread: %v", due)
		}
	})
}

// A fetch its seed covered provides, when its time within the spread
// comes, only if the DHT then names fewer than ProvideRecordsEnough
// holders; with that many it postpones its first announce to a point
// within the reprovide interval, so a rollout's thousand fetchers do not
// all walk to the same closest peers (it announced regardless before,
// checked). Real DHTs on loopback; the router counts the announces.
func TestSeedCoveredProvideWaitsWhileDHTNamesPlenty(t *testing.T) {
	for _, tc := range []struct {
		name      string
		holders   int
		postponed bool
	}{
		{"few holders", 1, false},
		{"plenty of holders", ProvideRecordsEnough, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newNet(t, tc.holders+1, defaultCfg)
			fetcher, holders := nodes[0], nodes[1:]
			data, sum := artifact(64<<10+3, 77)
			root := seed(t, data, fetcher, holders...)
			// Every holder's provide reaches the fetcher too (K = 20 of
			// twenty other nodes), so its check can count them without a
			// lookup whose RPCs a loaded machine may time out: wait for
			// them there.
			waitFor(t, "the holders' records in the fetcher's own store", func() bool {
				ais, err := fetcher.dht.ProviderStore().GetProviders(context.Background(), root.Hash())
				return err == nil && len(ais) >= tc.holders
			})
			r := &countingRouter{node: fetcher, count: map[cid.Cid]int{}}
			cfg := DefaultConfig()
			cfg.ProvideSpread = 0 // due at once: Run checks, then announces or postpones
			svc, err := New(fetcher.h, r, fetcher.store, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go svc.Run(ctx)
			var buf bytes.Buffer
			want := Want{CID: root, Size: int64(len(data)), SHA256: sum, Seeds: []peer.ID{holders[0].h.ID()}}
			res, err := svc.Fetch(ctx, want, &buf)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			checkArtifact(t, buf.Bytes(), data)
			if res.Searched {
				t.Fatalf("the seed's fetch searched the DHT; want it covered by the seed")
			}
			p := svc.Provider()
			waitFor(t, "the first announce checked", func() bool {
				r.mu.Lock()
				announced := r.count[root] > 0
				r.mu.Unlock()
				return announced || len(p.Postponed()) > 0
			})
			r.mu.Lock()
			announces := r.count[root]
			r.mu.Unlock()
			if got := slices.Contains(p.Postponed(), root); got != tc.postponed || (announces == 0) != tc.postponed {
				t.Errorf("%d holders named: postponed %v, announced %d times; want postponed %v", tc.holders, got, announces, tc.postponed)
			}
			if !slices.Contains(p.Roots(), root) {
				t.Errorf("root not held after the check")
			}
		})
	}
}
