package trust

import (
	"crypto"
	"crypto/x509"
	"fmt"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Credentials are a node's own key and certificate chain (leaf, then zone
// CA), as `patchnet cert request` and `ca sign` leave them on disk. They are
// the node's to present, not something it has verified: peers verify them.
type Credentials struct {
	Key    crypto.Signer
	Chain  []*x509.Certificate
	PeerID peer.ID
}

// LoadCredentials reads node.key and node.crt and checks that the leaf holds
// the key.
func LoadCredentials(keyPath, certPath string) (*Credentials, error) {
	key, err := ReadKeyFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	chain, err := ReadCertificatesFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	return NewCredentials(key, chain)
}

// NewCredentials pairs a key with its chain (leaf first, root excluded).
func NewCredentials(key crypto.Signer, chain []*x509.Certificate) (*Credentials, error) {
	if len(chain) == 0 || len(chain) >= MaxChainLength {
		return nil, fmt.Errorf("loading credentials: want 1 or 2 certificates (leaf, zone CA), got %d", len(chain))
	}
	key = normalizeSigner(key)
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("loading credentials: certificate %s does not hold this key", describeCert(chain[0]))
	}
	pid, err := PeerIDFromPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	return &Credentials{Key: key, Chain: chain, PeerID: pid}, nil
}

// ChainDER is the chain as the authentication exchange sends it.
func (c *Credentials) ChainDER() [][]byte {
	out := make([][]byte, len(c.Chain))
	for i, cert := range c.Chain {
		out[i] = cert.Raw
	}
	return out
}

// Sign adds this node's signature, with its chain, to env.
func (c *Credentials) Sign(env *Envelope) error { return env.Sign(c.Key, c.Chain) }

// LibP2PKey is the key as the node's libp2p identity.
func (c *Credentials) LibP2PKey() (libp2pcrypto.PrivKey, error) { return LibP2PKey(c.Key) }
