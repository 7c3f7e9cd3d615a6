package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/updates/install"
)

func init() { rootCmd.AddCommand(newHistoryCmd()) }

// historyFormats are the values --format takes.
var historyFormats = []string{"table", "json"}

func newHistoryCmd() *cobra.Command {
	var configPath, format string
	flagCfg := defaultApplyConfig()
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List install and rollback transactions from the journal",
		Long: `history lists every install and rollback transaction in the journal of the
state directory, oldest first: its id (for 'patchnet rollback'), the
announcement, the install method, what it changed (before → after), its
state and outcome. It reads the journal only and needs no network.

States: committed (the host is at the new state), failed (the host was left
at, or restored to, the before-state), broken (neither could be confirmed:
look at the alert), or an unfinished state that the next apply or rollback
recovers.

BEFORE says whether a committed transaction's before-state is there for
'patchnet rollback': kept, pruned (deleted by the [retention] policy: the
note names the prune record, and rolling it back is refused), none (nothing
can restore it), used (it was rolled back). Each run of the retention
policy is a "prune" line: what it deleted, why, and the bytes freed. --format json prints whole records, including tool digests,
steps with times, alerts and the tools' output.

When a node daemon runs on the state directory it holds the journal, so
history asks it over STATE/patchnet.sock; the output is the same.`,
		Example: `  patchnet history --state /var/lib/patchnet
  patchnet history --state /var/lib/patchnet --format json | jq '.[-1].log'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := mergedConfig(cmd, configPath, flagCfg)
			if err != nil {
				return err
			}
			return runHistory(cmd.Context(), cmd.OutOrStdout(), cfg.State, format)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "TOML config file (its state key is used)")
	cmd.Flags().StringVar(&flagCfg.State, "state", flagCfg.State, "state directory holding the journal")
	cmd.Flags().StringVar(&format, "format", "table", "output format: "+strings.Join(historyFormats, ", "))
	return cmd
}

// runHistory prints the journal without recovering anything: looking must
// not change the host. A daemon running on state holds the journal, so it
// is asked for it.
func runHistory(ctx context.Context, w io.Writer, state, format string) error {
	if format != "table" && format != "json" {
		return fmt.Errorf("--format %q: want one of %s", format, strings.Join(historyFormats, ", "))
	}
	if txs, ok, err := daemonHistory(ctx, state); ok || err != nil {
		if err != nil {
			return err
		}
		return writeHistory(w, txs, format)
	}
	dir := filepath.Join(state, "journal")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		_, err := fmt.Fprintf(w, "no transactions: no journal at %s\n", dir)
		return err
	}
	store, err := install.OpenBadgerStore(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	txs, err := store.List()
	if err != nil {
		return err
	}
	return writeHistory(w, txs, format)
}

// writeHistory prints txs in format, table or json.
func writeHistory(w io.Writer, txs []*install.Transaction, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if txs == nil {
			txs = []*install.Transaction{}
		}
		return enc.Encode(txs)
	}
	return writeHistoryTable(w, txs)
}

// writeHistoryTable prints one line per transaction.
func writeHistoryTable(w io.Writer, txs []*install.Transaction) error {
	if len(txs) == 0 {
		_, err := fmt.Fprintln(w, "no transactions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTION\tSTARTED\tKIND\tANNOUNCEMENT\tMETHOD\tCHANGE\tSTATE\tBEFORE\tNOTE")
	for _, tx := range txs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tx.ID, tx.Started().Format("2006-01-02 15:04:05Z"),
			tx.Kind, announcementText(tx), dash(tx.Plan.Method), changeText(tx), tx.State, tx.BeforeStatus(), noteText(tx))
	}
	return tw.Flush()
}

// announcementText is "ID vN".
func announcementText(tx *install.Transaction) string {
	if tx.Plan.AnnouncementID == "" {
		return "-"
	}
	return fmt.Sprintf("%s v%d", tx.Plan.AnnouncementID, tx.Plan.AnnouncementVersion)
}

// dash stands in for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// changeText is "before → goal", or what a prune record deleted.
func changeText(tx *install.Transaction) string {
	if tx.Kind == install.KindPrune {
		return tx.Outcome()
	}
	if tx.Goal.Package == "" && tx.Goal.Prefix == "" {
		return "-"
	}
	from := "none"
	switch {
	case tx.Before.Version != "":
		from = tx.Before.Version
	case tx.Before.Kind == install.BeforeTree:
		from = "previous tree"
	}
	to := tx.Goal.Version
	if tx.Goal.Absent {
		to = "removed"
	}
	return fmt.Sprintf("%s %s → %s", tx.Goal.Package, from, to)
}

// noteText says what a person should know: the link between a rollback
// and its install, the error, missing before-states, alerts.
func noteText(tx *install.Transaction) string {
	var notes []string
	if tx.RollbackOf != "" {
		notes = append(notes, "undoes "+tx.RollbackOf)
	}
	if tx.RolledBackBy != "" {
		notes = append(notes, "rolled back by "+tx.RolledBackBy)
	}
	if tx.PrunedBy != "" {
		notes = append(notes, "before-state pruned by "+tx.PrunedBy)
	}
	if tx.Kind == install.KindPrune {
		notes = append(notes, pruneReasons(tx)...)
	}
	if tx.Kind == install.KindInstall && tx.State == install.StateCommitted && !tx.Before.Restorable() {
		notes = append(notes, "irreversible: "+tx.Before.Note)
	}
	if tx.Recovered {
		notes = append(notes, "finished by crash recovery")
	}
	if len(tx.Alerts) > 0 {
		notes = append(notes, fmt.Sprintf("%d alert(s): %s", len(tx.Alerts), tx.Alerts[0].Kind))
	}
	if tx.Error != "" {
		notes = append(notes, clipNote(tx.Error))
	}
	return strings.Join(notes, "; ")
}

// clipNote keeps a table cell to one readable line.
func clipNote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// pruneReasons says, per reason, how many files of which transactions a
// prune record deleted: "keep_last 3: …: 4 file(s) of 2 transaction(s)".
func pruneReasons(tx *install.Transaction) []string {
	type count struct{ files, txs int }
	var order []string
	counts := map[string]*count{}
	seen := map[string]bool{}
	for _, f := range tx.Pruned {
		c := counts[f.Why]
		if c == nil {
			c = &count{}
			counts[f.Why] = c
			order = append(order, f.Why)
		}
		c.files++
		if f.Of != "" && !seen[f.Why+f.Of] {
			seen[f.Why+f.Of] = true
			c.txs++
		}
	}
	var out []string
	for _, why := range order {
		c := counts[why]
		text := fmt.Sprintf("%s: %d file(s)", why, c.files)
		if c.txs > 0 {
			text += fmt.Sprintf(" of %d transaction(s)", c.txs)
		}
		out = append(out, clipNote(text))
	}
	return out
}
