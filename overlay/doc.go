// Package overlay carries signed bytes between patchnet nodes over libp2p:
// the host, zones, gossip collectives and their validators, catch-up sync,
// zone admission, and content transfer through the DHT.
//
// It never decides trust itself: validators call the verifier the node
// supplies. It must not import node.
package overlay
