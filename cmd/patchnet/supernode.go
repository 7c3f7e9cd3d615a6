package main

import (
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/trust"
)

func init() { rootCmd.AddCommand(newSupernodeCmd()) }

func newSupernodeCmd() *cobra.Command {
	return newNodeCmd(trust.RoleSupernode, &cobra.Command{
		Use:   "supernode --config FILE",
		Short: "Run a supernode: verify each announcement on its own and co-sign it",
		Long: `supernode runs a patchnet supernode until SIGINT or SIGTERM. For every
announcement a publisher of its zone sends on the supernodes' topic, it
verifies the signatures, chains, roles, expiry and version itself, fetches
the artifact (from peers, or the vendor URL) and checks its size and SHA-256,
and only then adds its co-signature and republishes the announcement to the
zone's agents. It never co-signs a version lower than one it co-signed, nor
a second payload for the same id and version. It serves and provides the
artifacts it checked.

The node's certificate (node.crt beside node.key, in --state by default) must
carry the supernode role. Flags override the config file's keys of the same
name.`,
		Example: `  patchnet supernode --config /etc/patchnet/supernode.toml
  patchnet supernode --state /var/lib/patchnet --root /etc/patchnet/root.crt --zone acme \
      --listen /ip4/0.0.0.0/tcp/4001`,
	})
}
