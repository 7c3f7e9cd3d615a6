package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/origin"
)

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "none"},
		{fmt.Errorf("verifying signer: %w", trust.ErrRevoked), "revoked"},
		{fmt.Errorf("accepting: %w", trust.ErrRollback), "rollback"},
		{fmt.Errorf("counting: %w: no CRL held", trust.ErrStaleCRL), "stale-crl"},
		{fmt.Errorf("not co-signing: %w", origin.ErrOutsideOrigins), "outside-origins"},
		{fmt.Errorf("checking: %w", origin.ErrUnsigned), "vendor-unsigned"},
		{content.ErrDigestMismatch, "digest-mismatch"},
		{content.ErrSizeMismatch, "untrusted"},
		{fmt.Errorf("fetching: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("disk full"), "other"},
	} {
		if got := reasonOf(tc.err); got != tc.want {
			t.Errorf("reasonOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	// A supernode's own refusals carry their sentinel.
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newCosignStore(db)
	if err := s.reserve("PNT-1", 2, updates.Digest{1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.done("PNT-1", 2, updates.Digest{1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version uint64
		digest  updates.Digest
		want    string
	}{
		{1, updates.Digest{1}, "rollback"},
		{2, updates.Digest{2}, "equivocation"},
	} {
		if got := reasonOf(s.reserve("PNT-1", tc.version, tc.digest, nil)); got != tc.want {
			t.Errorf("reserving version %d: reason %q, want %q", tc.version, got, tc.want)
		}
	}
}

func TestSourceBytes(t *testing.T) {
	peer := func(b int64) content.ProviderStat { return content.ProviderStat{Bytes: b} }
	for _, tc := range []struct {
		name string
		res  content.Result
		want map[string]int64
	}{
		{"peers only", content.Result{Bytes: 100, Sources: []content.Source{content.SourcePeers},
			Providers: []content.ProviderStat{peer(60), peer(40)}}, map[string]int64{"peers": 100}},
		{"peers then vendor", content.Result{Bytes: 100, Sources: []content.Source{content.SourcePeers, content.SourceVendor},
			Providers: []content.ProviderStat{peer(30), peer(0)}}, map[string]int64{"peers": 30, "vendor": 70}},
		{"vendor only", content.Result{Bytes: 100, Sources: []content.Source{content.SourceVendor}}, map[string]int64{"vendor": 100}},
		{"held already", content.Result{Bytes: 100, Sources: []content.Source{content.SourceLocal}}, map[string]int64{"local": 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sourceBytes(tc.res)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("sourceBytes = %v, want %v", got, tc.want)
			}
		})
	}
}

// Events map onto the counters and histograms: verdicts by reason, final
// lifecycle states as install outcomes (once: an event that moved no
// record counts nothing), delays from publication.
func TestObserveEvents(t *testing.T) {
	m := newMetrics(&Node{})
	pub := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []Event{
		{Kind: EventPending, ID: "A", Version: 1, Reason: "insufficient-signers"},
		{Kind: EventAccepted, ID: "A", Version: 1, At: pub.Add(90 * time.Second), Published: pub},
		{Kind: EventFetched, ID: "A", Version: 1, SourceBytes: map[string]int64{"peers": 300, "vendor": 12}},
		{Kind: EventInstalled, ID: "A", Version: 1, State: StateInstalled, At: pub.Add(10 * time.Minute), Published: pub},
		{Kind: EventInstalled, ID: "A", Version: 1, At: pub.Add(11 * time.Minute), Published: pub}, // moved no record
		{Kind: EventRejected, ID: "B", Version: 3, Reason: "rollback"},
		{Kind: EventNotApplied, ID: "C", Version: 1, State: StateNotApplied},
		{Kind: EventFailed, ID: "D", Version: 1, Detail: "fetch failed: retrying"}, // no final state: not an outcome
		{Kind: EventCoSigned, ID: "A", Version: 1},
		{Kind: EventRefused, ID: "E", Version: 1, Reason: "outside-origins"},
		{Kind: EventAccepted, ID: "F", Version: 1, At: pub, Published: pub.Add(time.Hour)}, // publisher's clock ahead
	} {
		m.observe(e)
	}
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.announcements.WithLabelValues("pending", "insufficient-signers"), 1},
		{m.announcements.WithLabelValues("accepted", "none"), 2},
		{m.announcements.WithLabelValues("rejected", "rollback"), 1},
		{m.installs.WithLabelValues("installed"), 1},
		{m.installs.WithLabelValues("not-applied"), 1},
		{m.installs.WithLabelValues("failed"), 0},
		{m.fetched.WithLabelValues("peers"), 300},
		{m.fetched.WithLabelValues("vendor"), 12},
		{m.cosignatures.WithLabelValues("made", "none"), 1},
		{m.cosignatures.WithLabelValues("refused", "outside-origins"), 1},
		{m.events.WithLabelValues("installed"), 2},
	} {
		if got := metricValue(t, tc.c).GetCounter().GetValue(); got != tc.want {
			t.Errorf("%v = %v, want %v", metricValue(t, tc.c), got, tc.want)
		}
	}
	for _, tc := range []struct {
		name       string
		h          prometheus.Histogram
		count      uint64
		sumSeconds float64
	}{
		{"acceptance", m.acceptDelay, 2, 90},
		{"install", m.installDelay, 1, 600},
	} {
		h := metricValue(t, tc.h).GetHistogram()
		if h.GetSampleCount() != tc.count || h.GetSampleSum() != tc.sumSeconds {
			t.Errorf("%s delay: %d samples summing to %vs, want %d summing to %vs", tc.name, h.GetSampleCount(), h.GetSampleSum(), tc.count, tc.sumSeconds)
		}
	}
	var off *metrics
	off.observe(Event{Kind: EventInstalled, State: StateInstalled}) // metrics off: nothing, no panic
}

// metricValue reads the one metric c collects.
func metricValue(t *testing.T, c prometheus.Collector) *dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		t.Fatal(err)
	}
	return &d
}
