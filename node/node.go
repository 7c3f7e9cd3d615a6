package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
	"github.com/patchnet/patchnet/updates/origin"
)

// Node is one patchnet node: an agent, a supernode, a publisher, or several
// of these at once, as its certificate says.
type Node struct {
	fetches    fetchProgress            // artifact fetches in flight, for status
	lastPrune  atomic.Pointer[APIPrune] // the block store's last prune, for status
	cosigners  coSigners                // co-signers heard per artifact: the fetches' seeds
	cfg        Config
	creds      *trust.Credentials
	self       trust.Identity
	zone       trust.Zone     // the zone's name under the root this node's own chain ends at
	topics     topics         // the zone's topic names
	policy     updates.Policy // acceptance: zone, k, publishers, CRLs required
	verifier   *trust.Verifier
	db         *badger.DB
	notifier   updates.Notifier // nil: no channels configured
	ov         *overlay.Overlay
	content    *content.Service
	blocks     *content.DiskStore
	merge      *mergeBuffer
	conflicts  *conflictSet // conflicting co-signed payloads held, equivocators caught (agents)
	redundancy *peerBudget  // per-peer budget of copies that add nothing
	beats      *heartbeats  // the supernodes' newest heartbeats and the agent's alarms
	alarms     *alarms      // what people were told through [notify] (alerts.go)
	events     *events
	// stepMu makes a lifecycle transition and its event one change for
	// readers: a step holds it across both, a status snapshot while it
	// reads records and events, so a record's final state never shows
	// without the event that moved it there (a test or collector waiting
	// on the state then reads the event's time).
	stepMu  sync.RWMutex
	log     *slog.Logger
	metrics *metrics   // nil unless [metrics] listen is set
	api     *apiServer // the local API (api.go)

	// The roles' parts, each holding only its role's state; nil on a node
	// whose certificate lacks the role. Publishing and relaying CRLs need
	// no state of their own.
	agent    *agentPart
	cosigner *cosignerPart

	runCtx  context.Context // Run's context, for work started by handlers
	subs    []*overlay.Subscription
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

// agentPart is what only an agent holds: the rollback floor and
// acceptance, the lifecycle of accepted updates, and the install workflow
// with its queue and waiting handlers.
type agentPart struct {
	seen     *updates.BadgerSeenStore
	acceptor *updates.Acceptor
	respond  *updates.RespondPolicy
	life     *lifecycle
	installs Installer
	reports  *reportOutbox // install reports no supernode took yet
	flow     *Workflow
	handlers *inflight
	queue    chan *updates.Accepted
}

// cosignerPart is what only a supernode holds: what it co-signed, and the
// origin checker of each publisher it vouches for.
type cosignerPart struct {
	records  *cosignStore
	checkers map[string]*origin.Checker
	// The direct protocols it serves: agents' install reports
	// (report.go) and publishers' status queries (refusal.go).
	reports       *reportStore
	reportSem     chan struct{}
	reportBudget  *peerBudget // per agent: see ReportRate
	reportStreams atomic.Uint64
	proposals     *proposalStates
	statusSem     chan struct{}
	// gather decides when co-signed payloads are announced (gather.go).
	gather gathering
}

// New loads the node's credentials, pins its roots, opens its state and
// starts its overlay and content service, subscribed to the zone's announce
// topic (and, on supernodes, the supernodes' topic). Messages are processed
// once Run is called; the local API (STATE/patchnet.sock, api.go) answers
// from when New returns.
func New(ctx context.Context, cfg Config) (_ *Node, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, topics: zoneTopics(cfg.Zone), events: newEvents(cfg.OnEvent), redundancy: newRedundancy(),
		log: cfg.Logger, alarms: newAlarms(), conflicts: newConflictSet()}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics.Listen != "" {
		n.metrics = newMetrics(n)
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.api, err = listenAPI(cfg.State); err != nil { // first: a second node on this state stops here
		return nil, err
	}
	if err := n.loadTrust(); err != nil {
		return nil, err
	}
	n.merge = newMergeBuffer(n.verifier.Now, n.zone)
	n.merge.distrusted = n.conflicts.isDistrusted
	n.beats = newHeartbeats(n.verifier.Now())
	if err := n.openState(ctx); err != nil {
		return nil, err
	}
	if err := n.startOverlay(ctx); err != nil {
		return nil, err
	}
	if err := n.subscribe(); err != nil {
		return nil, err
	}
	n.serveDirect()
	if err := n.startMetrics(); err != nil {
		return nil, err
	}
	n.api.serve(n)
	return n, nil
}

// loadTrust reads the credentials and pins the roots, learns the node's own
// zone CA from its chain, loads CRLs and verifies the node's own chain, so a
// misissued or expired certificate stops the node at start.
func (n *Node) loadTrust() error {
	creds, err := trust.LoadCredentials(n.cfg.Key, n.cfg.Cert)
	if err != nil {
		return err // trust.LoadCredentials says "loading credentials"
	}
	n.creds = creds
	vc := trust.DefaultVerifierConfig()
	for _, path := range n.cfg.Roots {
		certs, err := trust.ReadCertificatesFile(path)
		if err != nil {
			return fmt.Errorf("reading roots: %w", err)
		}
		vc.Roots = append(vc.Roots, certs...)
	}
	if n.verifier, err = trust.NewVerifier(vc); err != nil {
		return fmt.Errorf("pinning roots: %w", err)
	}
	if err := n.verifier.AddIntermediates(creds.Chain[1:]...); err != nil {
		return fmt.Errorf("verifying own zone CA: %w", err)
	}
	for _, path := range n.cfg.CRL {
		der, err := trust.ReadCRLFile(path)
		if err == nil {
			_, err = n.verifier.AddCRL(der)
		}
		if err != nil {
			return fmt.Errorf("loading CRL %s: %w", path, err)
		}
	}
	if n.self, err = n.verifier.VerifyChain(creds.Chain[0], creds.Chain[1:]); err != nil {
		return fmt.Errorf("verifying own certificate %s: %w", n.cfg.Cert, err)
	}
	if n.self.Zone != n.cfg.Zone {
		return fmt.Errorf("config: zone %q: the certificate %s is for zone %q", n.cfg.Zone, n.cfg.Cert, n.self.Zone)
	}
	// The zone is this node's own: its name under the root its certificate
	// chains to. A partner's zone of the same name under another pinned
	// root can relay here, never publish, co-sign or count.
	n.zone = n.self.ZoneRef()
	n.policy = n.cfg.policy(n.zone)
	return nil
}

// openState opens the badger database, the notification channels, the
// block store and the state of each role the certificate carries.
func (n *Node) openState(ctx context.Context) error {
	db, err := openDB(n.cfg)
	if err != nil {
		return err
	}
	n.db = db
	if n.notifier, err = n.cfg.Notify.Notifier(); err != nil {
		return err
	}
	if n.blocks, err = content.OpenDiskStore(filepath.Join(n.cfg.State, "blocks")); err != nil {
		return fmt.Errorf("opening block store: %w", err)
	}
	if n.IsSupernode() {
		if n.cosigner, err = n.openCosigner(); err != nil {
			return err
		}
	}
	if n.IsAgent() {
		if n.agent, err = n.openAgent(ctx); err != nil {
			return err
		}
	}
	return nil
}

// openAgent opens an agent's part: the seen versions and the acceptor over
// them, the respond policy, the lifecycle records, the installer and the
// workflow.
func (n *Node) openAgent(ctx context.Context) (*agentPart, error) {
	a := &agentPart{seen: updates.NewBadgerSeenStore(n.db), life: newLifecycle(n.db, n.verifier.Now),
		handlers: newInflight(), queue: make(chan *updates.Accepted, InstallQueue)}
	var err error
	if a.acceptor, err = updates.NewAcceptor(n.verifier, n.policy, a.seen); err != nil {
		return nil, err
	}
	if a.respond, err = updates.NewRespondPolicy(n.cfg.Respond); err != nil {
		return nil, err
	}
	if a.installs, err = n.openInstaller(ctx); err != nil {
		return nil, err
	}
	var dropped int
	if a.reports, dropped, err = openReportOutbox(n.db, n.cfg.Report.Enabled); err != nil {
		return nil, err
	}
	if dropped > 0 {
		n.log.Info("install reports discarded unsent: [report] enabled is false", "reports", dropped)
	}
	n.agent = a // the workflow's hooks reach it through n
	a.flow = n.newWorkflow()
	return a, nil
}

// openInstaller opens the agent's installer: Config.Installer's, or the
// journalled install.Manager of the sysroot, its binaries pinned.
func (n *Node) openInstaller(ctx context.Context) (Installer, error) {
	if n.cfg.Installer != nil {
		// Another installer runs no binary, so there is nothing to pin.
		in, err := n.cfg.Installer(n.cfg.State, n.cfg.Sysroot)
		if err != nil {
			return nil, fmt.Errorf("opening installer: %w", err)
		}
		return in, nil
	}
	if n.cfg.Install.RequireToolPins && len(n.cfg.Install.ToolPins) == 0 {
		return nil, errors.New("config: install.require_tool_pins is true but install.tool_pins is empty: pin this host's installers (`patchnet apply --pin-tools` prints them) or set require_tool_pins = false")
	}
	ic := n.cfg.Install.installConfig(n.cfg.State)
	ic.Root = n.cfg.Sysroot
	ic.OnAlert = n.onInstallAlert
	ic.Retention = n.cfg.Retention.Retention(n.cfg.State)
	ic.OnStep = func(tx *install.Transaction) {
		if tx.Kind == install.KindPrune && tx.State == install.StateCommitted {
			n.log.Info("pruned kept files", "record", tx.ID, "outcome", tx.Outcome())
		}
	}
	m, recovered, err := install.Open(ctx, ic)
	if err != nil {
		return nil, fmt.Errorf("opening install journal: %w", err)
	}
	for _, tx := range recovered {
		n.log.Warn("recovered interrupted transaction", "tx", tx.ID, "outcome", tx.Outcome())
	}
	return m, nil
}

// startOverlay replays the CRLs kept for catch-up into the verifier, then
// starts libp2p with this node's validator and authenticator, and the
// content service on its host and DHT.
func (n *Node) startOverlay(ctx context.Context) error {
	var store overlay.ItemStore = overlay.NewMemoryStore(overlay.DefaultKeep())
	if !n.cfg.InMemory {
		bs, err := overlay.NewBadgerStore(n.db, []byte("o/"), overlay.DefaultKeep())
		if err != nil {
			return fmt.Errorf("opening catch-up store: %w", err)
		}
		store = bs
	}
	if err := n.replayCRLs(store); err != nil {
		return err
	}
	ocfg := n.cfg.Overlay
	// Supernodes and publishers flood-publish: what they send must reach
	// every peer at once, not only a mesh that may still be forming.
	ocfg.Supernode = n.IsSupernode() || n.IsPublisher()
	deps := overlay.Deps{Validator: n, Authenticator: overlay.AuthenticatorFunc(n.verifier.VerifyPeer),
		Chain: n.creds.ChainDER(), Store: store, Logger: n.log, MessageID: messageID, OnBootstrap: n.onBootstrap,
		HostOptions: n.cfg.HostOptions}
	var err error
	if n.ov, err = overlay.New(ctx, n.creds.Key, ocfg, deps); err != nil {
		return fmt.Errorf("starting overlay: %w", err)
	}
	n.logConnections()
	n.watchBootstrap()
	cc, err := n.cfg.contentConfig()
	if err != nil {
		return err
	}
	// A private zone serves artifact blocks only to peers that passed
	// admission; a public zone's artifacts are public anyway.
	cc.Admitted = n.ov.WaitAdmitted
	// A seed (a co-signing supernode) this agent is not connected to is
	// located by asking the zone's signers it is connected to.
	cc.LocateSeed = n.ov.LocatePeer
	if !n.IsPublisher() {
		// The budget bounds what the vendor's side serves. A supernode's
		// seed is the zone's own capacity: budgeting it too left four
		// copies for a whole zone and every other agent waiting on DHT
		// records of the first copy holders.
		cc.SeedServeCopies = 0
	}
	var router routing.ContentRouting
	if d := n.ov.DHT(); d != nil {
		router = d
	}
	if n.content, err = content.New(n.ov.Host(), router, n.blocks, cc); err != nil {
		return fmt.Errorf("starting content service: %w", err)
	}
	n.keepCRLs()
	return nil
}

// subscribe joins the CRL topic, then the announce topic (which starts
// catch-up, whose CRLs are delivered on the CRL topic) and, on supernodes
// and publishers, the supernodes' topic: a publisher hears the
// co-signatures there as they come (supernodes announce to the agents only
// once k are together) and relays them between supernodes it links.
func (n *Node) subscribe() error {
	for _, t := range []struct{ topic, what string }{{n.ov.CRLTopic(), "CRLs"}, {n.ov.AnnounceTopic(), "announcements"}, {n.ov.HeartbeatTopic(), "heartbeats"}} {
		s, err := n.ov.Subscribe(t.topic)
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", t.what, err)
		}
		n.subs = append(n.subs, s)
	}
	if n.IsSupernode() || n.IsPublisher() {
		s, err := n.ov.Subscribe(n.ov.SupernodesTopic())
		if err != nil {
			return fmt.Errorf("subscribing to the supernodes' topic: %w", err)
		}
		n.subs = append(n.subs, s)
	}
	return nil
}

// serveDirect registers the stream protocols a supernode answers beside
// gossip: install reports (report.go) and co-signing status (refusal.go).
func (n *Node) serveDirect() {
	if n.cosigner == nil {
		return
	}
	n.ov.Host().SetStreamHandler(ReportProtocol, n.handleReport)
	n.ov.Host().SetStreamHandler(CoSignStatusProtocol, n.handleCoSignStatus)
}

// Run processes announcements until ctx ends or the node is closed.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.runCtx = ctx
	n.logStart()
	var wg sync.WaitGroup
	for _, s := range n.subs {
		wg.Go(func() { n.readLoop(ctx, s) })
	}
	if n.IsAgent() {
		wg.Go(func() { n.installLoop(ctx) })
		n.requeuePending()
		if n.cfg.Report.Enabled {
			wg.Go(func() { n.reportLoop(ctx) })
		}
	}
	wg.Go(func() { n.content.Run(ctx) })
	wg.Go(func() { n.compactLoop(ctx) })
	wg.Go(func() { n.pruneLoop(ctx) })
	if n.agent != nil || n.cosigner != nil {
		wg.Go(func() { n.heartbeatLoop(ctx) })
	}
	<-ctx.Done()
	for _, s := range n.subs {
		s.Close()
	}
	wg.Wait()
	n.wg.Wait()
	return nil
}

// readLoop hands each validated message of one subscription to its handler.
func (n *Node) readLoop(ctx context.Context, s *overlay.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-s.Messages():
			if !ok {
				return
			}
			switch s.Topic() {
			case n.topics.supernodes:
				n.onSupernodesMessage(ctx, m)
			case n.topics.crl:
				n.onCRL(m)
			case n.topics.heartbeat: // recorded by the validator
				n.onHeartbeat(m)
			default:
				n.onAnnouncement(m)
			}
		}
	}
}

// onSupernodesMessage keeps a co-signed envelope from the supernodes'
// topic for peers catching up — its announcement adds nothing here when it
// comes, so it is never kept from the announce topic — and hands it to a
// supernode as a proposal.
func (n *Node) onSupernodesMessage(ctx context.Context, m overlay.Message) {
	va, ok := m.Verified.(*verifiedAnnouncement)
	if !ok {
		return
	}
	if len(va.Accepted.Supernodes) > 0 {
		n.keep(va)
	}
	if n.cosigner != nil {
		n.onProposal(ctx, va)
	}
}

// Close stops the node and releases its state. Stop Run first (cancel its
// context) so no install is cut short.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	errs := []error{n.metrics.close()}
	if n.api != nil {
		errs = append(errs, n.api.close())
	}
	if n.content != nil {
		errs = append(errs, n.content.Close())
	}
	if n.ov != nil {
		errs = append(errs, n.ov.Close())
	}
	n.wg.Wait()
	if n.agent != nil && n.agent.installs != nil {
		errs = append(errs, n.agent.installs.Close())
	}
	if n.db != nil {
		errs = append(errs, n.db.Close())
	}
	return errors.Join(errs...)
}

// topics are the names of a zone's topics this node acts on.
type topics struct{ announce, crl, heartbeat, supernodes string }

func zoneTopics(zone string) topics {
	return topics{announce: overlay.AnnounceTopic(zone), crl: overlay.CRLTopic(zone), heartbeat: overlay.HeartbeatTopic(zone),
		supernodes: overlay.SupernodesTopic(zone)}
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.creds.PeerID }

// Identity is the node's own verified certificate identity.
func (n *Node) Identity() trust.Identity { return n.self }

// IsAgent reports whether the node installs updates (agent role).
func (n *Node) IsAgent() bool { return n.self.HasRole(trust.RoleAgent) }

// IsSupernode reports whether the node co-signs (supernode role).
func (n *Node) IsSupernode() bool { return n.self.HasRole(trust.RoleSupernode) }

// IsPublisher reports whether the node may author announcements.
func (n *Node) IsPublisher() bool { return n.self.HasRole(trust.RolePublisher) }

// Overlay is the node's overlay, for addresses and peers.
func (n *Node) Overlay() *overlay.Overlay { return n.ov }

// Installs is the agent's install manager (history, rollback); nil on nodes
// without the agent role, and on agents whose Config.Installer supplied an
// installer other than *install.Manager (it keeps no journal to show).
func (n *Node) Installs() *install.Manager {
	if n.agent == nil {
		return nil
	}
	m, _ := n.agent.installs.(*install.Manager)
	return m
}

// Alerts lists the equivocations this node quarantined (agents only).
func (n *Node) Alerts() ([]updates.Alert, error) {
	if n.agent == nil {
		return nil, nil
	}
	return n.agent.seen.Alerts()
}

// Status is a snapshot of what the node did.
func (n *Node) Status() Status {
	first, count, evs, tallied := n.events.snapshot()
	var roles []string
	for _, r := range n.self.Roles {
		roles = append(roles, string(r))
	}
	return Status{ID: n.ID(), Roles: roles, First: first, Count: count, Events: evs, Tallied: tallied, Conflicts: n.Conflicts()}
}

// RoleText is the node's roles joined for display ("agent", "supernode").
func (n *Node) RoleText() string { return strings.Join(n.Status().Roles, "+") }

// emit records an event of this node.
func (n *Node) emit(e Event) {
	e.Node = n.ID()
	if e.At.IsZero() {
		e.At = n.verifier.Now()
	}
	// Logged and counted before it shows in Status, so whoever waits on
	// the status finds it in the metrics too.
	n.logEvent(e)
	n.metrics.observe(e)
	n.events.add(e)
	n.alertOn(e)
}

// openCosigner opens a supernode's part: its co-signing records and the
// origin checker of every [cosign.publishers] entry, its origins parsed and
// its vendor keys loaded once.
func (n *Node) openCosigner() (*cosignerPart, error) {
	c := &cosignerPart{records: newCosignStore(n.db), checkers: map[string]*origin.Checker{},
		reportSem: make(chan struct{}, MaxConcurrentExchanges), reportBudget: newPeerBudget(ReportRate, ReportBurst, ReportBudgetPeers),
		proposals: newProposalStates(),
		statusSem: make(chan struct{}, MaxConcurrentExchanges)}
	var err error
	if c.reports, err = openReportStore(n.db); err != nil {
		return nil, err
	}
	for pub, p := range n.cfg.CoSign.Publishers {
		chk, err := origin.NewChecker(p, updates.FetchOptions{})
		if err != nil {
			return nil, fmt.Errorf("config: cosign.publishers.%q: %w", pub, err)
		}
		c.checkers[pub] = chk
	}
	if len(c.checkers) == 0 {
		n.log.Warn("no [cosign.publishers] entry: this supernode will refuse to co-sign anything")
	}
	return c, nil
}
