// Package netns builds throw-away test networks out of Linux network
// namespaces: a hub namespace holding a bridge, and one namespace per node
// joined to the bridge by a veth pair, with addresses in a private range,
// optional bandwidth shaping (tc tbf on both ends of a link), links that
// can be taken down and up, a partition of the nodes into two sides that
// hear nothing of each other until healed (an iptables chain in each
// node: the kernel filters no bridged traffic), commands run inside a
// node's namespace, and listeners the calling process opens inside one.
//
// It owns only namespaces it creates itself, each named with the
// NamePrefix, the creating process's id and a per-process sequence, so a
// sweep can remove those of runs that were killed (their process is gone)
// without touching anyone else's. It never changes an interface of the
// root namespace or of any namespace it did not create, but for
// ShapeSelf, which shapes the namespace its process was started in on
// purpose (a pod's shaping sidecar, whose namespace is the pod's).
//
// It needs root and iproute2's ip and tc; Available says what is missing.
// The kernel has no netem here, so latency is added another way: an
// iptables NFQUEUE rule hands a node's incoming packets to this process,
// which accepts each after the delay (nfqueue.go speaks the netlink
// protocol; LatencyAvailable says whether iptables is there). It is a test
// harness: production code must not import it.
package netns
