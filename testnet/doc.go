// Package testnet runs a patchnet zone as a test network and reports what
// happened in it, beside baselines measured in the same run.
//
// It owns the scenario names, the run parameters and the report (the JSON
// in SCHEMA.md, its summary table and plots). The ways to run a zone live
// in sub-packages, one per mode, and all fill the same Report:
//
//   - testnet/sim: hundreds to thousands of full nodes (the node package's
//     own code) in one process over a simulated network;
//   - testnet/netns: real patchnet processes, each in its own network
//     namespace on shaped links;
//   - testnet/k8s: manifests that run the same binary on a Kubernetes
//     cluster, and collection of the nodes' reports.
//
// It is a harness: production code (node, overlay, updates, trust) must not
// import it, and nothing here decides trust — the nodes it runs do.
package testnet
