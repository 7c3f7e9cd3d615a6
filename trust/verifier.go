package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Roots are the pinned root CAs (self-signed), each pinned by its
	// SHA-256 fingerprint. Several roots federate organisations. Required.
	Roots []*x509.Certificate
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// CacheSize bounds the cache of verified chains; 0 means
	// DefaultCacheSize (4096).
	CacheSize int
	// MaxClockSkew accepts certificates whose notBefore is at most this far
	// in the future (an issuing CA with a fast clock). Default 5 minutes;
	// 0 tolerates none. It never extends a notAfter or a CRL's nextUpdate.
	MaxClockSkew time.Duration
	// RequireCRL makes a chain fail verification with ErrStaleCRL while no
	// CRL of its zone CA or of its root is held. Default false: a freshly
	// bootstrapped node has not received its zone's CRLs, and refusing
	// every peer until then would stop it from ever hearing one; such
	// verdicts carry Identity.CRLCurrent = false instead, and acceptance
	// counts no signer without it. Once a CRL from a CA is held, its expiry
	// always fails closed, whatever this says.
	RequireCRL bool
}

// DefaultVerifierConfig is the configuration with every default filled in;
// the caller adds Roots.
func DefaultVerifierConfig() VerifierConfig {
	return VerifierConfig{
		Clock:        SystemClock{},
		CacheSize:    DefaultCacheSize,
		MaxClockSkew: DefaultMaxClockSkew,
	}
}

// Validate checks the configuration; errors name the field and value.
func (c VerifierConfig) Validate() error {
	if len(c.Roots) == 0 {
		return errors.New("VerifierConfig.Roots: at least one pinned root is required")
	}
	for i, r := range c.Roots {
		if r == nil {
			return fmt.Errorf("VerifierConfig.Roots[%d]: nil certificate", i)
		}
		if !r.IsCA || r.CheckSignatureFrom(r) != nil {
			return fmt.Errorf("VerifierConfig.Roots[%d] (%s): not a self-signed CA certificate", i, r.Subject)
		}
	}
	if c.CacheSize < 0 || c.CacheSize > MaxCacheSize {
		return fmt.Errorf("VerifierConfig.CacheSize: %d out of range 0..%d", c.CacheSize, MaxCacheSize)
	}
	if c.MaxClockSkew < 0 || c.MaxClockSkew > MaxClockSkewLimit {
		return fmt.Errorf("VerifierConfig.MaxClockSkew: %s out of range 0..%s", c.MaxClockSkew, MaxClockSkewLimit)
	}
	return nil
}

// Verifier decides what to trust: certificate chains to pinned roots,
// revocation, roles, zones, and DSSE envelopes. It is safe for concurrent use
// (gossip validators call it from many goroutines).
type Verifier struct {
	cfg      VerifierConfig
	rootPool *x509.CertPool
	roots    map[Fingerprint]*caInfo
	cache    *chainCache

	mu            sync.RWMutex
	intermediates map[Fingerprint]*caInfo // zone CAs verified under a pinned root
	interPool     *x509.CertPool          // replaced, never mutated, when intermediates change
	crls          map[Fingerprint]*crlInfo
}

// caInfo is a CA the verifier trusts: a pinned root or a verified zone CA.
type caInfo struct {
	cert *x509.Certificate
	fp   Fingerprint
	name string // "root CA <CN>" or "zone CA <zone>", for messages
	root bool
	mem  Membership // zone CAs only
}

// NewVerifier builds a verifier pinning cfg.Roots.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating verifier: %w", err)
	}
	cfg.Roots = slices.Clone(cfg.Roots)
	v := &Verifier{
		cfg: cfg, rootPool: x509.NewCertPool(), roots: make(map[Fingerprint]*caInfo),
		cache: newChainCache(cfg.CacheSize), intermediates: make(map[Fingerprint]*caInfo),
		interPool: x509.NewCertPool(), crls: make(map[Fingerprint]*crlInfo),
	}
	for _, r := range cfg.Roots {
		fp := FingerprintOf(r)
		v.roots[fp] = &caInfo{cert: r, fp: fp, root: true, name: "root CA " + nameOf(r)}
		v.rootPool.AddCert(r)
	}
	return v, nil
}

// PinnedRoots lists the fingerprints of the pinned roots, in config order.
func (v *Verifier) PinnedRoots() []Fingerprint {
	out := make([]Fingerprint, len(v.cfg.Roots))
	for i, r := range v.cfg.Roots {
		out[i] = FingerprintOf(r)
	}
	return out
}

// BindZone binds a zone name to the pinned root that owns it: the one root
// when a single root is pinned. With several roots pinned (federation) the
// name alone says nothing about whose zone it is: use ZoneUnder.
func (v *Verifier) BindZone(name string) (Zone, error) {
	if len(v.cfg.Roots) != 1 {
		return Zone{}, fmt.Errorf("binding zone %q: %d roots are pinned, so the name alone does not say whose zone it is: name its root", name, len(v.cfg.Roots))
	}
	return Zone{Name: name, Root: FingerprintOf(v.cfg.Roots[0])}, nil
}

// ZoneUnder binds a zone name to root, which must be pinned.
func (v *Verifier) ZoneUnder(name string, root Fingerprint) (Zone, error) {
	if _, ok := v.roots[root]; !ok {
		return Zone{}, fmt.Errorf("binding zone %q: %w: root %s is not pinned", name, ErrUnknownRoot, root.Short())
	}
	return Zone{Name: name, Root: root}, nil
}

// Roots returns the pinned root certificates.
func (v *Verifier) Roots() []*x509.Certificate { return slices.Clone(v.cfg.Roots) }

// Now is the verifier's current time.
func (v *Verifier) Now() time.Time { return v.cfg.Clock.Now() }

// AddIntermediates verifies zone CA certificates against the pinned roots
// and keeps those that pass, so chains may omit them and their CRLs are
// accepted. It returns an error naming each certificate that did not pass.
func (v *Verifier) AddIntermediates(certs ...*x509.Certificate) error {
	var errs []error
	for _, c := range certs {
		if err := v.addIntermediate(c, v.Now()); err != nil {
			errs = append(errs, fmt.Errorf("adding intermediate %s: %w", describeCert(c), err))
		}
	}
	return errors.Join(errs...)
}

func (v *Verifier) addIntermediate(c *x509.Certificate, now time.Time) error {
	chains, err := c.Verify(x509.VerifyOptions{
		Roots: v.rootPool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return mapX509Error(err, now)
	}
	if len(chains[0]) != 2 {
		return fmt.Errorf("%w: a zone CA must be issued directly by a pinned root", ErrChainTooLong)
	}
	zone, err := v.zoneCAInfo(c, chains[0][1])
	if err != nil {
		return err
	}
	v.learnZoneCA(zone)
	return nil
}

// zoneCAInfo checks that c is a well-formed zone CA issued by root.
func (v *Verifier) zoneCAInfo(c, root *x509.Certificate) (*caInfo, error) {
	if _, ok := v.roots[FingerprintOf(root)]; !ok {
		return nil, fmt.Errorf("%w: %s is not pinned", ErrUnknownRoot, describeCert(root))
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		return nil, fmt.Errorf("%w: %s is not a zone CA (CA with path length 0)", ErrMalformed, describeCert(c))
	}
	mem, err := MembershipOf(c)
	if err != nil {
		return nil, fmt.Errorf("zone CA %s: %w", nameOf(c), err)
	}
	return &caInfo{cert: c, fp: FingerprintOf(c), name: "zone CA " + mem.Zone, mem: mem}, nil
}

// learnZoneCA remembers a verified zone CA (bounded by MaxIntermediates).
func (v *Verifier) learnZoneCA(ca *caInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.intermediates[ca.fp]; ok || len(v.intermediates) >= MaxIntermediates {
		return
	}
	v.intermediates[ca.fp] = ca
	pool := x509.NewCertPool()
	for _, c := range v.intermediates {
		pool.AddCert(c.cert)
	}
	v.interPool = pool
}

// allCAsLocked lists roots and zone CAs; the caller holds v.mu.
func (v *Verifier) allCAsLocked() []*caInfo {
	out := make([]*caInfo, 0, len(v.roots)+len(v.intermediates))
	for _, r := range v.roots {
		out = append(out, r)
	}
	for _, z := range v.intermediates {
		out = append(out, z)
	}
	return out
}

// VerifyPeer checks the certificate chain a peer presented in the
// authentication exchange (DER, leaf first) and that its leaf key is p's
// libp2p identity key: a stolen certificate is useless without the key.
func (v *Verifier) VerifyPeer(p peer.ID, chainDER [][]byte) (Identity, error) {
	certs, err := parseChainDER(chainDER)
	if err != nil {
		return Identity{}, fmt.Errorf("verifying peer %s: %w", p, err)
	}
	id, err := v.VerifyChain(certs[0], certs[1:])
	if err != nil {
		return Identity{}, fmt.Errorf("verifying peer %s: %w", p, err)
	}
	if id.PeerID != p {
		return Identity{}, fmt.Errorf("verifying peer %s: %w: its certificate is for %s", p, ErrPeerIDMismatch, id.PeerID)
	}
	return id, nil
}

// parseChainDER parses a presented chain, leaf first, root excluded.
func parseChainDER(chainDER [][]byte) ([]*x509.Certificate, error) {
	if len(chainDER) == 0 {
		return nil, fmt.Errorf("%w: empty certificate chain", ErrMalformed)
	}
	if len(chainDER) >= MaxChainLength {
		return nil, fmt.Errorf("%w: %d certificates presented (limit %d, root excluded)", ErrChainTooLong, len(chainDER), MaxChainLength-1)
	}
	certs := make([]*x509.Certificate, len(chainDER))
	for i, der := range chainDER {
		c, err := ParseCertificateDER(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// LearnZoneCAs adds, as intermediates, the zone CA certificates that travel
// in env's signature chains, so that CRLs from those zone CAs can be
// checked before the envelope itself is verified (an offline host may get
// the envelope and the zone's CRL together, having never seen the zone CA).
// A certificate that does not chain to a pinned root is skipped: the
// envelope's own verification reports it. It returns how many were learnt.
func (v *Verifier) LearnZoneCAs(env *Envelope) int {
	learnt := 0
	for _, s := range env.Signatures {
		for _, der := range s.Certificates[min(1, len(s.Certificates)):] {
			c, err := ParseCertificateDER(der)
			if err == nil && c.IsCA && v.AddIntermediates(c) == nil {
				learnt++
			}
		}
	}
	return learnt
}
