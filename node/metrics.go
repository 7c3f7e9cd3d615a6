package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/origin"
)

// MetricsConfig is the [metrics] table: an opt-in Prometheus endpoint
// (GET /metrics). It is off by default, and refuses addresses other hosts
// reach unless allow_remote is set, because what it tells (which updates
// this host accepted and installed, and when) is what patchnet's broadcast
// delivery otherwise keeps to the host.
type MetricsConfig struct {
	// Listen is the host:port the endpoint listens on, such as
	// "127.0.0.1:9464" (port 0 picks a free one: Node.MetricsAddr).
	// Default: "" (no endpoint).
	Listen string `toml:"listen"`
	// AllowRemote permits a Listen address that is not loopback (an
	// address of another interface, or none: ":9464" is every interface).
	// Default: false.
	AllowRemote bool `toml:"allow_remote"`
}

// validate names the bad key and its value.
func (c MetricsConfig) validate() error {
	if c.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen %q: want host:port, such as 127.0.0.1:9464: %w", c.Listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("metrics.listen %q: port %q: want a number from 0 to 65535", c.Listen, port)
	}
	if !c.AllowRemote && !loopbackHost(host) {
		return fmt.Errorf("metrics.listen %q is not a loopback address: metrics reveal which updates this host installed; "+
			"listen on 127.0.0.1 or [::1] (a local scraper or a tunnel), or set metrics.allow_remote = true", c.Listen)
	}
	return nil
}

// loopbackHost reports whether host is "localhost" or a loopback IP.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Reason classes of Event.Reason (and of the reason label of
// patchnet_announcements_total and patchnet_cosignatures_total), beside
// the ones reasonOf derives from errors.
const (
	reasonNone        = "none"             // accepted, co-signed: nothing to explain
	reasonAwaitingCRL = "awaiting-crl"     // pending: co-signatures wait for a current CRL of their CA
	reasonRedundant   = "redundant-copies" // a peer kept sending copies that add nothing
	reasonOther       = "other"            // no sentinel error says why (I/O, a bug)
)

// reasonClasses map the sentinel errors of trust, origin and context to a
// reason class, most specific first: every trust sentinel also matches
// trust.ErrUntrusted, which comes last.
var reasonClasses = []struct {
	err   error
	class string
}{
	{trust.ErrRollback, "rollback"},
	{trust.ErrEquivocation, "equivocation"},
	{trust.ErrInsufficientSigners, "insufficient-signers"},
	{trust.ErrRevoked, "revoked"},
	{trust.ErrExpired, "expired"},
	{trust.ErrNotYetValid, "not-yet-valid"},
	{trust.ErrStaleCRL, "stale-crl"},
	{trust.ErrWrongZone, "wrong-zone"},
	{trust.ErrWrongRole, "wrong-role"},
	{trust.ErrUnknownRoot, "unknown-root"},
	{trust.ErrUnknownIssuer, "unknown-issuer"},
	{trust.ErrUnknownSigner, "unknown-signer"},
	{trust.ErrPeerIDMismatch, "peer-id-mismatch"},
	{trust.ErrBadSignature, "bad-signature"},
	{trust.ErrDigestMismatch, "digest-mismatch"},
	{trust.ErrMalformed, "malformed"},
	{trust.ErrOversized, "oversized"},
	{trust.ErrTooManySignatures, "too-many-signatures"},
	{trust.ErrChainTooLong, "chain-too-long"},
	{ErrUnknownUpdate, "unknown-update"},
	{ErrReportRateLimited, "rate-limited"},
	{origin.ErrOutsideOrigins, "outside-origins"},
	{origin.ErrUnsigned, "vendor-unsigned"},
	{origin.ErrUnpinnedKey, "vendor-key-unpinned"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "cancelled"},
	{trust.ErrUntrusted, "untrusted"},
}

// reasonOf classifies err in one stable word for metrics and logs: a
// bounded set of values, unlike the error's text.
func reasonOf(err error) string {
	if err == nil {
		return reasonNone
	}
	for _, c := range reasonClasses {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return reasonOther
}

// pendingReason classifies why acc waits: co-signatures that do not count
// yet for want of a current CRL, or too few co-signatures.
func pendingReason(acc *updates.Accepted, policy updates.Policy) string {
	if len(countedCoSigners(acc, policy)) < len(acc.Supernodes) {
		return reasonAwaitingCRL
	}
	return reasonOf(trust.ErrInsufficientSigners)
}

// publishedAt is when a was published, for delay metrics: its modified
// time (this version's), else its published time; zero if neither is set.
func publishedAt(a *updates.Announcement) time.Time {
	if !a.Modified.IsZero() {
		return a.Modified
	}
	return a.Published
}

// sourceBytes splits a fetch's bytes by source: the providers' share came
// from peers, the rest from the vendor when it contributed, else from this
// node's own block store.
func sourceBytes(res content.Result) map[string]int64 {
	var peers int64
	for _, p := range res.Providers {
		peers += p.Bytes
	}
	out := map[string]int64{}
	if peers > 0 {
		out[string(content.SourcePeers)] = peers
	}
	if rest := res.Bytes - peers; rest > 0 {
		src := content.SourceLocal
		if slices.Contains(res.Sources, content.SourceVendor) {
			src = content.SourceVendor
		}
		out[string(src)] = rest
	}
	return out
}

// delayBuckets are the buckets of the publication delay histograms, in
// seconds: 1s to about 12 days by factors of 4, so rollouts spread over
// days and maintenance windows still land in a bucket.
var delayBuckets = prometheus.ExponentialBuckets(1, 4, 11)

// fetchBuckets are patchnet_fetch_seconds' buckets: 0.1 s (a small
// artifact from a seed next door) to about 29 hours (a large one
// trickling in), in factors of 4.
var fetchBuckets = prometheus.ExponentialBuckets(0.1, 4, 10)

// installOutcomes are the final lifecycle states, the outcome label of
// patchnet_installs_total; each is exported from start at zero.
var installOutcomes = []State{StateInstalled, StateFailed, StateRefused, StateNotApplied, StateSuperseded, StateWithdrawn}

// announcementVerdicts are the events that are an agent's verdict on an
// announcement, with the verdict label each is counted under.
var announcementVerdicts = map[EventKind]string{
	EventAccepted: "accepted", EventPending: "pending", EventRejected: "rejected", EventQuarantined: "quarantined",
	EventConflictingCoSignature: "conflicting",
}

// metrics is a node's Prometheus registry and endpoint. Counters and
// histograms are derived from the node's events (observe); gauges and the
// overlay's counters are read at scrape time (nodeCollector). Each node
// has its own registry, so many nodes run in one process (the lab).
type metrics struct {
	reg           *prometheus.Registry
	announcements *prometheus.CounterVec // verdict, reason
	cosignatures  *prometheus.CounterVec // outcome, reason
	installs      *prometheus.CounterVec // outcome
	fetched       *prometheus.CounterVec // source
	events        *prometheus.CounterVec // kind
	acceptDelay   prometheus.Histogram
	installDelay  prometheus.Histogram
	fetchTime     prometheus.Histogram

	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when the server stopped serving
}

// newMetrics registers n's metrics in a registry of their own.
func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		announcements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchnet_announcements_total",
			Help: "Verdicts of this agent's acceptance on announcements (accepted, pending, rejected, quarantined), by reason class."},
			[]string{"verdict", "reason"}),
		cosignatures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchnet_cosignatures_total",
			Help: "Co-signatures this supernode made or refused, by reason class."}, []string{"outcome", "reason"}),
		installs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchnet_installs_total",
			Help: "Accepted updates that reached a final state on this agent, by outcome."}, []string{"outcome"}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchnet_fetched_bytes_total",
			Help: "Artifact bytes fetched and verified, by source (peers, vendor, local)."}, []string{"source"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchnet_events_total",
			Help: "Events of this node (as in its status), by kind."}, []string{"kind"}),
		acceptDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "patchnet_publication_to_acceptance_seconds",
			Help: "Seconds from an announcement's publication (its modified time) to its acceptance here.", Buckets: delayBuckets}),
		installDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "patchnet_publication_to_install_seconds",
			Help: "Seconds from an announcement's publication (its modified time) to its install here.", Buckets: delayBuckets}),
		fetchTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "patchnet_fetch_seconds",
			Help: "Seconds an agent's artifact fetch took, from its first request to the verified artifact.", Buckets: fetchBuckets}),
	}
	for _, s := range installOutcomes {
		m.installs.WithLabelValues(string(s))
	}
	for _, src := range []content.Source{content.SourcePeers, content.SourceVendor} {
		m.fetched.WithLabelValues(string(src))
	}
	m.reg.MustRegister(m.announcements, m.cosignatures, m.installs, m.fetched, m.events, m.acceptDelay, m.installDelay, m.fetchTime,
		&nodeCollector{n: n},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one event. A nil m (metrics off) counts nothing.
func (m *metrics) observe(e Event) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(string(e.Kind)).Inc()
	reason := e.Reason
	if reason == "" {
		reason = reasonNone
	}
	if verdict, ok := announcementVerdicts[e.Kind]; ok {
		m.announcements.WithLabelValues(verdict, reason).Inc()
	}
	switch e.Kind {
	case EventCoSigned:
		m.cosignatures.WithLabelValues("made", reason).Inc()
	case EventRefused:
		m.cosignatures.WithLabelValues("refused", reason).Inc()
	case EventFetched:
		for src, b := range e.SourceBytes {
			m.fetched.WithLabelValues(src).Add(float64(b))
		}
		if e.Took > 0 {
			m.fetchTime.Observe(e.Took.Seconds())
		}
	case EventAccepted:
		observeDelay(m.acceptDelay, e)
	}
	if e.State.Final() {
		m.installs.WithLabelValues(string(e.State)).Inc()
		if e.State == StateInstalled {
			observeDelay(m.installDelay, e)
		}
	}
}

// observeDelay records the time from e's publication to e, if known; a
// publisher's clock ahead of this node's counts as no delay.
func observeDelay(h prometheus.Histogram, e Event) {
	if e.Published.IsZero() || e.At.IsZero() {
		return
	}
	h.Observe(max(e.At.Sub(e.Published), 0).Seconds())
}

// startMetrics starts the metrics endpoint, if [metrics] listen is set.
func (n *Node) startMetrics() error {
	m := n.metrics
	if m == nil {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("listening for metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: promLogger{n}, ErrorHandling: promhttp.ContinueOnError, Registry: m.reg,
		MaxRequestsInFlight: MetricsMaxInFlight, Timeout: MetricsScrapeTimeout,
	}))
	m.ln, m.done = ln, make(chan struct{})
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: MetricsReadTimeout, ReadTimeout: MetricsReadTimeout,
		WriteTimeout: MetricsScrapeTimeout + MetricsReadTimeout, IdleTimeout: MetricsIdleTimeout,
		MaxHeaderBytes: MetricsMaxHeaderBytes}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("serving metrics", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// close stops the endpoint and waits for it.
func (m *metrics) close() error {
	if m == nil || m.srv == nil {
		return nil
	}
	err := m.srv.Close()
	<-m.done
	if err != nil {
		return fmt.Errorf("closing metrics endpoint: %w", err)
	}
	return nil
}

// MetricsAddr is the address the metrics endpoint listens on (host:port,
// with the port bound when [metrics] listen asked for port 0), or "" when
// [metrics] listen is not set.
func (n *Node) MetricsAddr() string {
	if n.metrics == nil || n.metrics.ln == nil {
		return ""
	}
	return n.metrics.ln.Addr().String()
}

// promLogger passes promhttp's errors (a collector failing, a scrape that
// could not be written) to the node's log.
type promLogger struct{ n *Node }

// Println logs v as a warning.
func (l promLogger) Println(v ...any) { l.n.log.Warn("serving metrics", "err", fmt.Sprint(v...)) }

// Descriptions of the metrics nodeCollector reads at scrape time.
var (
	descInfo = prometheus.NewDesc("patchnet_node_info", "This node: its zone, roles and peer ID (always 1).",
		[]string{"zone", "roles", "peer_id"}, nil)
	descPeers         = prometheus.NewDesc("patchnet_peers_connected", "Peers connected now.", nil, nil)
	descPeersVerified = prometheus.NewDesc("patchnet_peers_verified",
		"Connected peers whose certificate chain passed admission.", nil, nil)
	descMesh = prometheus.NewDesc("patchnet_mesh_peers",
		"Peers in this node's gossip mesh, by topic (announce, crl, supernodes).", []string{"topic"}, nil)
	descTopicPeers = prometheus.NewDesc("patchnet_topic_peers",
		"Connected peers subscribed to each of this node's topics.", []string{"topic"}, nil)
	descGossip = prometheus.NewDesc("patchnet_gossip_messages_total",
		"Gossip messages by what became of them: delivered (gossip and catch-up), rejected or ignored by the validator, "+
			"dropped as duplicate, queue-full, throttled, bad-signature or undeliverable.", []string{"result"}, nil)
	descCatchUp = prometheus.NewDesc("patchnet_catchup_items_total",
		"Catch-up items the validator accepted or dropped.", []string{"result"}, nil)
	descAdmissions = prometheus.NewDesc("patchnet_admissions_total",
		"Admission exchanges by result (verified, failed), and busy retries.", []string{"result"}, nil)
	descSyncRefused = prometheus.NewDesc("patchnet_sync_refused_total",
		"Catch-up requests this node refused to serve (busy, repeated, or not admitted).", nil, nil)
	descGraylisted = prometheus.NewDesc("patchnet_peers_graylisted_total",
		"Peers disconnected and kept out for a while because their gossip score fell below the graylist threshold.", nil, nil)
	descCRLAge = prometheus.NewDesc("patchnet_crl_age_seconds",
		"Seconds since the thisUpdate of the CRL held from each issuer.", []string{"issuer"}, nil)
	descCRLNext = prometheus.NewDesc("patchnet_crl_next_update_seconds",
		"Seconds until the nextUpdate of the CRL held from each issuer (negative: expired, signatures it covers no longer count).",
		[]string{"issuer"}, nil)
	descCRLRevoked = prometheus.NewDesc("patchnet_crl_revoked",
		"Certificates revoked by the CRL held from each issuer.", []string{"issuer"}, nil)
	descReportsWaiting = prometheus.NewDesc("patchnet_install_reports_waiting",
		"Install reports this agent keeps until a supernode takes them.", nil, nil)
)

// nodeCollector reads the node's overlay and verifier at scrape time.
type nodeCollector struct{ n *Node }

// Describe sends every description of the collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descPeers, descPeersVerified, descMesh, descTopicPeers, descGossip,
		descCatchUp, descAdmissions, descSyncRefused, descGraylisted, descCRLAge, descCRLNext, descCRLRevoked, descReportsWaiting} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descInfo, 1, n.cfg.Zone, n.RoleText(), n.ID().String())
	if ov := n.ov; ov != nil {
		gauge(descPeers, float64(len(ov.Host().Network().Peers())))
		verified := 0
		for _, p := range ov.Peers() {
			if p.Verified {
				verified++
			}
		}
		gauge(descPeersVerified, float64(verified))
		for _, t := range n.subscribedTopics() {
			gauge(descMesh, float64(len(ov.MeshPeers(t.name))), t.label)
			gauge(descTopicPeers, float64(len(ov.TopicPeers(t.name))), t.label)
		}
		s := ov.Stats()
		for _, r := range []struct {
			result string
			v      uint64
		}{
			{"delivered", s.Delivered}, {"rejected", s.Rejected}, {"ignored", s.Ignored}, {"duplicate", s.Duplicates},
			{"queue-full", s.QueueFull}, {"throttled", s.Throttled}, {"bad-signature", s.BadSignature},
			{"undeliverable", s.Undeliverable},
		} {
			counter(descGossip, r.v, r.result)
		}
		counter(descCatchUp, s.CatchUpAccepted, "accepted")
		counter(descCatchUp, s.CatchUpDropped, "dropped")
		counter(descAdmissions, s.AuthVerified, "verified")
		counter(descAdmissions, s.AuthFailed, "failed")
		counter(descAdmissions, s.AuthBusyRetries, "busy-retry")
		counter(descSyncRefused, s.SyncRefused)
		counter(descGraylisted, s.Graylisted)
	}
	if n.cfg.Report.Enabled && n.agent != nil {
		gauge(descReportsWaiting, float64(n.ReportsWaiting()))
	}
	if n.verifier != nil {
		now := n.verifier.Now()
		for _, st := range n.verifier.CRLStatuses() {
			gauge(descCRLAge, now.Sub(st.ThisUpdate).Seconds(), st.Issuer)
			if !st.NextUpdate.IsZero() {
				gauge(descCRLNext, st.NextUpdate.Sub(now).Seconds(), st.Issuer)
			}
			gauge(descCRLRevoked, float64(st.Revoked), st.Issuer)
		}
	}
}

// topic is one of the node's topics with its metric label.
type topic struct{ label, name string }

// subscribedTopics are the topics the node subscribes to.
func (n *Node) subscribedTopics() []topic {
	out := []topic{{"announce", n.topics.announce}, {"crl", n.topics.crl}}
	if n.IsSupernode() {
		out = append(out, topic{"supernodes", n.topics.supernodes})
	}
	return out
}
