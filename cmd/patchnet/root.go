package main

import (
	"errors"
	"fmt"
	"strings"

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

// suggestionDistance is how many edits apart a mistyped command may be from
// a subcommand that is suggested for it (cobra's own default).
const suggestionDistance = 2

// requireKnownSubcommands makes every command group below c (a command
// with subcommands and nothing to run of its own, such as ca, cert and
// update) refuse an argument that names none of its subcommands: cobra
// would print the group's help and succeed, so a mistyped command looked
// like it had worked. A group given no argument still prints its help.
// The root command is left to cobra, which already refuses an unknown
// command there.
func requireKnownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireKnownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = noSubcommandArgs
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// noSubcommandArgs refuses any argument left over once cobra found no
// subcommand of cmd by that name, naming it and any near spellings.
func noSubcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = suggestionDistance
	}
	if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
	}
	return errors.New(msg + "; run '" + cmd.CommandPath() + " --help' for its commands")
}
