// Package k8s renders the Kubernetes manifests that run a patchnet test
// zone on a cluster with the same binary, and collects the nodes' reports
// into a testnet.Report.
//
// Render makes the zone's PKI with trust/ca (root, zone CA, one key and
// certificate per node), the pre-shared key of a private zone, the lab's
// old .deb, its fix (padded to a chosen size) and the vendor's signature of
// it, and builds from k8s.io/api types: a
// Namespace; a Secret per node (its key and certificate) and one for the
// PSK; ConfigMaps for the PKI's public files, the vendor origin's files
// and each supernode's and the publisher's config; a one-replica
// StatefulSet per supernode and per agent behind headless Services, so
// each pod mounts only its own key and has a stable DNS name; a vendor
// origin Deployment and Service (Origin: it counts what it serves); and a
// Job for the publisher. The fix is not carried (a ConfigMap holds 1 MiB):
// the vendor's and the publisher's pods rebuild it byte for byte and check
// render's digest. Scenarios
// beyond propagation are written into containers, since nothing here
// talks to the cluster: the publisher Job first plays a key's thief
// (stolen-key), a byzantine supernode (byzantine) or sends a revoking CRL
// (revocation); late-join agents wait in an init container; churned
// agents run their node behind a wrapper that SIGKILLs it (churn); a
// flooder Job runs peers outside the PKI next to some agents (flood); a
// content zone publishes a large fix, judged by the origins' egress; a
// private zone renders beside the zone in its namespace (Spec.Zones, its
// names prefixed) under the same root (private-zone); a cut side's pods
// cut themselves off and heal (partition); with shaping, every pod
// shapes its own link; propagation and content then run the HTTP-origin
// baseline (baseline.go), every agent's pod downloading the fix from the
// origin at once, released by the origin's barrier. Node
// configs come from the caller's ConfigFunc (the CLI passes `patchnet
// init`'s renderer), so there is one config template.
//
// Collect reads /v1/status and /v1/history of each node, over its unix
// socket or through the read-only API proxy (Proxy) the pods run beside
// the node, and turns the lifecycle events into testnet.Samples and the
// statuses' counters (bytes served, fetch sources, gossip duplicates,
// process memory and CPU) into the report's (FillCounters, which the netns
// mode uses too), with the vendor origin's egress, audits each agent's journal for wrong installs, and
// adds the played scenario's checks (scenariochecks.go).
//
// It talks to no cluster: an operator applies the YAML with kubectl. It
// decides no trust — the nodes it deploys do — and production code must
// not import it.
package k8s
