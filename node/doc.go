// Package node is the patchnet node: it wires trust, sysinfo, updates,
// updates/install, overlay and overlay/content together according to the
// roles its certificate carries.
//
// It owns:
//   - Config (TOML) and New/Run/Close: credentials, the pinned roots and the
//     trust.Verifier, the zone (its name under the root this node's own
//     certificate chains to: a federated partner's zone of the same name is
//     another zone), the badger state, the overlay with this node's
//     MessageValidator, Authenticator and message IDs, the content service;
//   - the one verified path (validator.go): the gossip validator verifies
//     only the signatures of a message that add to what the merge buffer
//     holds for its payload, checks each payload once (publisher signature,
//     decoding, validity at this node's clock) and merges; it hands the rest
//     of the node one verifiedAnnouncement as pubsub's ValidatorData, and
//     nothing after it parses or verifies the bytes again. Message IDs
//     derive from content (topic, payload, set of signatures), so re-encoded
//     copies are duplicates; copies that add nothing are Ignored within a
//     per-peer budget, then Rejected. Forged or malformed → Reject; expired,
//     not checkable yet or older than what was accepted → Ignore;
//   - CRLs (crl.go) on their own topic, verified against their issuer,
//     applied, kept for catch-up and replayed at start; a new CRL re-runs
//     acceptance on buffered announcements;
//   - publishers (publisher.go): AddArtifact and Publish;
//   - supernodes (supernode.go, cosign.go): each artifact fetched from the
//     vendor origins the [cosign] policy binds to its publisher (never from
//     peers or the publisher), its size, SHA-256, vendor signature and
//     content id checked, then co-signed, republished and seeded; never a
//     lower version or a second payload for one id and version;
//   - agents (agent.go, pending.go, inflight.go, lifecycle.go): acceptance
//     (k co-signers of this zone, each counted only with current CRLs of its
//     zone CA and root; rollback and equivocation against the SeenStore),
//     then one workflow per accepted version — match, respond, schedule,
//     fetch, check again (CRLs, clock, quarantine), install through pinned
//     installers (the Installer seam, installer.go: install.Manager, or
//     Config.Installer's, such as nodelab's RecordingInstaller) — each
//     step recorded in its lifecycle record (State) in
//     badger, so a restart takes up what was unfinished; a higher version,
//     a withdrawal or an equivocation cancels a version still waiting;
//   - conflicting co-signatures short of k (conflict.go): a payload a
//     supernode co-signed that conflicts with the one accepted for its id
//     and version is held aside and alerted once, never installable,
//     without blocking the accepted one; against a payload merely
//     buffered, both wait and the first to make k wins; a supernode caught
//     co-signing two payloads of one version stops counting on this agent;
//   - zone heartbeats (heartbeat.go): supernodes sign one every interval
//     with a digest of what they co-signed; agents report stale heartbeats
//     (cut off) and a set differing from what k supernodes agree on
//     (withheld), and catch up from several peers;
//   - direct protocols beside gossip (stream.go): opt-in install reports
//     (report.go, reportstore.go: an agent with [report] enabled signs each
//     install outcome and sends it to its connected supernodes, which
//     verify and keep it per update) and co-signing status (refusal.go: a
//     supernode's signed answer to its zone's publishers on where their
//     proposal stands, refusals with their reason);
//   - Status, Events and Updates: what each node did and when, served on
//     the local API at STATE/patchnet.sock (api.go);
//   - logs (logging.go: Config.Logger, built from [log]; one line per
//     event) and the opt-in Prometheus endpoint (metrics.go: [metrics],
//     counters derived from events, the rest read at scrape time).
//
// Privacy: every node of a zone receives, verifies and relays every
// announcement (broadcast delivery), and matching is local, so gossip tells
// an observer nothing about which hosts are affected, and inventory never
// leaves the host. What an affected agent does reveal is its fetch: the
// peers (or the vendor) it fetches the artifact from learn that it wanted
// that artifact. Fetching from peers spreads that knowledge across the zone
// rather than concentrating it at one origin; it does not remove it.
// An agent that opts in ([report] enabled) also tells the supernodes it is
// connected to what it installed or failed to (report.go says exactly
// what); one that does not sends nothing.
//
// The nodelab subpackage runs a whole zone in one process (`patchnet demo`
// and this package's tests).
//
// It must not be imported by trust, sysinfo, updates or overlay. It does not
// decide trust itself (trust and updates do), and it never reboots a host.
package node
