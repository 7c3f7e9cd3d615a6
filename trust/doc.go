// Package trust is patchnet's verification kernel: keys, X.509 certificates
// (root CA → zone CA → leaf), certificate requests, CRLs and DSSE signed
// envelopes. Every byte that enters an agent becomes a trusted value only
// through a trust.Verify… function.
//
// It must not touch the network, and it imports no other patchnet package.
// Its one process-wide state is the cache of parsed certificates
// (parsed.go), shared by every parse of the same DER while anyone holds
// the result: it shares parsing only, never a verdict, which each
// Verifier reaches against its own roots, CRLs and clock. Issuance (keys
// and state on disk) lives in trust/ca; test PKIs in trust/trusttest.
//
// # Certificates
//
// A chain is exactly root CA → zone CA → leaf (MaxChainLength 3, root
// included). The root is self-signed, path length 1, and pinned by the
// SHA-256 fingerprint of its DER (several roots may be pinned: federation).
// A zone CA is a CA with path length 0 whose subject is "CN=zone <name>" and
// which carries patchnet's membership extension naming its zone and the
// roles it may grant. A leaf is not a CA; its public key is the node's libp2p
// identity key, its subject CN and its one URI SAN name the peer ID
// ("libp2p:<peer ID>", e.g. libp2p:12D3KooW…), and its membership extension
// names its zone (which must equal its zone CA's) and roles. Leaves carry the
// clientAuth and serverAuth extended key usages; verification accepts any.
//
// # OID arc
//
// patchnet's private arc is 1.3.6.1.4.1.99999.1. 99999 is a PLACEHOLDER
// private enterprise number, not registered with IANA: replace it before
// certificates are issued outside tests and demos (it changes OIDArc and
// OIDMembership only). Assigned:
//
//	1.3.6.1.4.1.99999.1.1  membership extension, non-critical:
//	    SEQUENCE { zone UTF8String, roles SEQUENCE OF ENUMERATED }
//	    roles: agent(1), supernode(2), publisher(3)
//
// The extension is non-critical so that openssl and other X.509 tools accept
// patchnet certificates; patchnet's verifier requires it regardless.
//
// # Keys
//
// Ed25519 by default, ECDSA P-256 as an option, PKCS#8 PEM on disk written
// 0600. ReadKeyFile refuses a key file readable by group or others (like
// ssh): fix it with chmod 600.
//
// # Revocation
//
// Each zone CA issues RFC 5280 CRLs with a CRL number and nextUpdate; a root
// may issue CRLs revoking zone CAs. The verifier keeps the newest CRL (by
// number) per issuer. Once it holds a CRL from an issuer, a CRL past its
// nextUpdate makes every chain through that issuer fail with ErrStaleCRL
// (fail closed). With no CRL from a zone CA yet, chains pass unless
// VerifierConfig.RequireCRL is set (off by default so that a bootstrapping
// node can still hear its first CRL).
//
// # Envelopes
//
// Signed data is a DSSE envelope (github.com/secure-systems-lab/dsse): JSON
// {payloadType, payload, signatures[{keyid, sig, certificates}]} with payload
// and sig in standard base64. keyid is the lowercase hex fingerprint of the
// signer's leaf; certificates (DER, leaf then zone CA) are patchnet's
// addition and may be omitted once a verifier knows the leaf. Ed25519 signs
// the PAE bytes, ECDSA P-256 their SHA-256.
//
// Decoding takes a fast path for the canonical JSON Marshal writes (no
// escapes, exact keys); anything else goes through encoding/json, and a
// differential fuzz target checks the two agree.
//
// # Node credentials
//
// A node's own key (node.key) and chain (node.crt: leaf, zone CA) load with
// LoadCredentials; the same key is its libp2p identity (LibP2PKey), so its
// peer ID is the one its certificate names. VerifyPeer checks a chain a peer
// presents in the authentication exchange against the peer ID the
// connection authenticated.
//
// # Errors
//
// Every verification failure matches errors.Is(err, ErrUntrusted) and one of
// the sentinels in errors.go; messages name the certificate at fault
// ("revoked by zone CA acme at 2026-11-26T07:00:00Z (serial 0x1f)").
//
// # Caching
//
// Verified chains are cached (bounded LRU, keyed by leaf fingerprint) until
// the earliest notAfter in the chain or the nextUpdate of a CRL consulted, and
// dropped when a newer CRL from a CA in the chain arrives; a cached envelope
// costs one decode and one signature check.
package trust
