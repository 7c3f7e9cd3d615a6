// Package origin owns what a supernode checks about an artifact's bytes
// before it co-signs an announcement: that it obtained them itself from the
// vendor's own origin, and that the vendor's own signature over them
// verifies against keys pinned in the supernode's configuration. It exists
// so that a stolen publisher key alone cannot get malware co-signed: the
// publisher names the URLs and the digest, but the origins and the vendor
// keys are the supernode's, per publisher (Policy).
//
// # What is checked
//
// Checker.Check takes the artifact's URLs in order. Each is first screened
// by Policy.Allows: scheme, host and port must equal an origin's exactly
// (host case and default ports normalised), the path must lie under the
// origin's path on a segment boundary with no dot segments, encoded
// slashes or backslashes, and the URL may carry no userinfo, query or
// fragment. A refused URL is never requested; the Report says why. The
// bytes then come from the first allowed URL that yields them, through
// updates.FetchURL (size-bounded, resumable, SHA-256 checked), with every
// redirect hop screened by the same policy (a hop may carry a query, which
// the origin's server chose, as CDNs do for signed links: its host and path
// must still lie under an origin); never from peers.
//
// Then the vendor signatures:
//
//   - a detached OpenPGP signature beside an allowed URL (URL + ".asc", then
//     URL + ".sig"; binary or armored), looked up beside each allowed URL in
//     order until one is found;
//   - for method rpm, the package's own signature header: the header-only
//     signatures (RPMSIGTAG_RSA, RPMSIGTAG_DSA) together with the payload
//     digest the signed header carries, and the header+payload ones
//     (RPMSIGTAG_PGP, RPMSIGTAG_GPG).
//
// Every signature found must verify against a pinned key; one that does
// not (forged, made by a key that is not pinned, expired or revoked key,
// weak hash) refuses the artifact whatever AllowUnsigned says. Unless
// AllowUnsigned, an artifact with no signature is refused (ErrUnsigned);
// without it, the Report says it was accepted unsigned. A policy with no
// keys checks no signature at all. Every refusal matches
// errors.Is(err, trust.ErrUntrusted).
//
// The verified file stays at dir/NAME for the caller; on any error it and
// its partial download are removed.
//
// # What it must not do
//
// It must not fetch from peers or from any URL the policy refuses, must not
// execute or unpack what it downloads (the rpm is parsed, not installed),
// and must not import overlay, node or cmd: it works from a policy, an
// artifact and HTTP alone.
package origin
