package k8s

import "fmt"

// Object names, ports and the paths inside the pods.
const (
	publisherName    = "publisher"
	flooderName      = "flooder"
	vendorName       = "vendor"
	supernodeService = "supernodes"
	agentService     = "agents"
	pkiConfigMap     = "pki"
	debsConfigMap    = "debs"
	vendorConfigMap  = "vendor-key"
	pskSecret        = "psk"

	// P2PPort is every node's libp2p TCP port.
	P2PPort = 4001
	// APIPort is the read-only API proxy beside every node.
	APIPort = 9090
	// OriginPort is the vendor origin's HTTP port.
	OriginPort = 8080

	pkiDir    = "/etc/patchnet/pki"
	keyDir    = "/etc/patchnet/key"
	pskDir    = "/etc/patchnet/psk"
	configDir = "/etc/patchnet/config"
	vendorDir = "/etc/patchnet/vendor"
	debsDir   = "/srv/debs"
	// fixDir is where the vendor's and the publisher's pods rebuild the
	// fix (an emptyDir).
	fixDir  = "/srv/fix"
	dataDir = "/var/lib/patchnet"
	// StateDir is every node's state directory, in its pod's emptyDir.
	StateDir   = dataDir + "/state"
	sysrootDir = dataDir + "/sysroot"
	runDir     = "/run/patchnet"
	// xtablesDir holds iptables' lock file in the shaping container.
	xtablesDir = "/run/xtables"
	pskFile    = pskDir + "/swarm.key"
	// byzantineKeyDir is where the byzantine scenario's publisher pod
	// mounts the taken-over supernode's key Secret.
	byzantineKeyDir = "/etc/patchnet/byzantine-key"
	// revocationCRL is the revocation scenario's CRL in the pki ConfigMap.
	revocationCRL = "revocation.crl"

	// nonRootUID runs every container that needs no root (distroless's
	// "nonroot").
	nonRootUID = 65532
)

// The names of a zone's own objects start with its Spec.Prefix: a second
// zone fits in one namespace beside the first (private-zone).
func (s Spec) supernodeName(i int) string { return fmt.Sprintf("%ssupernode-%d", s.Prefix, i) }
func (s Spec) agentName(i int) string     { return fmt.Sprintf("%sagent-%d", s.Prefix, i) }
func (s Spec) publisherName() string      { return s.Prefix + publisherName }
func (s Spec) pkiConfigMap() string       { return s.Prefix + pkiConfigMap }
func (s Spec) pskSecret() string          { return s.Prefix + pskSecret }
func keySecret(name string) string {
	return name + "-key"
}
func configMapOf(name string) string { return name + "-config" }

// podHost is the DNS name of the one pod of StatefulSet name behind the
// headless Service svc.
func (s Spec) podHost(name, svc string) string {
	return fmt.Sprintf("%s-0.%s.%s.svc.%s", name, svc, s.Namespace, s.ClusterDomain)
}

// SupernodeAddr is supernode i's bootstrap multiaddr.
func (s Spec) SupernodeAddr(i int, peerID string) string {
	return fmt.Sprintf("/dns4/%s/tcp/%d/p2p/%s", s.podHost(s.supernodeName(i), supernodeService), P2PPort, peerID)
}

// AgentAddr is agent i's libp2p multiaddr (the flood scenario's peers
// dial it).
func (s Spec) AgentAddr(i int, peerID string) string {
	return fmt.Sprintf("/dns4/%s/tcp/%d/p2p/%s", s.podHost(s.agentName(i), agentService), P2PPort, peerID)
}

// AgentAPI is the URL of agent i's API proxy, for collect.
func (s Spec) AgentAPI(i int) string {
	return fmt.Sprintf("http://%s:%d", s.podHost(s.agentName(i), agentService), APIPort)
}

// SupernodeAPI is the URL of supernode i's API proxy, for collect.
func (s Spec) SupernodeAPI(i int) string {
	return fmt.Sprintf("http://%s:%d", s.podHost(s.supernodeName(i), supernodeService), APIPort)
}

// OriginURL is the vendor origin's URL prefix.
func (s Spec) OriginURL() string {
	return fmt.Sprintf("http://%s.%s.svc.%s:%d/", vendorName, s.Namespace, s.ClusterDomain, OriginPort)
}
