package nodelab

import "time"

// agentStarts is how many agents a lab starts at once (Lab.startAgents):
// enough that starting nodes get a fair share of the CPU the running ones
// compete for, few enough that the bootstrap nodes see a steady stream of
// newcomers rather than the whole zone in one burst.
const agentStarts = 16

// readyPoll is how often a lab checks whether its zone (or a restarted
// member) has meshed: soon enough that a test waits little past the
// moment, seldom enough that the check is not a load on the zone.
const readyPoll = 20 * time.Millisecond

// memberCloses is how many members a lab closes at once (Lab.Close): a
// libp2p host's close waits up to 15 s for its QUIC connections to end,
// and a busy sim zone has hosts that use all of it.
const memberCloses = 64
