package trusttest

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// Default lifetimes of what a PKI issues, counted from its clock.
const (
	RootLifetime = 10 * 365 * 24 * time.Hour
	ZoneLifetime = 5 * 365 * 24 * time.Hour
	LeafLifetime = 365 * 24 * time.Hour
	CRLLifetime  = 7 * 24 * time.Hour
)

// DefaultZone is the zone NewPKI creates when given none.
const DefaultZone = "test"

// PKI is one organisation's CA hierarchy in memory: a root and one zone CA
// per zone, all on Clock.
type PKI struct {
	// Clock drives issuance times and every Verifier the PKI makes.
	Clock *FakeClock
	// Root is the root CA (certificate and key).
	Root *ca.Authority
	// Roots is []*x509.Certificate{Root.Cert}, for VerifierConfig.Roots.
	Roots []*x509.Certificate

	mu            sync.Mutex
	zones         map[string]*Zone
	order         []string
	rootCRLNumber int64
}

// Zone is one zone CA and its revocation state.
type Zone struct {
	Name      string
	CA        *ca.Authority
	revoked   []x509.RevocationListEntry
	crlNumber int64
}

// Member is a node: a fresh key, its chain (leaf then zone CA) and the
// identity a verifier will report for it.
type Member struct {
	Key      crypto.Signer
	Chain    []*x509.Certificate
	Identity trust.Identity
}

// NewPKI makes a root and one zone CA per zone ("test" if none), on a
// FakeClock at Epoch. Zone CAs may grant every role.
func NewPKI(t testing.TB, zones ...string) *PKI {
	t.Helper()
	return NewPKIWithClock(t, NewFakeClock(Epoch), zones...)
}

// NewPKIWithClock is NewPKI on a given clock, so several organisations'
// PKIs (federation tests) share one notion of time.
func NewPKIWithClock(t testing.TB, clock *FakeClock, zones ...string) *PKI {
	t.Helper()
	key := mustKey(t, trust.KeyEd25519)
	now := clock.Now()
	root, err := ca.NewRoot(key, fmt.Sprintf("test root %s", now.Format("150405.000000000")), window(now, RootLifetime))
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	p := &PKI{Clock: clock, Root: root, Roots: []*x509.Certificate{root.Cert}, zones: map[string]*Zone{}}
	if len(zones) == 0 {
		zones = []string{DefaultZone}
	}
	for _, z := range zones {
		p.AddZone(t, z, trust.AllRoles...)
	}
	return p
}

// window is a validity window from now - ca.Backdate lasting d.
func window(now time.Time, d time.Duration) ca.Validity {
	return ca.Validity{NotBefore: now.Add(-ca.Backdate), NotAfter: now.Add(d)}
}

func mustKey(t testing.TB, alg trust.KeyAlgorithm) crypto.Signer {
	t.Helper()
	k, err := trust.GenerateKey(alg)
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return k
}

// AddZone creates a zone CA for zone that may grant roles.
func (p *PKI) AddZone(t testing.TB, zone string, roles ...trust.Role) *Zone {
	t.Helper()
	return p.AddZoneWith(t, zone, ZoneOptions{Roles: roles})
}

// ZoneOptions shape a zone CA.
type ZoneOptions struct {
	Roles    []trust.Role  // roles it may grant; all if empty
	Lifetime time.Duration // ZoneLifetime if zero
}

// AddZoneWith creates a zone CA with explicit options.
func (p *PKI) AddZoneWith(t testing.TB, zone string, o ZoneOptions) *Zone {
	t.Helper()
	if len(o.Roles) == 0 {
		o.Roles = trust.AllRoles
	}
	if o.Lifetime == 0 {
		o.Lifetime = ZoneLifetime
	}
	key := mustKey(t, trust.KeyEd25519)
	cert, err := p.Root.NewZone(key.Public(), zone, o.Roles, window(p.Clock.Now(), o.Lifetime))
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	z := &Zone{Name: zone, CA: &ca.Authority{Cert: cert, Key: key}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.zones[zone]; !dup {
		p.order = append(p.order, zone)
	}
	p.zones[zone] = z
	return z
}

// Zone returns the named zone, failing the test if there is none.
func (p *PKI) Zone(t testing.TB, zone string) *Zone {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	z, ok := p.zones[zone]
	if !ok {
		t.Fatalf("trusttest: no zone %q in this PKI", zone)
	}
	return z
}

// Intermediates are the zone CA certificates, in creation order.
func (p *PKI) Intermediates() []*x509.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*x509.Certificate, 0, len(p.order))
	for _, z := range p.order {
		out = append(out, p.zones[z].CA.Cert)
	}
	return out
}

// VerifierConfig pins this PKI's root on its clock, with defaults otherwise.
func (p *PKI) VerifierConfig() trust.VerifierConfig {
	cfg := trust.DefaultVerifierConfig()
	cfg.Roots = slices.Clone(p.Roots)
	cfg.Clock = p.Clock
	return cfg
}

// Verifier makes a verifier pinning this PKI's root, on its clock, knowing
// its zone CAs.
func (p *PKI) Verifier(t testing.TB) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(p.VerifierConfig())
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	if err := v.AddIntermediates(p.Intermediates()...); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return v
}

// Issue makes a member of zone with roles (agent if none): a fresh Ed25519
// key and a leaf valid for LeafLifetime.
func (p *PKI) Issue(t testing.TB, zone string, roles ...trust.Role) *Member {
	t.Helper()
	return p.IssueWith(t, zone, IssueOptions{Roles: roles})
}

// IssueOptions shape a member's certificate.
type IssueOptions struct {
	Roles     []trust.Role       // agent if empty
	Key       crypto.Signer      // a fresh key of KeyType if nil
	KeyType   trust.KeyAlgorithm // ed25519 if empty
	NotBefore time.Time          // clock − ca.Backdate if zero
	Lifetime  time.Duration      // LeafLifetime if zero
}

// IssueWith makes a member with explicit options.
func (p *PKI) IssueWith(t testing.TB, zone string, o IssueOptions) *Member {
	t.Helper()
	if len(o.Roles) == 0 {
		o.Roles = []trust.Role{trust.RoleAgent}
	}
	if o.Key == nil {
		o.Key = mustKey(t, o.KeyType)
	}
	if o.Lifetime == 0 {
		o.Lifetime = LeafLifetime
	}
	v := window(p.Clock.Now(), o.Lifetime)
	if !o.NotBefore.IsZero() {
		v = ca.Validity{NotBefore: o.NotBefore, NotAfter: o.NotBefore.Add(o.Lifetime)}
	}
	z := p.Zone(t, zone)
	leaf, err := z.CA.NewLeaf(o.Key.Public(), trust.Membership{Zone: zone, Roles: o.Roles}, v)
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return NewMember(t, o.Key, leaf, z.CA.Cert)
}

// NewMember wraps a key and its chain (leaf, zone CA) as a Member, filling
// Identity from the leaf without verifying it (tests of attacks build
// members a verifier must reject).
func NewMember(t testing.TB, key crypto.Signer, chain ...*x509.Certificate) *Member {
	t.Helper()
	pid, err := trust.PeerIDFromPublicKey(key.Public())
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	id := trust.Identity{
		Fingerprint: trust.FingerprintOf(chain[0]), PeerID: pid,
		Subject: chain[0].Subject.String(), NotAfter: chain[0].NotAfter, Certificate: chain[0],
	}
	if m, err := trust.MembershipOf(chain[0]); err == nil {
		id.Zone, id.Roles = m.Zone, m.Roles
	}
	return &Member{Key: key, Chain: chain, Identity: id}
}

// PeerID is the member's libp2p peer ID.
func (m *Member) PeerID() peer.ID { return m.Identity.PeerID }

// ChainDER is the chain as the authentication exchange sends it.
func (m *Member) ChainDER() [][]byte {
	out := make([][]byte, len(m.Chain))
	for i, c := range m.Chain {
		out[i] = c.Raw
	}
	return out
}

// LibP2PKey is the member's key as a libp2p identity.
func (m *Member) LibP2PKey(t testing.TB) libp2pcrypto.PrivKey {
	t.Helper()
	k, err := trust.LibP2PKey(m.Key)
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return k
}

// Sign adds the member's signature, with its chain, to env.
func (m *Member) Sign(t testing.TB, env *trust.Envelope) {
	t.Helper()
	if err := env.Sign(m.Key, m.Chain); err != nil {
		t.Fatalf("trusttest: %v", err)
	}
}

// Envelope makes an envelope of payloadType and payload signed by each
// signer in turn, encoded.
func Envelope(t testing.TB, payloadType string, payload []byte, signers ...*Member) []byte {
	t.Helper()
	env := trust.NewEnvelope(payloadType, payload)
	for _, s := range signers {
		s.Sign(t, env)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return raw
}

// Revoke adds m's leaf to zone's revocation list and returns a fresh CRL
// (DER) from the zone CA.
func (p *PKI) Revoke(t testing.TB, zone string, m *Member) []byte {
	t.Helper()
	z := p.Zone(t, zone)
	p.mu.Lock()
	z.revoked = append(z.revoked, x509.RevocationListEntry{
		SerialNumber: m.Chain[0].SerialNumber, RevocationTime: p.Clock.Now().UTC(), ReasonCode: 1,
	})
	p.mu.Unlock()
	return p.CRL(t, zone)
}

// CRL issues the zone's next CRL (number incremented, fresh for
// CRLLifetime from the clock) listing everything revoked so far.
func (p *PKI) CRL(t testing.TB, zone string) []byte {
	t.Helper()
	z := p.Zone(t, zone)
	p.mu.Lock()
	z.crlNumber++
	number, entries := big.NewInt(z.crlNumber), slices.Clone(z.revoked)
	p.mu.Unlock()
	now := p.Clock.Now()
	der, err := z.CA.NewCRL(entries, number, now.Add(-ca.Backdate), now.Add(CRLLifetime))
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return der
}

// ZoneRef is zone bound to this PKI's root: the zone as acceptance names it.
func (p *PKI) ZoneRef(zone string) trust.Zone {
	return trust.Zone{Name: zone, Root: trust.FingerprintOf(p.Root.Cert)}
}

// RootCRL issues the root's next CRL (number incremented, fresh for
// CRLLifetime), revoking nothing: acceptance counts a signer only while a
// current CRL of its root and its zone CA is held.
func (p *PKI) RootCRL(t testing.TB) []byte {
	t.Helper()
	p.mu.Lock()
	p.rootCRLNumber++
	number := big.NewInt(p.rootCRLNumber)
	p.mu.Unlock()
	now := p.Clock.Now()
	der, err := p.Root.NewCRL(nil, number, now.Add(-ca.Backdate), now.Add(CRLLifetime))
	if err != nil {
		t.Fatalf("trusttest: %v", err)
	}
	return der
}
