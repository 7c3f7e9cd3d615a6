// Package content moves patchnet artifacts between nodes by content address.
//
// It owns: building an artifact's UnixFS DAG (Import, ContentID), the block
// store seam (Blockstore, with DiskStore and MemStore), providing root CIDs
// through the DHT and re-providing them before the records expire (Provider),
// the block transfer protocol /patchnet/content/1.1.0 (serving side and a
// multi-provider client; 1.0.0 still served and spoken, wire.go), and the
// Fetch entry point that tries the local store, then peers, then the vendor
// URLs, and checks the final SHA-256 in every case.
//
// Fetch order among peers: the seeds first (Want.Seeds: peers a verified
// announcement says hold the artifact; the node passes the supernodes whose
// co-signatures it accepted, each of which fetched, checked and seeded it),
// added as providers before the DHT is asked, each as soon as a provider
// slot is free (seeds.go); then the providers the DHT search finds, in the
// slots the seeds leave, alongside them; busy frames' hints whenever they
// come. Seeds are providers like any other: they grant no trust, count
// against MaxProviders and MaxProviderCandidates, are dropped when they
// fail or send bad blocks, and at most MaxSeeds are used, this node never.
// They matter because a provider record takes seconds to be stored while a
// whole zone searches at once; with no usable seed the search and the
// vendor fallback are as without seeds. A Service without a router fetches
// from seeds alone.
//
// Every block is hashed and checked against its CID as it arrives; every
// byte is counted against the announced size. Vendor URLs are mirrors,
// fetched through the updates package's HTTP fetcher (StreamURL) and tried
// in order; each mirror's bytes are staged and verified on their own before
// any reaches the caller, so a bad mirror is skipped, never mixed in. The artifact's expected CID,
// size and SHA-256 come from a verified announcement: this package trusts
// them as given and trusts nothing that comes off the wire.
//
// Transfer design: not bitswap (measured 0.11× of HTTP: a 20 ms want-send
// floor and a 10-block read-ahead). The client fetches the root and internal
// nodes first (a few KiB), learns the ordered leaf CIDs and sizes, and asks
// several providers at once for runs of leaves, one request per stream; each
// provider streams length-prefixed raw blocks back. A frame whose length is
// not the one the DAG promises is refused before it is read. Runs are
// claimed within a bounded window ahead of the write cursor; idle providers
// re-request runs a slow one still holds (first verified copy wins).
//
// Resource manager: go-libp2p's default limits suffice. Yamux windows (up to
// 16 MiB a stream) are reserved against the peer scope (64 MiB base), and a
// fetch keeps StreamsPerProvider streams per provider; the server's own
// per-peer bound (ServeStreamsPerPeer) sits far below rcmgr's default of 64
// inbound streams per protocol and peer.
//
// Seed budget: what a node added itself (Add: the publisher, a supernode
// that checked the artifact at the vendor) it serves Config.SeedServeCopies
// whole copies of, then answers busy naming the peers it served, with the
// addresses its peerstore holds for them (budget.go, hints.go); fetchers
// drop a busy provider without blaming it, dial the named peers at those
// addresses (kept for TempAddrTTL only; hints grant no trust), ask a named
// peer again shortly if it still lacks a block (it may still be receiving
// its copy), and search the DHT one more round before the vendor URL. A
// transfer that loses its last provider after its search ended searches
// again while the peers keep delivering (search.go), so a long transfer
// whose seeders ran out of budget midway stays with the zone.
//
// Serving asks Config.Admitted (if set) before each request: the node
// passes the overlay's admission check, so a private zone serves blocks only
// to peers that presented a certificate of the zone.
//
// Prune deletes the blocks the roots a node names no longer reach, once
// they are older than its cut-off, and stops providing deleted roots; which
// artifacts are still wanted is the node's to say.
//
// It must not import package overlay or node, and it never decides whether
// an update is trusted.
package content
