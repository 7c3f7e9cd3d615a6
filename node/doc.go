// Package node is the patchnet node: it wires trust, sysinfo, updates,
// updates/install, overlay and overlay/content together according to the
// roles its certificate carries.
//
// It owns:
//   - Config (TOML) and New/Run/Close: credentials, the pinned roots and the
//     trust.Verifier, the badger state (seen versions, catch-up items,
//     co-signing records), the overlay with this node's MessageValidator and
//     Authenticator, and the content service;
//   - the gossip validator: forged or malformed → Reject, expired or older
//     than a version already accepted → Ignore; CRLs on the announce topic
//     are verified against their CA, applied and relayed (PublishCRL), and
//     connected peers are re-verified;
//   - publishers: AddArtifact and Publish (sign, send to the supernodes);
//   - supernodes: verify each proposal on their own, fetch the artifact and
//     check its size and SHA-256, and only then co-sign and republish it on
//     the announce topic; never co-sign a lower version or a second payload
//     for one id and version;
//   - the merge buffer: envelopes with the same payload have their
//     signatures merged (bounded: MaxPendingPayloads, MergeTTL), so k
//     co-signatures published separately add up; only verified signatures
//     of the zone's publishers and supernodes are merged, one per signer
//     (by certificate fingerprint, whatever the key id's spelling);
//   - agents: updates.Acceptor on each merged envelope (k distinct supernode
//     co-signatures, rollback and equivocation with the SeenStore in badger;
//     equivocation is quarantined and alerted, naming the signers), then
//     local matching against sysinfo, the respond decision, the fetch through
//     content (peers first, vendor URLs after), the journalled install
//     through updates/install, and providing the artifact to peers unless the
//     operator opted out; notify mode and equivocation alerts go out through
//     the [notify] channels (SMTP, webhook); an accepted update stays
//     recorded as pending in badger until it is installed, does not apply
//     or is superseded, so a full queue, failed fetches (retried with
//     backoff) or a restart do not lose it; only the highest accepted
//     version of an id is ever installed;
//   - catch-up: every node keeps the merged envelopes it saw, so a node that
//     was offline gets every co-signature from one peer; CRLs kept there
//     are applied again at start;
//   - Status and Events: what each node did and when.
//
// Privacy: every node of a zone receives, verifies and relays every
// announcement (broadcast delivery), and matching is local, so gossip tells
// an observer nothing about which hosts are affected, and inventory never
// leaves the host. What an affected agent does reveal is its fetch: the
// peers (or the vendor) it fetches the artifact from learn that it wanted
// that artifact. Fetching from peers spreads that knowledge across the zone
// rather than concentrating it at one origin; it does not remove it.
//
// The nodelab subpackage runs a whole zone in one process (`patchnet demo`
// and this package's tests).
//
// It must not be imported by trust, sysinfo, updates or overlay. It does not
// decide trust itself (trust and updates do), and it never reboots a host.
package node
