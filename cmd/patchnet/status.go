package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/node"
)

func init() { rootCmd.AddCommand(newStatusCmd()) }

const (
	// statusTextEvents is how many of the recent events the summary shows
	// (--json has all the daemon sends).
	statusTextEvents = 10
	// minStatusInterval bounds --interval from below.
	minStatusInterval = 100 * time.Millisecond
	// statusLineWidth is how wide the summary's lists of counters get.
	statusLineWidth = 76
	// defaultStatusInterval is how often --watch redraws by default.
	defaultStatusInterval = 2 * time.Second
	// clearScreen moves a terminal's cursor home and clears it.
	clearScreen = "\x1b[H\x1b[2J"
)

// statusOptions are the flags of patchnet status.
type statusOptions struct {
	state    string
	json     bool
	watch    bool
	interval time.Duration
}

func newStatusCmd() *cobra.Command {
	var configPath string
	o := statusOptions{state: defaultStateDir, interval: defaultStatusInterval}
	cmd := &cobra.Command{
		Use:   "status [--state DIR] [--json] [--watch [--interval 2s]]",
		Short: "Show what the node daemon running on a state directory is doing",
		Long: `status asks the node daemon ('patchnet agent' or 'patchnet supernode')
running on the state directory, over its local API socket STATE/patchnet.sock,
what it is doing, and prints a summary: its role and peer ID, its zone and
root, the addresses it listens on, the peers it is connected to, its gossip
mesh per topic, the DHT and bootstrap peers, the CRLs it holds with their
age and expiry (STALE once past their next update: signatures of that
issuer's certificates no longer count), on an agent the newest zone
heartbeat's age (STALE while the alarm is up), announcements pending short
of k co-signatures (k/n), artifact fetches in flight (x/y bytes, from which
peers), the updates it accepted with their state, and its most recent
events. --json prints the daemon's whole answer
instead; --watch redraws it every --interval until interrupted.

It fails when no daemon answers on the state directory.`,
		Example: `  patchnet status --state /var/lib/patchnet
  patchnet status --config /etc/patchnet/agent.toml --watch
  patchnet status --json | jq '.updates[] | select(.final | not)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath != "" && !cmd.Flags().Changed("state") {
				cfg, err := node.LoadConfig(configPath)
				if err != nil {
					return err
				}
				if cfg.State == "" {
					return fmt.Errorf("config %s: state is not set: give --state", configPath)
				}
				o.state = cfg.State
			}
			if cmd.Flags().Changed("interval") && !o.watch {
				return errors.New("--interval needs --watch")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runStatus(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "the node's TOML config file (its state key is used)")
	f.StringVar(&o.state, "state", o.state, "the node's state directory (the socket is STATE/"+node.APISocketName+")")
	f.BoolVar(&o.json, "json", false, "print the daemon's answer as JSON")
	f.BoolVar(&o.watch, "watch", false, "redraw every --interval until interrupted")
	f.DurationVar(&o.interval, "interval", o.interval, "how often --watch redraws")
	return cmd
}

// runStatus prints the daemon's status once, or with o.watch every
// o.interval until ctx ends. While watching, a daemon that stops answering
// is shown as such and asked again at the next interval.
func runStatus(ctx context.Context, w io.Writer, o statusOptions) error {
	if o.watch && o.interval < minStatusInterval {
		return fmt.Errorf("--interval %v: want at least %v", o.interval, minStatusInterval)
	}
	c, err := daemonAt(ctx, o.state)
	if err != nil {
		return err
	}
	if c == nil {
		return errNoDaemon(o.state)
	}
	defer c.Close()
	if !o.watch {
		return showStatus(ctx, w, c, o.json)
	}
	redraw := isTerminal(w) && !o.json
	for frame := 0; ; frame++ {
		var buf bytes.Buffer
		if err := showStatus(ctx, &buf, c, o.json); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if frame == 0 {
				return err
			}
			if errors.Is(err, node.ErrNoDaemon) {
				err = errNoDaemon(o.state)
			}
			fmt.Fprintf(&buf, "%s %v\n", time.Now().UTC().Format("15:04:05"), err)
		}
		switch {
		case redraw:
			io.WriteString(w, clearScreen)
		case frame > 0 && !o.json:
			fmt.Fprintln(w)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

// showStatus asks the daemon once and prints its answer: indented JSON,
// or the summary.
func showStatus(ctx context.Context, w io.Writer, c *node.APIClient, asJSON bool) error {
	if asJSON {
		raw, err := c.RawStatus(ctx)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("indenting status: %w", err)
		}
		buf.WriteByte('\n')
		_, err = w.Write(buf.Bytes())
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	return writeStatus(w, st)
}

// isTerminal reports whether w is a terminal, where --watch redraws in
// place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeStatus prints the summary of st.
func writeStatus(w io.Writer, st *node.APIStatus) error {
	var b bytes.Buffer
	roles := strings.Join(st.Roles, "+")
	if roles == "" {
		roles = "node"
	}
	root := st.Zone.Root
	if len(root) > 16 {
		root = root[:16] + "…"
	}
	fmt.Fprintf(&b, "%s %s of zone %s (root %s)\n", roles, st.ID, st.Zone.Name, root)
	for _, a := range st.Listen {
		fmt.Fprintf(&b, "listening on %s\n", a)
	}
	writePeers(&b, st)
	writeTopics(&b, st)
	writeRouting(&b, st)
	writeCRLs(&b, st)
	writeHeartbeat(&b, st)
	writePending(&b, st)
	writeFetching(&b, st)
	writeUpdates(&b, st)
	writeConflicts(&b, st)
	writeReports(&b, st)
	writeEvents(&b, st)
	writeCounters(&b, st)
	writeUsage(&b, st)
	_, err := w.Write(b.Bytes())
	return err
}

// writeCounters prints the overlay's counters, a few to a line.
func writeCounters(w io.Writer, st *node.APIStatus) {
	fmt.Fprintln(w, "overlay:")
	line := ""
	for _, k := range slices.Sorted(maps.Keys(st.Overlay)) {
		c := fmt.Sprintf("%s=%d", k, st.Overlay[k])
		if line != "" && len(line)+1+len(c) > statusLineWidth {
			fmt.Fprintf(w, "  %s\n", line)
			line = ""
		}
		line = strings.TrimPrefix(line+" "+c, " ")
	}
	if line != "" {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// writeUsage prints what the node served to peers, what its process
// used and what its block store held at the last prune.
func writeUsage(w io.Writer, st *node.APIStatus) {
	fmt.Fprintf(w, "served to peers: %d artifact bytes; process: peak RSS %d MiB, CPU %.1f s\n",
		st.Content.ServedBytes, st.Process.PeakRSSBytes>>20, st.Process.CPUSeconds)
	if p := st.Content.Pruned; p != nil {
		fmt.Fprintf(w, "block store: %d blocks, %d bytes, of %d current artifact(s) after the prune at %s (%d blocks, %d bytes deleted)\n",
			p.Blocks, p.Bytes, p.Artifacts, p.At.UTC().Format(time.DateTime+"Z"), p.Removed, p.FreedBytes)
	}
}

// table is the tabwriter of the summary's tables.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// writePeers lists the connected peers.
func writePeers(w io.Writer, st *node.APIStatus) {
	if st.PeersTotal == 0 {
		fmt.Fprintln(w, "peers: none connected")
		return
	}
	shown := ""
	if len(st.Peers) < st.PeersTotal {
		shown = fmt.Sprintf(" (%d shown)", len(st.Peers))
	}
	fmt.Fprintf(w, "peers: %d connected%s\n", st.PeersTotal, shown)
	tw := table(w)
	fmt.Fprintln(tw, "  PEER\tROLE\tSCORE\tADDRESS")
	for _, p := range st.Peers {
		score := "-"
		if p.Score != nil {
			score = strconv.FormatFloat(*p.Score, 'f', 1, 64)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.ID, p.Role, score, strings.Join(p.Addrs, ", "))
	}
	tw.Flush()
}

// writeTopics lists the gossip mesh and subscribed peers per topic.
func writeTopics(w io.Writer, st *node.APIStatus) {
	fmt.Fprintln(w, "gossip:")
	tw := table(w)
	fmt.Fprintln(tw, "  TOPIC\tMESH\tPEERS")
	for _, t := range st.Topics {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", t.Topic, t.Mesh, t.Peers)
	}
	tw.Flush()
}

// writeRouting shows the DHT and the bootstrap peers.
func writeRouting(w io.Writer, st *node.APIStatus) {
	if st.DHT == nil {
		fmt.Fprintln(w, "dht: off")
	} else {
		fmt.Fprintf(w, "dht: %s mode, %d peers in the routing table\n", st.DHT.Mode, st.DHT.RoutingTable)
	}
	if len(st.Bootstrap) == 0 {
		fmt.Fprintln(w, "bootstrap: no bootstrap peers configured")
		return
	}
	connected := 0
	for _, bp := range st.Bootstrap {
		if bp.Connected {
			connected++
		}
	}
	fmt.Fprintf(w, "bootstrap: %d of %d connected\n", connected, len(st.Bootstrap))
	tw := table(w)
	for _, bp := range st.Bootstrap {
		state := "not connected"
		if bp.Connected {
			state = "connected"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", bp.Addr, state)
	}
	tw.Flush()
}

// writeCRLs lists the CRLs held, their age and expiry, STALE once expired.
func writeCRLs(w io.Writer, st *node.APIStatus) {
	if len(st.CRLs) == 0 {
		fmt.Fprintln(w, "CRLs: none held")
		return
	}
	fmt.Fprintln(w, "CRLs:")
	tw := table(w)
	fmt.Fprintln(tw, "  ISSUER\tNUMBER\tREVOKED\tISSUED\tNEXT UPDATE")
	for _, c := range st.CRLs {
		next := relativeTime(st.Now, c.NextUpdate)
		if c.Stale {
			next += "  STALE"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", c.Issuer, c.Number, c.Revoked, relativeTime(st.Now, c.ThisUpdate), next)
	}
	tw.Flush()
}

// writeUpdates tables the agent's accepted updates.
func writeUpdates(w io.Writer, st *node.APIStatus) {
	if len(st.Updates) == 0 {
		fmt.Fprintln(w, "updates: none")
		return
	}
	inFlight := 0
	for _, u := range st.Updates {
		if !u.Final {
			inFlight++
		}
	}
	omitted := ""
	if st.UpdatesOmitted > 0 {
		omitted = fmt.Sprintf(", %d older ones not shown", st.UpdatesOmitted)
	}
	fmt.Fprintf(w, "updates: %d, %d in flight%s\n", len(st.Updates), inFlight, omitted)
	tw := table(w)
	fmt.Fprintln(tw, "  ID\tVERSION\tSTATE\tDETAIL\tUPDATED")
	for _, u := range st.Updates {
		detail := u.Detail
		if !u.NotBefore.IsZero() && !u.Final {
			detail = strings.TrimPrefix(detail+"; not before "+u.NotBefore.UTC().Format(time.DateTime+"Z"), "; ")
		}
		if detail == "" {
			detail = "-"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", u.ID, u.Version, u.State, clipNote(detail),
			u.Updated.UTC().Format(time.DateTime+"Z"))
	}
	tw.Flush()
}

// writeHeartbeat prints the newest zone heartbeat's age, and STALE while
// the stale alarm is up.
func writeHeartbeat(w io.Writer, st *node.APIStatus) {
	hb := st.Heartbeat
	switch {
	case hb == nil:
		return
	case hb.Newest.IsZero():
		fmt.Fprintf(w, "heartbeats: none heard yet (max age %s)%s\n", hb.MaxAge, staleMark(hb.Stale))
	default:
		fmt.Fprintf(w, "heartbeats: newest %s ago from %d supernode(s) (max age %s)%s\n",
			(time.Duration(hb.AgeSeconds * float64(time.Second))).Round(time.Second), hb.Supernodes, hb.MaxAge, staleMark(hb.Stale))
	}
}

func staleMark(stale bool) string {
	if stale {
		return " STALE: the zone may be cut off or frozen"
	}
	return ""
}

// writePending lists verified announcements short of k co-signatures.
func writePending(w io.Writer, st *node.APIStatus) {
	for _, p := range st.Pending {
		fmt.Fprintf(w, "pending: %s version %d, %d/%d co-signatures (payload %s)\n",
			p.ID, p.Version, p.CoSigners, p.Threshold, shortDigest(p.Digest.String()))
	}
}

// writeFetching lists artifact fetches in flight with their providers.
func writeFetching(w io.Writer, st *node.APIStatus) {
	for _, f := range st.Fetching {
		from := f.Source
		if len(f.Peers) > 0 {
			short := make([]string, len(f.Peers))
			for i, p := range f.Peers {
				short[i] = shortDigest(p)
			}
			from += ": " + strings.Join(short, ", ")
		}
		fmt.Fprintf(w, "fetching: artifact %s, %d/%d bytes from %s\n", shortDigest(f.SHA256), f.Done, f.Total, from)
	}
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12] + "…"
	}
	return d
}

// writeConflicts lists, on an agent, the conflicting co-signed payloads it
// holds: quarantined (held aside, never installed) or contested (no side
// accepted yet), with who signed them.
func writeConflicts(w io.Writer, st *node.APIStatus) {
	if len(st.Conflicts) == 0 {
		return
	}
	fmt.Fprintf(w, "conflicting co-signatures: %d payload(s) held\n", len(st.Conflicts))
	for _, a := range st.Conflicts {
		state, other := "quarantined", "accepted"
		if a.Contested {
			state, other = "contested", "held"
		}
		fmt.Fprintf(w, "  %s v%d %s %s, conflicts with %s %s\n", a.ID, a.Version, state, a.Second.Digest, other, a.First.Digest)
		fmt.Fprintf(w, "    signed by: %s\n", strings.Join(a.Second.Signers, "; "))
		if len(a.Equivocators) > 0 {
			fmt.Fprintf(w, "    signed both (no longer counted): %s\n", strings.Join(a.Equivocators, "; "))
		}
	}
}

// writeReports tables, on a supernode, the install reports agents that
// opted in sent, per update version: counts by outcome, then each agent;
// on an agent, how many of its own wait for a supernode.
func writeReports(w io.Writer, st *node.APIStatus) {
	if st.ReportsWaiting > 0 {
		fmt.Fprintf(w, "install reports waiting for a supernode: %d (sent again until one takes them)\n", st.ReportsWaiting)
	}
	if !slices.Contains(st.Roles, "supernode") {
		return
	}
	if len(st.Reports) == 0 {
		fmt.Fprintln(w, "install reports: none (agents send them only with [report] enabled = true)")
		return
	}
	fmt.Fprintf(w, "install reports: %d update version(s)\n", len(st.Reports))
	tw := table(w)
	fmt.Fprintln(tw, "  ID\tVERSION\tINSTALLED\tFAILED\tREFUSED")
	for _, r := range st.Reports {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", r.ID, r.Version, r.Counts[node.OutcomeInstalled], r.Counts[node.OutcomeFailed], r.Counts[node.OutcomeRefused])
	}
	tw.Flush()
	for _, r := range st.Reports {
		total := 0
		for _, c := range r.Counts {
			total += c
		}
		shown := ""
		if len(r.Agents) < total {
			shown = fmt.Sprintf(" (newest %d of %d)", len(r.Agents), total)
		}
		fmt.Fprintf(w, "  %s v%d%s:\n", r.ID, r.Version, shown)
		for _, a := range r.Agents {
			outcome := string(a.Outcome)
			if a.Reason != "" {
				outcome += " (" + a.Reason + ")"
			}
			fmt.Fprintf(w, "    %s %s %s\n", a.Agent, outcome, a.At.UTC().Format(time.DateTime+"Z"))
		}
	}
}

// writeEvents lists the most recent events.
func writeEvents(w io.Writer, st *node.APIStatus) {
	total := 0
	for _, n := range st.EventCounts {
		total += n
	}
	if total == 0 {
		fmt.Fprintln(w, "events: none yet")
		return
	}
	evs := st.Events
	if len(evs) > statusTextEvents {
		evs = evs[len(evs)-statusTextEvents:]
	}
	fmt.Fprintf(w, "events: last %d of %d\n", len(evs), total)
	for _, e := range evs {
		// As the daemon prints them (runNode), with a fetch's time.
		took := ""
		if e.TookMS > 0 {
			took = fmt.Sprintf(" (took %s)", time.Duration(e.TookMS)*time.Millisecond)
		}
		fmt.Fprintf(w, "  %s %s %s v%d: %s%s\n", e.At.UTC().Format("15:04:05.000"), e.Kind, e.ID, e.Version, e.Detail, took)
	}
}

// relativeTime is t as seen from now: "3h ago", "in 20h".
func relativeTime(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if d := now.Sub(t); d >= 0 {
		return roughDuration(d) + " ago"
	}
	return "in " + roughDuration(t.Sub(now))
}

// roughDuration is d in its largest whole unit: 45s, 12m, 5h, 3d.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
