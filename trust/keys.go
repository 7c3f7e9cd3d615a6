package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/internal/fsutil"
)

// KeyAlgorithm names a key type patchnet issues and accepts.
type KeyAlgorithm string

// Supported key algorithms. Ed25519 is the default: small keys, fast
// verification, and libp2p's own default identity key type.
const (
	KeyEd25519   KeyAlgorithm = "ed25519"
	KeyECDSAP256 KeyAlgorithm = "ecdsa-p256"
)

// ParseKeyAlgorithm checks a user-supplied algorithm name.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	switch a := KeyAlgorithm(s); a {
	case KeyEd25519, KeyECDSAP256:
		return a, nil
	case "":
		return KeyEd25519, nil
	}
	return "", fmt.Errorf("unknown key type %q (want %s or %s)", s, KeyEd25519, KeyECDSAP256)
}

// GenerateKey makes a fresh private key of the given algorithm.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case KeyEd25519, "":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ed25519 key: %w", err)
		}
		return priv, nil
	case KeyECDSAP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ecdsa-p256 key: %w", err)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("generating key: unknown key type %q", alg)
}

// AlgorithmOf reports which supported algorithm a public key uses.
func AlgorithmOf(pub crypto.PublicKey) (KeyAlgorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return KeyEd25519, nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return KeyECDSAP256, nil
		}
	}
	return "", fmt.Errorf("%w: unsupported public key type %T", ErrMalformed, pub)
}

// MarshalPrivateKeyPEM encodes key as PKCS#8 in a "PRIVATE KEY" PEM block,
// the form openssl and step-ca read.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	key = normalizeSigner(key)
	if _, err := AlgorithmOf(key.Public()); err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes a PKCS#8 "PRIVATE KEY" PEM block holding an
// Ed25519 or ECDSA P-256 key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	if len(data) > MaxKeyFileBytes {
		return nil, fmt.Errorf("%w: private key PEM is %d bytes (limit %d)", ErrOversized, len(data), MaxKeyFileBytes)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block in private key data", ErrMalformed)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", ErrMalformed, block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing PKCS#8 private key: %v", ErrMalformed, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: private key type %T cannot sign", ErrMalformed, k)
	}
	signer = normalizeSigner(signer)
	if _, err := AlgorithmOf(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// normalizeSigner turns *ed25519.PrivateKey into the value form the standard
// library returns, so type switches elsewhere see one shape.
func normalizeSigner(key crypto.Signer) crypto.Signer {
	if p, ok := key.(*ed25519.PrivateKey); ok && p != nil {
		return *p
	}
	return key
}

// WriteKeyFile writes key as PKCS#8 PEM to path, mode 0600, atomically.
func WriteKeyFile(path string, key crypto.Signer) error {
	data, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}

// ReadKeyFile reads a private key written by WriteKeyFile. Like ssh, it
// refuses a key file that its group or others can read or write: a leaked
// node key lets anyone act as that node until the certificate is revoked, so
// a permissive mode is an error to fix (chmod 600), not a warning to ignore.
func ReadKeyFile(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("reading key file %s: mode %#o lets other users read it; run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if len(data) > MaxKeyFileBytes {
		return nil, fmt.Errorf("reading key file %s: %w: more than %d bytes", path, ErrOversized, MaxKeyFileBytes)
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	return key, nil
}

// LibP2PKey wraps key as a libp2p private key: the same key pair is the
// node's libp2p identity and the subject of its certificate.
func LibP2PKey(key crypto.Signer) (libp2pcrypto.PrivKey, error) {
	switch k := normalizeSigner(key).(type) {
	case ed25519.PrivateKey:
		priv, _, err := libp2pcrypto.KeyPairFromStdKey(&k)
		return priv, err
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			break
		}
		priv, _, err := libp2pcrypto.KeyPairFromStdKey(k)
		return priv, err
	}
	return nil, fmt.Errorf("converting to libp2p key: unsupported key type %T", key)
}

// LibP2PPublicKey converts a certificate public key to libp2p's form.
func LibP2PPublicKey(pub crypto.PublicKey) (libp2pcrypto.PubKey, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return libp2pcrypto.UnmarshalEd25519PublicKey(k)
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return libp2pcrypto.ECDSAPublicKeyFromPubKey(*k)
		}
	}
	return nil, fmt.Errorf("%w: unsupported public key type %T", ErrMalformed, pub)
}

// PeerIDFromPublicKey is the libp2p peer ID of a certificate public key.
func PeerIDFromPublicKey(pub crypto.PublicKey) (peer.ID, error) {
	lk, err := LibP2PPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("deriving peer ID: %w", err)
	}
	id, err := peer.IDFromPublicKey(lk)
	if err != nil {
		return "", fmt.Errorf("deriving peer ID: %w", err)
	}
	return id, nil
}

// StdPublicKey converts a libp2p public key (as learned from a connection)
// to the standard library form certificates use.
func StdPublicKey(pub libp2pcrypto.PubKey) (crypto.PublicKey, error) {
	k, err := libp2pcrypto.PubKeyToStdKey(pub)
	if err != nil {
		return nil, fmt.Errorf("converting libp2p public key: %w", err)
	}
	if _, err := AlgorithmOf(k); err != nil {
		return nil, err
	}
	return k, nil
}
