package nodelab

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
	"github.com/patchnet/patchnet/updates/origin"

	"golang.org/x/sync/errgroup"
)

// Options shape a lab zone.
type Options struct {
	// Dir holds everything (PKI, packages, node states, sandbox roots).
	// Required; the caller removes it.
	Dir string
	// Zone names the zone. Default "demo".
	Zone string
	// Root, when set, is an existing root CA's directory (another lab's
	// RootDir): the zone CA is made under it, so both labs' nodes pin the
	// same root, as two zones of one deployment do. Default: a root of
	// the lab's own.
	Root string
	// Agents, Supernodes and Threshold (k) size the zone. Defaults 8, 3, 2.
	Agents, Supernodes, Threshold int
	// OnEvent receives every node's events (must return quickly).
	OnEvent func(node.Event)
	// Configure, when set, adjusts each node's config before it starts.
	Configure func(name string, cfg *node.Config)
	// ReadyTimeout bounds the wait for the zone's gossip meshes. Default 30s.
	ReadyTimeout time.Duration
	// FakeInstaller gives every agent a RecordingInstaller instead of the
	// real, journalled install.Manager, so the zone runs without dpkg and
	// dpkg-query: the old package is written into each sandbox's dpkg
	// status directly, installs are recorded (Member.Installed) and written
	// there too, and no installer binary is pinned or run. The .debs are
	// still built by dpkg-deb when it is on PATH, else by writeDeb. The
	// demo leaves it false: it shows real dpkg installs.
	FakeInstaller bool
	// ArtifactBytes pads NewVersion's .deb with about this many bytes of
	// filler (0: none), for content-distribution runs. Default 0.
	ArtifactBytes int
	// Progress, when set, is told how many nodes started ("starting") and,
	// while New waits for the zone to connect, how many have a gossip mesh
	// on the announce topic ("meshed"); testnet/sim shows it.
	Progress func(stage string, done, total int)
}

func (o *Options) defaults() {
	if o.Zone == "" {
		o.Zone = "demo"
	}
	if o.Agents == 0 {
		o.Agents = 8
	}
	if o.Supernodes == 0 {
		o.Supernodes = 3
	}
	if o.Threshold == 0 {
		o.Threshold = 2
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
}

// Lab is a running zone.
type Lab struct {
	Options
	RootCert   string
	Debs       map[string]string // version → .deb path
	debs       map[[32]byte]Deb  // SHA-256 → what each .deb installs, for RecordingInstallers
	Publisher  *Member
	Supernodes []*Member
	Agents     []*Member
	vendor     *vendor
	pki        *pki
	toolPins   map[string]string // this host's installers, pinned as `patchnet apply --pin-tools` prints them
	started    atomic.Int64      // nodes started, for Progress
	runCtx     context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// New builds the zone's files, starts every node and waits until the
// gossip meshes connect them.
func New(ctx context.Context, o Options) (_ *Lab, err error) {
	o.defaults()
	if o.Dir == "" {
		return nil, errors.New("nodelab: Options.Dir is required")
	}
	l := &Lab{Options: o, Debs: map[string]string{}, debs: map[[32]byte]Deb{}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.pki, err = newPKI(o.Dir, o.Zone, o.Root); err != nil {
		return nil, err
	}
	l.RootCert = l.pki.rootCert()
	if !o.FakeInstaller { // a RecordingInstaller runs no binary to pin
		if l.toolPins, err = install.PinTools(install.Tools{}); err != nil {
			return nil, fmt.Errorf("pinning this host's installers: %w", err)
		}
	}
	// The .debs come from dpkg-deb wherever it is, so the artifacts are
	// what a vendor ships; writeDeb stands in only for a RecordingInstaller
	// on a host without it (the recorder needs only their digests).
	_, lookErr := exec.LookPath("dpkg-deb")
	withDpkgDeb := !o.FakeInstaller || lookErr == nil
	for _, v := range []string{OldVersion, NewVersion} {
		d := labDeb(v)
		if v == NewVersion {
			d.Padding = o.ArtifactBytes
		}
		if l.Debs[v], err = buildDeb(ctx, filepath.Join(o.Dir, "packages"), d, withDpkgDeb); err != nil {
			return nil, err
		}
		sum, _, err := DigestFile(l.Debs[v])
		if err != nil {
			return nil, err
		}
		l.debs[sum] = d
	}
	if l.vendor, err = startVendor(l.Debs[NewVersion], filepath.Join(o.Dir, "vendor")); err != nil {
		return nil, fmt.Errorf("starting the vendor server: %w", err)
	}
	if err := l.prepareAgents(ctx); err != nil {
		return nil, err
	}
	l.runCtx, l.cancel = context.WithCancel(context.Background())
	if err := l.startAll(ctx, l.runCtx); err != nil {
		return nil, err
	}
	return l, l.waitReady(ctx)
}

// prepareAgents issues every certificate and gives each agent a sandbox
// root with OldVersion installed (several at once).
func (l *Lab) prepareAgents(ctx context.Context) error {
	l.Publisher = &Member{Name: "publisher"}
	for i := range l.Options.Supernodes {
		l.Supernodes = append(l.Supernodes, &Member{Name: fmt.Sprintf("supernode-%d", i+1)})
	}
	for i := range l.Options.Agents {
		l.Agents = append(l.Agents, &Member{Name: fmt.Sprintf("agent-%02d", i+1)})
	}
	issue := func(m *Member, role trust.Role) error {
		m.Dir = filepath.Join(l.Dir, "nodes", m.Name)
		var err error
		m.KeyPath, m.CrtPath, err = l.pki.issue(m.Dir, l.Zone, role)
		return err
	}
	if err := issue(l.Publisher, trust.RolePublisher); err != nil {
		return err
	}
	for _, m := range l.Supernodes {
		if err := issue(m, trust.RoleSupernode); err != nil {
			return err
		}
	}
	for _, m := range l.Agents {
		if err := issue(m, trust.RoleAgent); err != nil {
			return err
		}
	}
	return l.sandboxes(ctx)
}

// sandboxes installs OldVersion into each agent's root, a few at a time.
func (l *Lab) sandboxes(ctx context.Context) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, len(l.Agents))
	var wg sync.WaitGroup
	for i, m := range l.Agents {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = l.sandbox(ctx, m)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sandbox gives agent m a Debian 12 root with OldVersion installed by the
// installer its node opens later: dpkg through a journal in m's state
// directory, or m's new Recorder with FakeInstaller.
func (l *Lab) sandbox(ctx context.Context, m *Member) error {
	m.Sysroot = filepath.Join(m.Dir, "root")
	state := filepath.Join(m.Dir, "state")
	if err := makeSandbox(m.Sysroot); err != nil {
		return err
	}
	var in node.Installer
	if l.FakeInstaller {
		r, err := NewRecordingInstaller(state, m.Sysroot, l.debs)
		if err != nil {
			return err
		}
		m.Recorder, in = r, r
	} else {
		cfg := install.DefaultConfig(state)
		cfg.Root = m.Sysroot
		mgr, _, err := install.Open(ctx, cfg)
		if err != nil {
			return err
		}
		in = mgr
	}
	err := installOld(ctx, in, l.Debs[OldVersion])
	if cerr := in.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("installing %s %s into %s: %w", PackageName, OldVersion, m.Name, err)
	}
	return nil
}

// AddAgent issues a certificate for one more agent, gives it a sandbox root
// with OldVersion, and starts it bootstrapping to the publisher: an agent
// that was offline while updates went out, and must catch up.
func (l *Lab) AddAgent(ctx context.Context) (*Member, error) {
	m := &Member{Name: fmt.Sprintf("agent-%02d", len(l.Agents)+1)}
	if err := l.add(ctx, m, trust.RoleAgent); err != nil {
		return nil, err
	}
	l.Agents = append(l.Agents, m)
	return m, nil
}

// AddSupernode starts one more supernode bootstrapping to the publisher
// and the other supernodes: one that was offline when an announcement was
// proposed.
func (l *Lab) AddSupernode(ctx context.Context) (*Member, error) {
	m := &Member{Name: fmt.Sprintf("supernode-%d", len(l.Supernodes)+1)}
	if err := l.add(ctx, m, trust.RoleSupernode); err != nil {
		return nil, err
	}
	l.Supernodes = append(l.Supernodes, m)
	return m, nil
}

func (l *Lab) add(ctx context.Context, m *Member, role trust.Role) error {
	m.Dir = filepath.Join(l.Dir, "nodes", m.Name)
	var err error
	if m.KeyPath, m.CrtPath, err = l.pki.issue(m.Dir, l.Zone, role); err != nil {
		return err
	}
	if role == trust.RoleAgent {
		if err := l.sandbox(ctx, m); err != nil {
			return err
		}
	}
	return l.start(ctx, l.runCtx, m, l.bootstrapOf(m))
}

// bootstrapOf is m's bootstrap peers: the publisher, and for a supernode
// every other supernode started (as a zone's supernodes list each other):
// co-signatures go from supernode to supernode on their topic before any
// is announced, and only subscribers relay it.
func (l *Lab) bootstrapOf(m *Member) []string {
	boot := l.Publisher.BootstrapAddrs()
	if !strings.HasPrefix(m.Name, "supernode-") {
		return boot
	}
	for _, s := range l.Supernodes {
		if s != m && s.Node != nil {
			boot = append(boot, s.BootstrapAddrs()...)
		}
	}
	return boot
}

// config is the node config of m.
func (l *Lab) config(m *Member, bootstrap []string) node.Config {
	cfg := node.DefaultConfig()
	cfg.State = filepath.Join(m.Dir, "state")
	cfg.InMemory = true
	cfg.Key, cfg.Cert = m.KeyPath, m.CrtPath
	cfg.Roots = []string{l.RootCert}
	cfg.CRL = l.pki.crls()
	cfg.Zone = l.Zone
	cfg.Install.ToolPins = l.toolPins
	// Supernodes check the lab publisher's artifacts at the vendor's origin
	// only, signed by the vendor's key.
	cfg.CoSign.Publishers = map[string]origin.Policy{"*": {Origins: []string{l.vendor.origin}, Keys: []string{l.vendor.key}}}
	cfg.Threshold = l.Threshold
	if m.Sysroot != "" {
		cfg.Sysroot = m.Sysroot
	}
	if rec := m.Recorder; rec != nil {
		// The same recorder at every start: what it recorded survives a
		// Restart, as the real journal on disk does.
		cfg.Installer = func(_, sysroot string) (node.Installer, error) {
			if filepath.Clean(sysroot) != rec.sysroot {
				return nil, fmt.Errorf("nodelab: %s's recorder installs into %s, not %s", m.Name, rec.sysroot, sysroot)
			}
			return rec, nil
		}
	}
	cfg.Overlay.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Overlay.BootstrapPeers = bootstrap
	cfg.Overlay.BootstrapInterval = node.Duration(time.Second)
	cfg.Overlay.Resources.MaxMemory = overlay.MinResourceMemory * 2
	cfg.Content.ProviderSearchTimeout = node.Duration(5 * time.Second)
	cfg.OnEvent = l.OnEvent
	if l.Configure != nil {
		l.Configure(m.Name, &cfg)
	}
	return cfg
}

// startAll starts the publisher, then the supernodes bootstrapping to it
// and to those before them, then the agents bootstrapping to it and the
// first supernode.
func (l *Lab) startAll(ctx, runCtx context.Context) error {
	if err := l.start(ctx, runCtx, l.Publisher, nil); err != nil {
		return err
	}
	for _, m := range l.Supernodes {
		if err := l.start(ctx, runCtx, m, l.bootstrapOf(m)); err != nil {
			return err
		}
	}
	boot := l.Publisher.BootstrapAddrs()
	if len(l.Supernodes) > 0 {
		boot = append(boot, l.Supernodes[0].BootstrapAddrs()...)
	}
	return l.startAgents(ctx, runCtx, boot)
}

// startAgents starts the agents, up to agentStarts at once: a node's
// start is CPU work (keys, badger, the libp2p host), and one starting
// goroutine among the hundreds of thousands a large zone's running nodes
// have gets a sliver of the scheduler's time; starting one at a time made
// the set-up of a 1,000-agent sim grow by minutes per hundred agents.
func (l *Lab) startAgents(ctx, runCtx context.Context, boot []string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, agentStarts)
	for _, m := range l.Agents {
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := l.start(ctx, runCtx, m, boot); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func (l *Lab) start(ctx, runCtx context.Context, m *Member, bootstrap []string) error {
	n, err := node.New(ctx, l.config(m, bootstrap))
	if err != nil {
		return fmt.Errorf("starting %s: %w", m.Name, err)
	}
	m.Node = n
	l.Progress("starting", int(l.started.Add(1)), 1+len(l.Supernodes)+len(l.Agents))
	mctx, stop := context.WithCancel(runCtx)
	m.stop, m.done = stop, make(chan struct{})
	l.wg.Go(func() {
		defer close(m.done)
		n.Run(mctx)
	})
	return nil
}

// Restart stops m (as a host shutting down: Run ends, then Close) and starts
// it again from the same state directory, bootstrapping as before
// (bootstrapOf), and waits for its gossip mesh. Only state kept on disk
// survives: set cfg.InMemory = false for m in Options.Configure.
func (l *Lab) Restart(ctx context.Context, m *Member) error {
	if err := l.Stop(m); err != nil {
		return err
	}
	return l.Start(ctx, m)
}

// Stop stops m as a host shutting down (Run ends, then Close); Start
// starts it again.
func (l *Lab) Stop(m *Member) error {
	m.stop()
	<-m.done
	if err := m.Node.Close(); err != nil {
		return fmt.Errorf("stopping %s: %w", m.Name, err)
	}
	return nil
}

// Start starts a member Stop stopped, from the same state directory,
// bootstrapping as before (bootstrapOf), and waits for its gossip mesh.
func (l *Lab) Start(ctx context.Context, m *Member) error {
	if err := l.start(ctx, l.runCtx, m, l.bootstrapOf(m)); err != nil {
		return err
	}
	deadline := time.Now().Add(l.ReadyTimeout)
	for !meshed(m) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has no gossip mesh %v after its restart", m.Name, l.ReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
	return nil
}

// HoldVendor parks the vendor server's answers to requests for name (a
// file under its origin, served or not) and its signature name.asc until
// release is called; arrived is closed when the first such request comes
// in. Tests use it to keep one supernode check under way while something
// else happens.
func (l *Lab) HoldVendor(name string) (url string, arrived <-chan struct{}, release func()) {
	arrived, release = l.vendor.holdPath("/" + name)
	return l.vendor.origin + name, arrived, release
}

// SetVendorDown makes the vendor server answer 503 to every request (down)
// or serve again.
func (l *Lab) SetVendorDown(down bool) { l.vendor.down.Store(down) }

// Members lists every running node: publisher, supernodes, agents.
func (l *Lab) Members() []*Member {
	out := []*Member{l.Publisher}
	out = append(out, l.Supernodes...)
	return append(out, l.Agents...)
}

// Fix is the announcement of NewVersion, with its artifact provided by the
// publisher and served by the vendor.
func (l *Lab) Fix(ctx context.Context, id string, version uint64) (*updates.Announcement, error) {
	deb := l.Debs[NewVersion]
	b, err := os.ReadFile(deb)
	if err != nil {
		return nil, err
	}
	cid, err := l.Publisher.AddArtifact(ctx, deb)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	return &updates.Announcement{
		SchemaVersion: updates.OSVSchemaVersion, ID: id, Modified: now, Published: now,
		Summary: PackageName + ": fix the greeting", Upstream: []string{"CVE-2026-0001"},
		Affected: []updates.Affected{{
			Package: updates.Package{Ecosystem: "Debian:12", Name: PackageName},
			Ranges:  []updates.Range{{Type: updates.RangeEcosystem, Events: []updates.Event{{Introduced: "0"}, {Fixed: NewVersion}}}},
		}},
		Patchnet: updates.Patchnet{Version: version, Categories: []updates.Category{updates.CategorySecurity},
			Expires: now.Add(24 * time.Hour),
			Artifact: &updates.Artifact{Name: filepath.Base(deb), Size: int64(len(b)), SHA256: sha256.Sum256(b),
				ContentID: cid, URLs: []string{l.vendor.url}, Method: updates.MethodDpkg}},
	}, nil
}

// VendorBytes is how many bytes the vendor server sent, and in how many
// requests.
func (l *Lab) VendorBytes() (bytes, requests int64) {
	return l.vendor.sent.Load(), l.vendor.hits.Load()
}

// ZoneRef is the lab's zone bound to its root, as acceptance names it.
func (l *Lab) ZoneRef() (trust.Zone, error) {
	certs, err := trust.ReadCertificatesFile(l.RootCert)
	if err != nil {
		return trust.Zone{}, err
	}
	return trust.Zone{Name: l.Zone, Root: trust.FingerprintOf(certs[0])}, nil
}

// CRLFiles are the zone's and the root's current CRL files.
func (l *Lab) CRLFiles() []string { return l.pki.crls() }

// ArtifactSize is the size of the fix's artifact (the NewVersion .deb).
func (l *Lab) ArtifactSize() int64 {
	fi, err := os.Stat(l.Debs[NewVersion])
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Close stops every node and the vendor server.
func (l *Lab) Close() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	errs := l.closeMembers()
	if l.vendor != nil {
		errs = append(errs, l.vendor.close())
	}
	return errors.Join(errs...)
}

// closeMembers closes every member, memberCloses at a time, agents first
// and the publisher last: agents whose bootstrap signers closed before
// them redial and search for them while they wait their turn, and one
// at a time a 1,000-agent zone took minutes to close.
func (l *Lab) closeMembers() []error {
	members := l.Members()
	errs := make([]error, len(members))
	var g errgroup.Group
	g.SetLimit(memberCloses)
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		if m == nil || m.Node == nil {
			continue
		}
		g.Go(func() error {
			errs[i] = m.Node.Close()
			return nil
		})
	}
	g.Wait()
	return errs
}
