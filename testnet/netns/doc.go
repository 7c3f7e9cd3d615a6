// Package netns is testnet's netns mode: real patchnet processes, each in
// its own network namespace (internal/netns) on a link shaped with tc tbf
// to Params.Bandwidth, the zone set up through the CLI (internal/zonekit),
// the update published with `patchnet publish`, and each agent's times
// read from its local API (/v1/status events on STATE/patchnet.sock).
//
// It runs every scenario: propagation;
// churn (a share of the agents SIGKILLed right after publication and
// half of those restarted on their state once the survivors installed);
// partition (internal/netns cuts the network in two; the cut side hears
// nothing until it heals and then catches up); late-join; stolen-key
// (`patchnet publish` with the publisher's own config passes the old
// package off as the fix; the supernodes refuse); byzantine (a
// supernode's key co-signs a conflicting payload, gossiped as it is with
// the hidden `patchnet testnet gossip`; the agents catch it and install
// the fix on the others' co-signatures); revocation (`patchnet
// ca revoke`, `ca crl` and `publish --crl`, applied by every running
// daemon from the zone's gossip); content (both origins capped, their
// egress bounded); flood (the hidden `patchnet testnet flood` runs two
// peers outside the zone's PKI next to a few agents, a forger and a
// replayer of the real fix, testnet.Forger and testnet.Replays; the agents
// install the fix, accept nothing else, and graylist and disconnect
// both, read from their status's peers); private-zone (a private zone, its pre-shared key from
// `patchnet init --private`, beside the public one on the same bridge
// under the same root: each installs only its own fix, no peer across the
// zones; not in sim, whose QUIC takes no pre-shared key); and table2 (the
// seed paper's Table II: three real packages — a custom archive, an rpm
// and a .deb of the paper's sizes — downloaded and installed on 10 Mbit/s
// links, S1 and S2 beside the paper's). Params.Latency is added to every
// packet a node receives (internal/netns's NFQUEUE delayer: this kernel
// has no netem), so a one-way trip between two nodes takes that much
// more; Params.Loss drops that share of them at random (an iptables
// statistic rule ahead of the delayer's).
//
// At the end of a run every daemon's /v1/status is read the way
// `patchnet testnet collect` reads a cluster's nodes (k8s.Fetch,
// k8s.FillCounters): the bytes each served to peers (peer egress; each
// agent's fetch by source in its sample), gossip duplicates per message
// delivered, the mean peak resident set of the daemons (memory per node)
// and their CPU time together. The origin's egress is what the vendor's
// HTTP origin served (the supernodes' checks, agents' fallbacks) plus what
// `patchnet publish` says it served as seeder when it exits. Then every
// agent's journal is read with `patchnet history`: an install of anything
// the scenario did not publish as the zone's publisher (or set up as a
// sandbox's base package) is a wrong install (audit.go).
//
// It needs root, iproute2, iptables (for latency), and dpkg (rpm and
// rpmbuild for table2). It is a
// harness: nothing here decides trust, the processes it runs do.
package netns
