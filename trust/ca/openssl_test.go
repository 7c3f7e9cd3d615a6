package ca_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
)

// openssl runs the real openssl binary (skipping only if it is absent) and
// returns its combined output and whether it exited 0.
func openssl(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (make deps installs it)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running openssl: %v", err)
		}
	}
	return string(out), err == nil
}

// What patchnet issues, openssl verifies: root → zone → leaf chains for
// both key types, and with -crl_check the zone CRL rejects a revoked leaf.
// patchnet's own verifier agrees on every case.
func TestOpenSSLInterop(t *testing.T) {
	for _, alg := range []trust.KeyAlgorithm{trust.KeyEd25519, trust.KeyECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			dir := t.TempDir()
			rootDir, zoneDir := filepath.Join(dir, "root"), filepath.Join(dir, "zone-acme")
			if _, err := ca.InitRoot(rootDir, ca.RootOptions{KeyType: alg}); err != nil {
				t.Fatal(err)
			}
			if _, err := ca.InitZone(rootDir, "acme", zoneDir, ca.ZoneOptions{KeyType: alg}); err != nil {
				t.Fatal(err)
			}
			nodes := map[string]trust.Role{"sn1": trust.RoleSupernode, "ag1": trust.RoleAgent}
			certs := map[string]string{}
			for name, role := range nodes {
				_, csr, err := ca.Request(filepath.Join(dir, name), ca.RequestOptions{Role: role, Zone: "acme", KeyType: alg})
				if err != nil {
					t.Fatal(err)
				}
				if certs[name], _, err = ca.SignFile(zoneDir, csr, ca.SignOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			rootCrt := filepath.Join(rootDir, ca.RootCertFile)
			zoneCrt := filepath.Join(zoneDir, ca.ZoneCertFile)
			zoneCRL := filepath.Join(zoneDir, ca.ZoneCRLFile)
			verify := func(crl bool, cert string) (string, bool) {
				args := []string{"verify", "-CAfile", rootCrt, "-untrusted", zoneCrt}
				if crl {
					args = append(args, "-crl_check", "-CRLfile", zoneCRL)
				}
				return openssl(t, append(args, cert)...)
			}
			for name, cert := range certs {
				if out, ok := verify(false, cert); !ok {
					t.Fatalf("openssl rejects %s: %s", name, out)
				}
				if out, ok := verify(true, cert); !ok {
					t.Fatalf("openssl with the first CRL rejects %s: %s", name, out)
				}
			}
			if _, err := ca.RevokeFile(zoneDir, certs["ag1"], ca.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ca.CRLFile(zoneDir, 0); err != nil {
				t.Fatal(err)
			}
			out, ok := verify(true, certs["ag1"])
			if ok || !strings.Contains(out, "certificate revoked") {
				t.Fatalf("openssl -crl_check accepted the revoked leaf: %s", out)
			}
			if out, ok := verify(true, certs["sn1"]); !ok {
				t.Fatalf("openssl -crl_check rejects the unrevoked leaf: %s", out)
			}
			if out, ok := verify(false, certs["ag1"]); !ok {
				t.Fatalf("openssl without CRL rejects the revoked leaf's chain: %s", out)
			}

			opts := ca.VerifyOptions{Roots: []string{rootCrt}, CRLs: []string{zoneCRL}}
			id, err := ca.VerifyFile(certs["sn1"], opts)
			if err != nil || !id.HasRole(trust.RoleSupernode) || id.Zone != "acme" {
				t.Fatalf("patchnet on sn1: %v, %v", id, err)
			}
			_, err = ca.VerifyFile(certs["ag1"], opts)
			if !strings.Contains(errString(err), "revoked by zone CA acme at") {
				t.Fatalf("patchnet on the revoked leaf: %v", err)
			}

			// openssl reads the extension and SAN patchnet wrote.
			text, ok := openssl(t, "x509", "-in", certs["sn1"], "-noout", "-text")
			if !ok || !strings.Contains(text, "URI:libp2p:") || !strings.Contains(text, "1.3.6.1.4.1.99999.1.1") ||
				!strings.Contains(text, "CA:FALSE") {
				t.Fatalf("openssl x509 -text does not show patchnet's fields:\n%s", text)
			}
			text, _ = openssl(t, "x509", "-in", zoneCrt, "-noout", "-text")
			if !strings.Contains(text, "CA:TRUE, pathlen:0") || !strings.Contains(text, "CN = zone acme") {
				t.Fatalf("zone CA is not path length 0 or lacks its name:\n%s", text)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// A root revokes a compromised zone CA: its root.crl makes both patchnet
// and openssl (-crl_check_all) reject that zone's leaves.
func TestRootRevokesZoneCAFiles(t *testing.T) {
	dir := t.TempDir()
	rootDir, zoneDir := filepath.Join(dir, "root"), filepath.Join(dir, "zone")
	if _, err := ca.InitRoot(rootDir, ca.RootOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.InitZone(rootDir, "acme", zoneDir, ca.ZoneOptions{}); err != nil {
		t.Fatal(err)
	}
	_, csr, err := ca.Request(filepath.Join(dir, "n"), ca.RequestOptions{Role: trust.RoleAgent, Zone: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := ca.SignFile(zoneDir, csr, ca.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zoneCrt := filepath.Join(zoneDir, ca.ZoneCertFile)
	if _, err := ca.RevokeFile(rootDir, zoneCrt, ca.ReasonCACompromise); err != nil {
		t.Fatal(err)
	}
	rootCRL, _, err := ca.CRLFile(rootDir, 1)
	if err != nil {
		t.Fatal(err)
	}
	rootCrt := filepath.Join(rootDir, ca.RootCertFile)
	_, err = ca.VerifyFile(cert, ca.VerifyOptions{Roots: []string{rootCrt}, CRLs: []string{rootCRL, filepath.Join(zoneDir, ca.ZoneCRLFile)}})
	if !strings.Contains(errString(err), "zone CA acme revoked by root CA") {
		t.Fatalf("patchnet: %v", err)
	}
	crls := filepath.Join(dir, "all.crl")
	both := append(mustRead(t, rootCRL), mustRead(t, filepath.Join(zoneDir, ca.ZoneCRLFile))...)
	if err := os.WriteFile(crls, both, 0o644); err != nil {
		t.Fatal(err)
	}
	out, ok := openssl(t, "verify", "-crl_check_all", "-CAfile", rootCrt, "-untrusted", zoneCrt, "-CRLfile", crls, cert)
	if ok || !strings.Contains(out, "revoked") {
		t.Fatalf("openssl -crl_check_all accepted a leaf of a revoked zone CA: %s", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
