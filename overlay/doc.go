// Package overlay carries signed bytes between patchnet nodes over libp2p.
//
// It owns the libp2p host (TCP and QUIC, Noise, yamux, the resource and
// connection managers), zones (public, or private behind a pre-shared key
// and the /patchnet/auth/1.0.0 admission exchange with a connection gater),
// the zone's gossip topics with their validators and peer scoring,
// catch-up (/patchnet/sync/1.0.0) from an ItemStore, and the zone's DHT.
// Content transfer is built beside it, in overlay/content, on the Host and
// DHT this package exposes.
//
// It never decides trust itself: every gossip message and catch-up item
// goes through the node's MessageValidator, and every peer's certificate
// chain through the node's Authenticator. It must not import node.
//
// In a private zone nothing is served to a peer before admission verified
// it: catch-up waits for the exchange and refuses unverified peers, and
// WaitAdmitted lets protocols built beside the overlay (content) do the
// same. Auth and catch-up streams are served one per peer at a time, under
// short first-frame deadlines, so one peer cannot hold the shared slots.
//
// Lifecycle: New starts the host and joins nothing; the node subscribes to
// the announce topic (which also starts catch-up), its collectives, and, on
// supernodes, the supernodes' topic. Close releases everything.
package overlay
