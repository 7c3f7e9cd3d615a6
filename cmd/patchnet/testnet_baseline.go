package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet/k8s"
	"github.com/patchnet/patchnet/updates"
)

func init() { testnetCmd.AddCommand(newTestnetHTTPBaselineCmd()) }

// baselineOptions are the flags of `patchnet testnet http-baseline`.
type baselineOptions struct {
	client            k8s.BaselineClient
	sha256, state, id string
	marker            string
	size              int64
	timeout           time.Duration
}

// newTestnetHTTPBaselineCmd builds `patchnet testnet http-baseline`, an
// agent pod's part of the rendered zone's HTTP-origin baseline.
func newTestnetHTTPBaselineCmd() *cobra.Command {
	var o baselineOptions
	cmd := &cobra.Command{
		Use:    "http-baseline --origin URL --name POD --file NAME --sha256 HEX --size N --state DIR --update-id ID --marker FILE",
		Short:  "Download the fix from the vendor origin with every other agent, once all installed it, and report the time",
		Hidden: true,
		Long: `http-baseline waits until the agent of --state installed --update-id, registers
as --name at the vendor origin's barrier (serve-origin --baseline-clients),
which lets every client go at once when all came, downloads --file from it
over HTTP, checking --size and --sha256, and posts the time from the
release to its last byte. Then it idles until stopped: it is a container
of the agent's pod, and one that exits is started again; --marker, written
once the result was posted, keeps a container started again from
downloading twice. --timeout bounds the whole.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSidecar(cmd, func(ctx context.Context, w io.Writer) error { return runHTTPBaseline(ctx, w, o) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.client.Origin, "origin", "", "the vendor origin's URL (required)")
	f.StringVar(&o.client.Name, "name", "", "this client's name, its agent's pod (required)")
	f.StringVar(&o.client.File, "file", "", "the artifact's file name on the origin (required)")
	f.StringVar(&o.sha256, "sha256", "", "the artifact's SHA-256, hex (required)")
	f.Int64Var(&o.size, "size", 0, "the artifact's size in bytes (required)")
	f.StringVar(&o.state, "state", "", "the agent's state directory, whose API says when it installed (required)")
	f.StringVar(&o.id, "update-id", "", "the update the agent must have installed first (required)")
	f.StringVar(&o.marker, "marker", "", "file written once the result was posted (required)")
	f.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	for _, name := range []string{"origin", "name", "file", "sha256", "size", "state", "update-id", "marker"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// runHTTPBaseline is the download, unless the marker says it was done.
func runHTTPBaseline(ctx context.Context, w io.Writer, o baselineOptions) error {
	if _, err := os.Stat(o.marker); err == nil {
		fmt.Fprintf(w, "the HTTP baseline was run before (%s)\n", o.marker)
		return nil
	}
	sum, err := hex.DecodeString(o.sha256)
	if err != nil || len(sum) != len(updates.Digest{}) {
		return fmt.Errorf("--sha256 %q: want %d hex digits", o.sha256, 2*len(updates.Digest{}))
	}
	if o.size < 1 {
		return fmt.Errorf("--size %d: want the artifact's size in bytes", o.size)
	}
	o.client.Want = updates.Want{Size: o.size, SHA256: updates.Digest(sum)}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fmt.Fprintf(w, "waiting for the agent to install %s\n", o.id)
	if err := k8s.WaitForEvent(ctx, []string{o.state}, o.id, node.EventInstalled, testnetWaitPoll, nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "installed; waiting at %s's barrier\n", o.client.Origin)
	res, err := o.client.Run(ctx)
	if err != nil {
		return err
	}
	if res.Error != "" {
		fmt.Fprintf(w, "downloaded %d bytes, not the artifact: %s\n", res.Bytes, res.Error)
	} else {
		fmt.Fprintf(w, "downloaded %d bytes in %v\n", res.Bytes, res.Took().Round(time.Millisecond))
	}
	if err := os.WriteFile(o.marker, nil, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.marker, err)
	}
	return nil
}

// runSidecar runs a pod's sidecar step until it is done, then idles until
// SIGTERM or SIGINT: a container that exits is started again.
func runSidecar(cmd *cobra.Command, step func(context.Context, io.Writer) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := step(ctx, cmd.OutOrStdout()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
