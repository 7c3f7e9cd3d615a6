// Package rawgossip is the raw gossipsub baseline: the floor patchnet's
// delivery is compared against, on the same nodes, topology and links.
//
// It owns the baseline's peer (a libp2p host with gossipsub at its
// defaults on one topic: no validator, no scoring, no patchnet), the
// rounds a runner publishes and times through it, and the line protocol
// through which a runner drives a peer in another process (`patchnet
// testnet raw-gossip`, one per network namespace in testnet/netns). The
// in-process peer (testnet/sim) and the remote one are both a Member, so
// every mode runs the same rounds.
//
// It is harness code: production packages must not import it, and it
// decides nothing about trust — it carries random bytes.
package rawgossip
