// Package updates owns what happens on a host once an update is trusted: the
// announcement model (OSV-compatible, see SCHEMA.md), ecosystem version
// ordering, matching against the local inventory, verified fetch, the
// acceptance pipeline, respond modes and notifications. Installers, the
// install journal and rollback live in updates/install.
//
// # Acceptance
//
// Acceptor.Accept turns a raw envelope into an Accepted announcement, in
// DESIGN.md's order:
//
//  1. envelope signatures, chains to a pinned root, roles, revocation
//     (trust.Verifier.VerifyEnvelope);
//  2. payload type is PayloadType;
//  3. at least Policy.Publishers publishers of Policy.Zone signed it: an
//     update has an accountable author;
//  4. the payload decodes and validates (DecodeAnnouncement);
//  5. not expired: patchnet.expires is required (Validate refuses an
//     announcement without one, and one valid for more than MaxValidity), so
//     a replayed announcement cannot freeze a host for ever
//     (trust.ErrExpired);
//  6. patchnet.version is higher than any accepted for the id
//     (trust.ErrRollback); the same id, version and payload again is
//     ErrDuplicate, which is not a verification failure (gossip Ignores it);
//  7. at least Policy.Threshold distinct supernodes of the zone co-signed,
//     and publishers and supernodes are distinct keys: a key holding both
//     roles counts once (trust.ErrInsufficientSigners). So k-1 compromised
//     supernodes and a stolen publisher key cannot get an update accepted;
//  8. no other co-signed payload was accepted under the same id and version
//     (trust.ErrEquivocation): the second payload is quarantined — recorded
//     with the signers of both sides in an Alert, never acted on — and the
//     first stays accepted.
//
// Only an announcement that passes every step is recorded in the SeenStore,
// so one signed by fewer than k supernodes never advances the highest
// version of its id (fast-forward).
//
// It must not import overlay or node: everything here works offline.
package updates
