package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// rootCmd is the top of the command tree. Each subcommand lives in its own
// file and registers itself from init, so files can be added without
// touching this one.
var rootCmd = &cobra.Command{
	Use:   "patchnet",
	Short: "Push signed software updates to every host that needs them, within seconds",
	Long: `patchnet pushes signed software updates to every host that needs them,
across organisations, within seconds of their release.

Agents form collectives over libp2p gossip; supernodes verify every update
independently and co-sign it; zones sit under zone CAs below pinned root CAs.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// normalizeFlag accepts --roots, the spelling of earlier versions, as
// --root: every command names pinned roots with one repeatable --root.
// Commands that take pinned roots install it on their flag set.
func normalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "roots" {
		name = "root"
	}
	return pflag.NormalizedName(name)
}
