package k8s

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// Identity is one node's key, certificate chain and peer ID.
type Identity struct {
	Name   string // the StatefulSet or Job name
	Role   trust.Role
	Key    []byte // PEM, as `patchnet cert request` writes node.key
	Cert   []byte // PEM chain, leaf then zone CA, as `patchnet ca sign` writes it
	PeerID string
}

// Zone is the material the manifests carry: public PKI files, node
// identities, the PSK and the vendor's files. Keys of the CAs and of the
// vendor are not kept: the cluster needs none of them.
type Zone struct {
	RootCert, RootCRL, ZoneCRL []byte
	// PSK is the pnet key file of a private zone, nil for a public one.
	PSK []byte
	// Supernodes, Agents and Publisher are named supernode-I, agent-I and
	// publisher.
	Supernodes, Agents []Identity
	Publisher          Identity
	// VendorFiles are the vendor's, shared by the zones of a namespace.
	VendorFiles
	// RevocationCRL is the zone CA's next CRL, revoking the last
	// supernode (scenario revocation only).
	RevocationCRL []byte
}

// VendorFiles are the vendor's files a rendered zone carries. OldDeb is
// the lab's package before the fix, by file name. The fix (NewDebName) is
// not carried: a ConfigMap holds at most 1 MiB, so the pods that need it
// rebuild it (nodelab.WriteFix, the same bytes) and check it against
// NewDebSHA256 and NewDebSize. NewDebSig is the vendor's detached
// signature of it, VendorKey its armored public key.
type VendorFiles struct {
	OldDebName, NewDebName string
	OldDeb                 []byte
	NewDebSHA256           [sha256.Size]byte
	NewDebSize             int64
	NewDebSig, VendorKey   []byte
}

// MakeZone makes s's zone in dir (a scratch directory the caller removes)
// as an operator would with `patchnet ca` and `patchnet cert`: a root, a
// zone CA, and a key and signed certificate per node. progress, if set,
// is told of each node issued.
func MakeZone(ctx context.Context, dir string, s Spec, progress func(done, total int)) (*Zone, error) {
	rootDir := filepath.Join(dir, "root")
	if _, err := ca.InitRoot(rootDir, ca.DefaultRootOptions()); err != nil {
		return nil, fmt.Errorf("making the root CA: %w", err)
	}
	z, err := makeZone(ctx, dir, s, progress)
	if err != nil {
		return nil, err
	}
	if err := z.vendorFiles(ctx, filepath.Join(dir, "debs"), s.ArtifactBytes); err != nil {
		return nil, err
	}
	return z, nil
}

// MakeZoneBeside makes s's zone (its Prefix set) in the dir MakeZone made
// first in, under first's root CA: a zone CA of its own and its nodes'
// identities; the vendor's files are first's, as the zones share the
// vendor origin.
func MakeZoneBeside(ctx context.Context, dir string, s Spec, first *Zone, progress func(done, total int)) (*Zone, error) {
	if s.Prefix == "" {
		return nil, errors.New("making a zone beside another: it needs a name prefix")
	}
	z, err := makeZone(ctx, dir, s, progress)
	if err != nil {
		return nil, err
	}
	z.VendorFiles = first.VendorFiles
	return z, nil
}

// makeZone makes s's zone CA under the root in dir, its nodes'
// identities, its PSK and its scenario's CRL.
func makeZone(ctx context.Context, dir string, s Spec, progress func(done, total int)) (*Zone, error) {
	rootDir, zoneDir := filepath.Join(dir, "root"), filepath.Join(dir, s.Prefix+"zone")
	if _, err := ca.InitZone(rootDir, s.Zone, zoneDir, ca.DefaultZoneOptions()); err != nil {
		return nil, fmt.Errorf("making the zone CA of %s: %w", s.Zone, err)
	}
	z := &Zone{}
	var err error
	for _, f := range []struct {
		dst  *[]byte
		path string
	}{{&z.RootCert, filepath.Join(rootDir, ca.RootCertFile)}, {&z.RootCRL, filepath.Join(rootDir, ca.RootCRLFile)},
		{&z.ZoneCRL, filepath.Join(zoneDir, ca.ZoneCRLFile)}} {
		if *f.dst, err = os.ReadFile(f.path); err != nil {
			return nil, fmt.Errorf("reading the zone's PKI: %w", err)
		}
	}
	if err := z.issueAll(ctx, dir, rootDir, zoneDir, s, progress); err != nil {
		return nil, err
	}
	if s.Private {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generating the zone's pre-shared key: %w", err)
		}
		z.PSK = overlay.EncodePSK(key)
	}
	if s.Scenario == testnet.ScenarioRevocation {
		if z.RevocationCRL, err = revokeLast(dir, zoneDir, s); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// revokeLast revokes the last supernode's certificate, as `patchnet ca
// revoke` would, and returns the zone CA's next CRL: the pods start on the
// CRL before it, and the publisher Job sends this one.
func revokeLast(dir, zoneDir string, s Spec) ([]byte, error) {
	name := s.supernodeName(s.Supernodes - 1)
	if _, err := ca.RevokeFile(zoneDir, filepath.Join(dir, "nodes", name, ca.NodeCertFile), ca.ReasonKeyCompromise); err != nil {
		return nil, fmt.Errorf("revoking %s: %w", name, err)
	}
	path, _, err := ca.CRLFile(zoneDir, 0)
	if err != nil {
		return nil, fmt.Errorf("issuing the CRL that revokes %s: %w", name, err)
	}
	crl, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CRL that revokes %s: %w", name, err)
	}
	return crl, nil
}

// issueAll issues every node's identity: the supernodes, the agents and
// the publisher, telling progress of each.
func (z *Zone) issueAll(ctx context.Context, dir, rootDir, zoneDir string, s Spec, progress func(done, total int)) error {
	total, done := s.Supernodes+s.Agents+1, 0
	issue := func(name string, role trust.Role) (Identity, error) {
		if err := ctx.Err(); err != nil {
			return Identity{}, err
		}
		id, err := issueIdentity(dir, rootDir, zoneDir, s.Zone, name, role)
		done++
		if progress != nil {
			progress(done, total)
		}
		return id, err
	}
	for i := range s.Supernodes {
		id, err := issue(s.supernodeName(i), trust.RoleSupernode)
		if err != nil {
			return err
		}
		z.Supernodes = append(z.Supernodes, id)
	}
	for i := range s.Agents {
		id, err := issue(s.agentName(i), trust.RoleAgent)
		if err != nil {
			return err
		}
		z.Agents = append(z.Agents, id)
	}
	var err error
	z.Publisher, err = issue(s.publisherName(), trust.RolePublisher)
	return err
}

// issueIdentity requests a key for name and signs it with the zone CA,
// then verifies the chain as an agent would and reads the peer ID from it.
func issueIdentity(dir, rootDir, zoneDir, zone, name string, role trust.Role) (Identity, error) {
	nodeDir := filepath.Join(dir, "nodes", name)
	keyPath, csrPath, err := ca.Request(nodeDir, ca.RequestOptions{Role: role, Zone: zone})
	if err != nil {
		return Identity{}, fmt.Errorf("requesting %s's certificate: %w", name, err)
	}
	certPath, _, err := ca.SignFile(zoneDir, csrPath, ca.SignOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("signing %s's certificate: %w", name, err)
	}
	v, err := ca.VerifyFile(certPath, ca.VerifyOptions{Roots: []string{filepath.Join(rootDir, ca.RootCertFile)},
		CRLs: []string{filepath.Join(zoneDir, ca.ZoneCRLFile), filepath.Join(rootDir, ca.RootCRLFile)}, RequireCRL: true})
	if err != nil {
		return Identity{}, fmt.Errorf("verifying %s's certificate: %w", name, err)
	}
	id := Identity{Name: name, Role: role, PeerID: v.PeerID.String()}
	if id.Key, err = os.ReadFile(keyPath); err != nil {
		return Identity{}, fmt.Errorf("reading %s's key: %w", name, err)
	}
	if id.Cert, err = os.ReadFile(certPath); err != nil {
		return Identity{}, fmt.Errorf("reading %s's certificate: %w", name, err)
	}
	return id, nil
}

// vendorFiles builds the lab's old .deb (with dpkg-deb) and its fix
// padded with padding bytes (as the pods will rebuild it), and signs the
// fix with a fresh vendor key, which is then dropped.
func (z *Zone) vendorFiles(ctx context.Context, dir string, padding int64) error {
	debs, err := nodelab.BuildDebs(ctx, dir)
	if err != nil {
		return fmt.Errorf("building the lab's packages: %w", err)
	}
	old := debs[nodelab.OldVersion]
	fix, err := nodelab.WriteFix(filepath.Join(dir, "fix"), int(padding))
	if err != nil {
		return fmt.Errorf("building the fix: %w", err)
	}
	z.OldDebName, z.NewDebName = filepath.Base(old), filepath.Base(fix)
	if z.OldDeb, err = os.ReadFile(old); err != nil {
		return fmt.Errorf("reading the lab's packages: %w", err)
	}
	if z.NewDebSHA256, z.NewDebSize, err = nodelab.DigestFile(fix); err != nil {
		return err
	}
	z.VendorKey, z.NewDebSig, err = vendorSign(fix)
	return err
}

// vendorSign makes a vendor release key (Ed25519) and returns its armored
// public key and an armored detached signature of the file at path.
func vendorSign(path string) (pub, sig []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the fix: %w", err)
	}
	defer f.Close()
	e, err := openpgp.NewEntity("patchnet testnet vendor", "", "vendor@testnet.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return nil, nil, fmt.Errorf("making the vendor key: %w", err)
	}
	var pubBuf, sigBuf bytes.Buffer
	w, err := armor.Encode(&pubBuf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("armoring the vendor key: %w", err)
	}
	if err := e.Serialize(w); err != nil {
		return nil, nil, fmt.Errorf("writing the vendor key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("writing the vendor key: %w", err)
	}
	if err := openpgp.ArmoredDetachSign(&sigBuf, e, f, nil); err != nil {
		return nil, nil, fmt.Errorf("signing the fix: %w", err)
	}
	return pubBuf.Bytes(), sigBuf.Bytes(), nil
}
