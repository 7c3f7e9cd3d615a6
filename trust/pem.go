package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/patchnet/patchnet/internal/fsutil"
)

// ParseCertificatesPEM decodes every "CERTIFICATE" block in data, in order.
// Other block types are skipped (a chain file may carry comments or keys
// elsewhere); at least one certificate is required. Bounded by MaxPEMBytes,
// MaxPEMCertificates and MaxCertificateBytes.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxPEMBytes {
		return nil, fmt.Errorf("%w: PEM data is %d bytes (limit %d)", ErrOversized, len(data), MaxPEMBytes)
	}
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if len(certs) == MaxPEMCertificates {
			return nil, fmt.Errorf("%w: more than %d certificates in PEM data", ErrOversized, MaxPEMCertificates)
		}
		cert, err := ParseCertificateDER(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE PEM block found", ErrMalformed)
	}
	return certs, nil
}

// ParseCertificateDER parses one DER certificate, bounded by
// MaxCertificateBytes. The certificate may be shared with every other
// parse of the same bytes in the process (parsed.go): callers must not
// modify it.
func ParseCertificateDER(der []byte) (*x509.Certificate, error) {
	if len(der) > MaxCertificateBytes {
		return nil, fmt.Errorf("%w: certificate is %d bytes (limit %d)", ErrOversized, len(der), MaxCertificateBytes)
	}
	cert, err := parsed.parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing certificate: %v", ErrMalformed, err)
	}
	return cert, nil
}

// EncodeCertificatesPEM encodes certs as consecutive "CERTIFICATE" blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // bytes.Buffer never fails
	}
	return buf.Bytes()
}

// ReadCertificatesFile reads a PEM file of one or more certificates.
func ReadCertificatesFile(path string) ([]*x509.Certificate, error) {
	data, err := readBounded(path, MaxPEMBytes)
	if err != nil {
		return nil, fmt.Errorf("reading certificates: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("reading certificates from %s: %w", path, err)
	}
	return certs, nil
}

// EncodeCRLPEM wraps a DER CRL in an "X509 CRL" PEM block (openssl's form).
func EncodeCRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// DecodeCRL accepts a CRL as DER or as an "X509 CRL" PEM block and returns
// the DER, bounded by MaxCRLBytes.
func DecodeCRL(data []byte) ([]byte, error) {
	if len(data) > 2*MaxCRLBytes {
		return nil, fmt.Errorf("%w: CRL data is %d bytes (limit %d)", ErrOversized, len(data), MaxCRLBytes)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return data, nil
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		return nil, fmt.Errorf("%w: want an \"X509 CRL\" PEM block", ErrMalformed)
	}
	return block.Bytes, nil
}

// ReadCRLFile reads a CRL file, PEM or DER, and returns the DER.
func ReadCRLFile(path string) ([]byte, error) {
	data, err := readBounded(path, 2*MaxCRLBytes)
	if err != nil {
		return nil, fmt.Errorf("reading CRL: %w", err)
	}
	der, err := DecodeCRL(data)
	if err != nil {
		return nil, fmt.Errorf("reading CRL %s: %w", path, err)
	}
	return der, nil
}

// readBounded reads at most limit bytes of path, failing with ErrOversized
// beyond that rather than truncating.
func readBounded(path string, limit int64) ([]byte, error) {
	data, err := fsutil.ReadFile(path, limit)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrOversized, err)
	}
	return data, err
}
