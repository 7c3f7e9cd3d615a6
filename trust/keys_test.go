package trust_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/trust"
)

func TestKeyFileRoundTrip(t *testing.T) {
	for _, alg := range []trust.KeyAlgorithm{trust.KeyEd25519, trust.KeyECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			key, err := trust.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "node.key")
			if err := trust.WriteKeyFile(path, key); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode = %#o, want 0600", fi.Mode().Perm())
			}
			data, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
				t.Fatalf("key file is not PKCS#8 PEM: %.40q", data)
			}
			got, err := trust.ReadKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got.Public()) {
				t.Fatal("read key differs from written key")
			}
			gotAlg, err := trust.AlgorithmOf(got.Public())
			if err != nil || gotAlg != alg {
				t.Fatalf("AlgorithmOf = %v, %v", gotAlg, err)
			}
		})
	}
}

func TestReadKeyFileRefusesReadableByOthers(t *testing.T) {
	key, _ := trust.GenerateKey(trust.KeyEd25519)
	path := filepath.Join(t.TempDir(), "node.key")
	if err := trust.WriteKeyFile(path, key); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := trust.ReadKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("ReadKeyFile(0644) = %v, want a refusal naming chmod 600", err)
	}
}

func TestParsePrivateKeyPEMRejects(t *testing.T) {
	for name, data := range map[string]string{
		"empty":      "",
		"wrong type": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"garbage":    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := trust.ParsePrivateKeyPEM([]byte(data)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// The certificate key is the libp2p identity: both views give one peer ID.
func TestLibP2PKeyIsIdentity(t *testing.T) {
	for _, alg := range []trust.KeyAlgorithm{trust.KeyEd25519, trust.KeyECDSAP256} {
		key, err := trust.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		lk, err := trust.LibP2PKey(key)
		if err != nil {
			t.Fatal(err)
		}
		fromLibp2p, err := peer.IDFromPrivateKey(lk)
		if err != nil {
			t.Fatal(err)
		}
		fromCert, err := trust.PeerIDFromPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		if fromLibp2p != fromCert {
			t.Fatalf("%s: libp2p %s != certificate %s", alg, fromLibp2p, fromCert)
		}
		std, err := trust.StdPublicKey(lk.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		switch k := std.(type) {
		case ed25519.PublicKey:
			if !k.Equal(key.Public()) {
				t.Fatal("ed25519 round trip differs")
			}
		case *ecdsa.PublicKey:
			if !k.Equal(key.Public()) {
				t.Fatal("ecdsa round trip differs")
			}
		}
	}
}

func TestFingerprintParse(t *testing.T) {
	var f trust.Fingerprint
	for i := range f {
		f[i] = byte(i * 7)
	}
	s := f.String()
	var colon []string
	for i := 0; i < len(s); i += 2 {
		colon = append(colon, strings.ToUpper(s[i:i+2]))
	}
	for _, in := range []string{s, strings.Join(colon, ":"), " " + s + "\n"} {
		got, err := trust.ParseFingerprint(in)
		if err != nil || got != f {
			t.Fatalf("ParseFingerprint(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "abc", s[:62] + "zz", s + "00"} {
		if _, err := trust.ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) succeeded", bad)
		}
	}
}
