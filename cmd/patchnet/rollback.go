package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/updates/install"
)

func init() { rootCmd.AddCommand(newRollbackCmd()) }

func newRollbackCmd() *cobra.Command {
	var configPath string
	flagCfg := defaultApplyConfig()
	cmd := &cobra.Command{
		Use:   "rollback TX",
		Short: "Restore the before-state of an install transaction",
		Long: `rollback undoes the committed install transaction TX (an id from
'patchnet history') by restoring its before-state through the same installer:
the kept previous .deb, .rpm or .apk is reinstalled (or the package removed
if it was not installed before), an archive's previous tree is swapped back,
a script's declared rollback action runs. The kept files are checked against
the digests the journal recorded first. It needs no network.

The rollback is itself a journalled transaction linked to TX. It works on
the root TX was installed into. An irreversible transaction (a script
without a rollback action, a previous package version patchnet did not keep
and could not rebuild) is refused with the reason. So is a transaction that
a later one on the same package or archive prefix still stands on: the
error names the later transaction, to be rolled back first, since restoring
TX's before-state would silently undo it too.

When a node daemon runs on the state directory it holds the journal, so the
rollback runs in the daemon, through its install manager and its [install]
configuration, asked over STATE/patchnet.sock; the output is the same.`,
		Example: `  patchnet history --state /var/lib/patchnet
  patchnet rollback 20261126-071500.123456-ab12cd --state /var/lib/patchnet`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := mergedConfig(cmd, configPath, flagCfg)
			if err != nil {
				return err
			}
			return runRollback(cmd.Context(), cmd.OutOrStdout(), cfg, args[0])
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "TOML config file (state, tools, tool_pins, require_tool_pins)")
	cmd.Flags().StringVar(&flagCfg.State, "state", flagCfg.State, "state directory holding the journal")
	return cmd
}

// runRollback rolls TX back on the root it was installed into.
func runRollback(ctx context.Context, w io.Writer, cfg applyConfig, id string) error {
	if err := install.CheckTxID(id); err != nil {
		return err
	}
	if done, err := daemonRollback(ctx, w, cfg.State, id); done || err != nil {
		return err // done through the daemon, which holds the journal, or it could not be asked
	}
	root, err := transactionRoot(cfg.State, id)
	if err != nil {
		return err
	}
	cfg.Sysroot = root
	m, err := openInstaller(ctx, w, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	printRollingBack(w, id, root)
	tx, err := m.Rollback(ctx, id)
	return rollbackOutcome(w, id, tx, err)
}

// printRollingBack announces the rollback of id in root.
func printRollingBack(w io.Writer, id, root string) {
	fmt.Fprintf(w, "rolling back %s in %s\n", id, root)
}

// rollbackOutcome prints the rollback of id that ended with tx and err, or
// returns its error.
func rollbackOutcome(w io.Writer, id string, tx *install.Transaction, err error) error {
	if err != nil {
		if tx != nil {
			return fmt.Errorf("rollback transaction %s %s: %w", tx.ID, tx.State, err)
		}
		return err
	}
	fmt.Fprintf(w, "rolled back %s: %s is restored (transaction %s)\n", id, tx.Goal, tx.ID)
	return nil
}

// transactionRoot reads the root a transaction was installed into.
func transactionRoot(state, id string) (string, error) {
	dir := filepath.Join(state, "journal")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("no journal at %s (is --state right?): %w", dir, err)
	}
	store, err := install.OpenBadgerStore(dir)
	if err != nil {
		return "", err
	}
	defer store.Close()
	tx, err := store.Get(id)
	if err != nil {
		return "", err
	}
	return tx.Root, nil
}
