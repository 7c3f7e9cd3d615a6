package ca_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/trust/trusttest"
)

// testCA is a root and a zone "acme" in temporary directories, on a fake
// clock.
type testCA struct {
	clock   *trusttest.FakeClock
	rootDir string
	zoneDir string
	zone    *ca.CA
}

func newTestCA(t *testing.T, zo ca.ZoneOptions) *testCA {
	t.Helper()
	dir := t.TempDir()
	clock := trusttest.NewFakeClock(trusttest.Epoch)
	tc := &testCA{clock: clock, rootDir: filepath.Join(dir, "root"), zoneDir: filepath.Join(dir, "zone-acme")}
	if _, err := ca.InitRoot(tc.rootDir, ca.RootOptions{Clock: clock}); err != nil {
		t.Fatal(err)
	}
	zo.Clock = clock
	z, err := ca.InitZone(tc.rootDir, "acme", tc.zoneDir, zo)
	if err != nil {
		t.Fatal(err)
	}
	tc.zone = z
	return tc
}

func csrFor(t *testing.T, role trust.Role, zone string) []byte {
	t.Helper()
	key, err := trust.GenerateKey(trust.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	der, err := trust.NewCSR(key, role, zone)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestInitLayoutAndModes(t *testing.T) {
	tc := newTestCA(t, ca.ZoneOptions{})
	for path, mode := range map[string]os.FileMode{
		filepath.Join(tc.rootDir, ca.RootKeyFile):  0o600,
		filepath.Join(tc.rootDir, ca.RootCertFile): 0o644,
		filepath.Join(tc.zoneDir, ca.ZoneKeyFile):  0o600,
		filepath.Join(tc.zoneDir, ca.ZoneCertFile): 0o644,
		filepath.Join(tc.zoneDir, ca.ZoneCRLFile):  0o644,
		filepath.Join(tc.zoneDir, "state.json"):    0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), mode)
		}
	}
	root, err := ca.Open(tc.rootDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(root.State.Issued) != 1 || root.State.Issued[0].Zone != "acme" {
		t.Fatalf("root state issued = %+v, want the zone CA", root.State.Issued)
	}
	if tc.zone.State.CRLNumber != 1 {
		t.Fatalf("first CRL number = %d, want 1", tc.zone.State.CRLNumber)
	}
	if _, err := ca.InitRoot(tc.rootDir, ca.RootOptions{}); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("InitRoot over an existing root = %v", err)
	}
	if _, err := ca.InitZone(tc.rootDir, "acme", tc.zoneDir, ca.ZoneOptions{}); err == nil {
		t.Fatal("InitZone over an existing zone succeeded")
	}
}

func TestSignCSRPolicy(t *testing.T) {
	tc := newTestCA(t, ca.ZoneOptions{Roles: []trust.Role{trust.RoleAgent, trust.RoleSupernode}})
	leaf, err := tc.zone.SignCSR(csrFor(t, trust.RoleSupernode, "acme"), ca.SignOptions{Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf.NotAfter.Sub(tc.clock.Now()); got != 30*24*time.Hour {
		t.Fatalf("lifetime = %s, want 30 days", got)
	}
	tampered := csrFor(t, trust.RoleAgent, "acme")
	tampered[len(tampered)-3] ^= 0xff
	otherPeer := csrNamingOtherPeer(t)
	for name, tt := range map[string]struct {
		csr  []byte
		opts ca.SignOptions
		want string
	}{
		"other zone":       {csrFor(t, trust.RoleAgent, "globex"), ca.SignOptions{}, `zone "globex"`},
		"role not granted": {csrFor(t, trust.RolePublisher, "acme"), ca.SignOptions{}, "role publisher"},
		"too long":         {csrFor(t, trust.RoleAgent, "acme"), ca.SignOptions{Days: ca.MaxLeafDays + 1}, "--days"},
		"negative days":    {csrFor(t, trust.RoleAgent, "acme"), ca.SignOptions{Days: -1}, "--days"},
		"bad signature":    {tampered, ca.SignOptions{}, "bad signature"},
		"names other peer": {otherPeer, ca.SignOptions{}, "another peer"},
		"not a request":    {[]byte("hello"), ca.SignOptions{}, "malformed"},
		"max days":         {csrFor(t, trust.RoleAgent, "acme"), ca.SignOptions{Days: ca.MaxLeafDays}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.zone.SignCSR(tt.csr, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("SignCSR: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SignCSR = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	tc.clock.Set(tc.zone.Cert.NotAfter.Add(-24 * time.Hour))
	if _, err := tc.zone.SignCSR(csrFor(t, trust.RoleAgent, "acme"), ca.SignOptions{Days: 2}); err == nil ||
		!strings.Contains(err.Error(), "after the issuing CA's notAfter") {
		t.Fatalf("SignCSR outliving the zone CA = %v", err)
	}
	root, err := ca.Open(tc.rootDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.SignCSR(csrFor(t, trust.RoleAgent, "acme"), ca.SignOptions{}); err == nil {
		t.Fatal("a root CA signed a node request")
	}
}

// csrNamingOtherPeer is a correctly self-signed request whose URI SAN names
// a different key's peer ID.
func csrNamingOtherPeer(t *testing.T) []byte {
	t.Helper()
	key, _ := trust.GenerateKey(trust.KeyEd25519)
	other, _ := trust.GenerateKey(trust.KeyEd25519)
	pid, _ := trust.PeerIDFromPublicKey(other.Public())
	ext, _ := trust.Membership{Zone: "acme", Roles: []trust.Role{trust.RoleAgent}}.Extension()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: pid.String()},
		URIs:            []*url.URL{{Scheme: trust.PeerURIScheme, Opaque: pid.String()}},
		ExtraExtensions: []pkix.Extension{ext},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRevokeAndCRL(t *testing.T) {
	tc := newTestCA(t, ca.ZoneOptions{})
	leaf, err := tc.zone.SignCSR(csrFor(t, trust.RoleSupernode, "acme"), ca.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tc.clock.Advance(time.Hour)
	if err := tc.zone.Revoke(leaf, ca.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	if err := tc.zone.Revoke(leaf, ca.ReasonSuperseded); err != nil {
		t.Fatal(err) // twice is fine and keeps the first record
	}
	der, err := tc.zone.IssueCRL(48 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := trust.ParseCRL(der)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number.Int64() != 2 || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL number %s with %d entries, want 2 with 1", crl.Number, len(crl.RevokedCertificateEntries))
	}
	e := crl.RevokedCertificateEntries[0]
	if e.SerialNumber.Cmp(leaf.SerialNumber) != 0 || e.ReasonCode != int(ca.ReasonKeyCompromise) || !e.RevocationTime.Equal(tc.clock.Now()) {
		t.Fatalf("entry = %+v", e)
	}
	if got := crl.NextUpdate.Sub(tc.clock.Now()); got != 48*time.Hour {
		t.Fatalf("nextUpdate in %s, want 48h", got)
	}
	onDisk, err := trust.ReadCRLFile(tc.zone.CRLPath())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(der, onDisk); diff != "" {
		t.Fatal("zone.crl differs from the issued CRL")
	}
	reopened, err := ca.Open(tc.zoneDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reopened.State.Revoked) != 1 || reopened.State.Revoked[0].Reason != ca.ReasonKeyCompromise {
		t.Fatalf("state revoked = %+v", reopened.State.Revoked)
	}

	// A certificate from another CA cannot be revoked here.
	pki := trusttest.NewPKI(t, "acme")
	foreign := pki.Issue(t, "acme")
	if err := tc.zone.Revoke(foreign.Chain[0], ca.ReasonUnspecified); err == nil {
		t.Fatal("revoked a certificate this CA did not issue")
	}
}

// Concurrent commands on one CA directory never reuse a CRL number.
func TestConcurrentCRLNumbersDistinct(t *testing.T) {
	tc := newTestCA(t, ca.ZoneOptions{})
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			c, err := ca.Open(tc.zoneDir)
			if err != nil {
				t.Error(err)
				return
			}
			der, err := c.WithClock(tc.clock).IssueCRL(time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			crl, _ := trust.ParseCRL(der)
			mu.Lock()
			defer mu.Unlock()
			if seen[crl.Number.Int64()] {
				t.Errorf("CRL number %s issued twice", crl.Number)
			}
			seen[crl.Number.Int64()] = true
		})
	}
	wg.Wait()
	if len(seen) != 6 {
		t.Fatalf("%d distinct numbers, want 6", len(seen))
	}
}

func TestOpenRejectsBadDirectories(t *testing.T) {
	tc := newTestCA(t, ca.ZoneOptions{})
	if _, err := ca.Open(t.TempDir()); err == nil {
		t.Fatal("opened an empty directory")
	}
	if err := os.Chmod(filepath.Join(tc.zoneDir, ca.ZoneKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Open(tc.zoneDir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open with a world-readable key = %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, err := range map[string]error{
		"root days":   ca.RootOptions{Name: "x", Days: ca.MaxRootDays + 1, KeyType: trust.KeyEd25519}.Validate(),
		"root name":   ca.RootOptions{Name: "", Days: 1, KeyType: trust.KeyEd25519}.Validate(),
		"root key":    ca.RootOptions{Name: "x", Days: 1, KeyType: "rsa"}.Validate(),
		"zone days":   ca.ZoneOptions{Days: 0, CRLDays: 1, KeyType: trust.KeyEd25519, Roles: trust.AllRoles}.Validate(),
		"zone roles":  ca.ZoneOptions{Days: 1, CRLDays: 1, KeyType: trust.KeyEd25519, Roles: []trust.Role{"admin"}}.Validate(),
		"zone crl":    ca.ZoneOptions{Days: 1, CRLDays: ca.MaxCRLDays + 1, KeyType: trust.KeyEd25519, Roles: trust.AllRoles}.Validate(),
		"zone no key": ca.ZoneOptions{Days: 1, CRLDays: 1, KeyType: "dsa", Roles: trust.AllRoles}.Validate(),
	} {
		if err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	if err := ca.DefaultRootOptions().Validate(); err != nil {
		t.Error(err)
	}
	if err := ca.DefaultZoneOptions().Validate(); err != nil {
		t.Error(err)
	}
	if _, err := ca.ParseReason("keycompromise"); err != nil {
		t.Error(err)
	}
	if _, err := ca.ParseReason("bored"); err == nil {
		t.Error("ParseReason accepted nonsense")
	}
}
