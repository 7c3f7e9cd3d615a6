package nodelab

// agentStarts is how many agents a lab starts at once (Lab.startAgents):
// enough that starting nodes get a fair share of the CPU the running ones
// compete for, few enough that the bootstrap nodes see a steady stream of
// newcomers rather than the whole zone in one burst.
const agentStarts = 16
