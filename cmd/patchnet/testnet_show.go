package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/testnet"
)

func init() { testnetCmd.AddCommand(newTestnetShowCmd()) }

// newTestnetShowCmd builds `patchnet testnet show`.
func newTestnetShowCmd() *cobra.Command {
	var plot string
	cmd := &cobra.Command{
		Use:   "show REPORT.json [--plot FILE.svg]",
		Short: "Print a testnet report's table (and write its plots) from its JSON",
		Long: `show reads a report that 'patchnet testnet --report' or 'patchnet testnet
collect' wrote and prints the table 'patchnet testnet' prints at the end of a
run: the systems' delivery percentiles side by side, patchnet's stages,
egress, duplicates, memory, the pull timers and the checks. --plot writes
the same SVG as the run's --plot. It exits non-zero when a check failed.
Use it for a report made where no table could be read, as collect --quiet
run through 'kubectl run -i' writes.`,
		Example: `  kubectl -n patchnet-testnet run collect -q --rm -i --restart=Never --image patchnet:dev -- testnet collect --quiet ... > report.json
  patchnet testnet show report.json --plot report.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd.OutOrStdout(), args[0], plot)
		},
	}
	cmd.Flags().StringVar(&plot, "plot", "", "file to write the plots to (SVG)")
	return cmd
}

// runShow prints the table of the report in file and writes its plots.
func runShow(w io.Writer, file, plot string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := testnet.ReadReport(io.LimitReader(f, maxReportBytes))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := testnet.WriteTable(w, rep); err != nil {
		return err
	}
	if plot != "" {
		if err := writeReportFile(plot, rep, testnet.WritePlots); err != nil {
			return err
		}
	}
	if err := checksFailed(rep); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// maxReportBytes bounds a report show reads: a few thousand samples are a
// few MiB.
const maxReportBytes = 256 << 20
