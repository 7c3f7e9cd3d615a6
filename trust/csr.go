package trust

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"

	"github.com/libp2p/go-libp2p/core/peer"
)

// NewCSR makes a certificate request (DER) for key, asking for role in zone.
// The request names the key's peer ID as subject and URI SAN and carries the
// membership extension in its extension request, so the CA sees exactly what
// is asked.
func NewCSR(key crypto.Signer, role Role, zone string) ([]byte, error) {
	key = normalizeSigner(key)
	ext, err := Membership{Zone: zone, Roles: []Role{role}}.Extension()
	if err != nil {
		return nil, fmt.Errorf("creating certificate request: %w", err)
	}
	pid, err := PeerIDFromPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("creating certificate request: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: pid.String(), OrganizationalUnit: []string{zone}},
		URIs:            []*url.URL{{Scheme: PeerURIScheme, Opaque: pid.String()}},
		ExtraExtensions: []pkix.Extension{ext},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate request: %w", err)
	}
	return der, nil
}

// EncodeCSRPEM wraps a DER request in a "CERTIFICATE REQUEST" PEM block.
func EncodeCSRPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// CertificateRequest is a parsed request whose self-signature verified and
// whose content is consistent. It is still only a request: the CA decides
// whether to grant it.
type CertificateRequest struct {
	Request    *x509.CertificateRequest
	PeerID     peer.ID
	Membership Membership
}

// ParseCSR decodes a request (DER, or PEM "CERTIFICATE REQUEST"), checks its
// signature, its membership extension and that its URI SAN names the peer
// ID of its own key (ErrPeerIDMismatch otherwise).
func ParseCSR(data []byte) (*CertificateRequest, error) {
	der, err := decodeCSR(data)
	if err != nil {
		return nil, err
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w: %v", ErrMalformed, err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w: %v", ErrBadSignature, err)
	}
	if _, err := AlgorithmOf(req.PublicKey); err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	mem, err := membershipFrom(req.Extensions)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	pid, err := PeerIDFromPublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate request: %w", err)
	}
	if len(req.URIs) != 1 || req.URIs[0].Scheme != PeerURIScheme || req.URIs[0].Opaque != pid.String() {
		return nil, fmt.Errorf("parsing certificate request: %w: want one URI SAN %s, got %v", ErrPeerIDMismatch, PeerURI(pid.String()), req.URIs)
	}
	return &CertificateRequest{Request: req, PeerID: pid, Membership: mem}, nil
}

// decodeCSR bounds the input and strips PEM armour if present.
func decodeCSR(data []byte) ([]byte, error) {
	if len(data) > MaxCSRBytes {
		return nil, fmt.Errorf("parsing certificate request: %w: %d bytes (limit %d)", ErrOversized, len(data), MaxCSRBytes)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return data, nil
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("parsing certificate request: %w: want a \"CERTIFICATE REQUEST\" PEM block", ErrMalformed)
	}
	return block.Bytes, nil
}
