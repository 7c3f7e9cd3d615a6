package testnet

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
)

// WriteTable writes r for people: the run's parameters, then one aligned
// table per subject — delivery percentiles per system beside patchnet's,
// patchnet's stages, egress, costs, time to patch beside the pull timers,
// checks and Table 2. A subject the run did not measure is left out, and a
// baseline it did not run has no row. It only prints what the report
// holds: the percentiles come from Summarize, in the runner.
func WriteTable(w io.Writer, r *Report) error {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	writeHeader(t, r)
	writeDelivery(t, r)
	writeStages(t, r)
	writeEgress(t, r)
	writeCosts(t, r)
	writePullTimers(t, r)
	writeChecks(t, r)
	writeTable2(t, r)
	if t.err == nil {
		t.err = t.tw.Flush()
	}
	if t.err != nil {
		return fmt.Errorf("writing table: %w", t.err)
	}
	return nil
}

// table is a tabwriter that keeps the first write error, so the section
// writers stay free of error plumbing.
type table struct {
	tw  *tabwriter.Writer
	err error
	// width is the current section's column count: tabwriter aligns only
	// cells a tab ends, so shorter rows are padded to it.
	width int
}

// head starts a section: a blank line, then its column names.
func (t *table) head(cells ...string) {
	t.width = 0
	t.row()
	t.width = len(cells)
	t.row(cells...)
}

// row writes cells separated by tabs, as one line.
func (t *table) row(cells ...string) {
	for len(cells) < t.width {
		cells = append(cells, "")
	}
	if t.err == nil {
		_, t.err = io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
	}
}

func writeHeader(t *table, r *Report) {
	bw := "uncapped"
	if r.BandwidthBPS > 0 {
		bw = fmtRate(r.BandwidthBPS)
	}
	over := ""
	if r.Transport != "" {
		over = " over " + r.Transport
	}
	t.row(fmt.Sprintf("scenario %s in %s mode%s: %d agents, %d supernodes, k=%d",
		r.Scenario, r.Mode, over, r.Nodes, r.Supernodes, r.Threshold))
	announcement := ""
	if r.AnnouncementBytes > 0 {
		announcement = fmt.Sprintf("; announcement %s", fmtBytes(r.AnnouncementBytes))
	}
	loss := ""
	if r.JitterMS > 0 {
		loss = ", jitter " + fmtMS(r.JitterMS)
	}
	if r.Loss > 0 {
		loss += fmt.Sprintf(", loss %.3g%%", 100*r.Loss)
	}
	t.row(fmt.Sprintf("links: latency %s%s, bandwidth %s; artifact %s%s; set-up %s",
		fmtMS(r.LatencyMS), loss, bw, fmtBytes(r.ArtifactBytes), announcement, fmtMS(r.SetupS*1000)))
}

// writeDelivery prints each system's percentiles, and when a baseline ran
// the ratio patchnet/baseline at p50 and p99 (below 1: patchnet is faster).
func writeDelivery(t *table, r *Report) {
	if len(r.Results) == 0 {
		return
	}
	pn, hasPN := r.Results[ResultPatchnet]
	ratios := hasPN && len(r.Results) > 1
	head := []string{"DELIVERY", "DELIVERED", "P50", "P90", "P99", "MAX"}
	if ratios {
		head = append(head, "PATCHNET/THIS AT P50", "AT P99")
	}
	t.head(head...)
	for _, key := range systemOrder(r.Results) {
		res := r.Results[key]
		cells := append([]string{SystemLabel(key)}, resultCells(res)...)
		if ratios && key != ResultPatchnet {
			cells = append(cells, fmtRatio(pn.P50MS, res.P50MS), fmtRatio(pn.P99MS, res.P99MS))
		}
		t.row(cells...)
	}
}

// resultCells are a Result's share and percentiles, formatted.
func resultCells(res Result) []string {
	return []string{fmt.Sprintf("%.1f%%", res.Delivered*100),
		fmtMS(res.P50MS), fmtMS(res.P90MS), fmtMS(res.P99MS), fmtMS(res.MaxMS)}
}

// writeStages prints patchnet's stages in the order they happen, which is
// the order of their medians (receipt before acceptance before install).
func writeStages(t *table, r *Report) {
	if len(r.Stages) == 0 {
		return
	}
	t.head("PATCHNET STAGE", "DELIVERED", "P50", "P90", "P99", "MAX")
	stages := slices.SortedFunc(maps.Keys(r.Stages), func(a, b string) int {
		return cmp.Or(cmp.Compare(r.Stages[a].P50MS, r.Stages[b].P50MS), cmp.Compare(a, b))
	})
	for _, s := range stages {
		t.row(append([]string{s}, resultCells(r.Stages[s])...)...)
	}
}

// writeEgress compares what the vendor's origin served with patchnet to
// what its peers served, and to what the origin served alone over HTTP
// when that baseline ran.
func writeEgress(t *table, r *Report) {
	_, http := r.Results[ResultHTTPOrigin]
	http = http || r.HTTPOriginEgressBytes > 0
	if http {
		t.head("EGRESS", "BYTES", "PER AGENT", "HTTP/PATCHNET")
	} else {
		t.head("EGRESS", "BYTES", "PER AGENT")
	}
	t.row("vendor origin (patchnet)", fmtBytes(r.OriginEgressBytes))
	t.row("peers (patchnet)", fmtBytes(r.PeerEgressBytes), perNode(r.PeerEgressBytes, r.Nodes))
	if http {
		t.row("vendor origin (HTTP baseline)", fmtBytes(r.HTTPOriginEgressBytes), "",
			fmtRatio(float64(r.HTTPOriginEgressBytes), float64(r.OriginEgressBytes)))
	}
}

// writeCosts prints what patchnet cost the nodes, and the duplicates of
// raw gossipsub beside its own when that baseline ran.
func writeCosts(t *table, r *Report) {
	dups := []string{"duplicates per message", fmt.Sprintf("%.2f", r.DuplicatesPerMessage)}
	if _, ok := r.Results[ResultRawGossipsub]; ok {
		t.head("COST", "PATCHNET", "RAW GOSSIPSUB")
		dups = append(dups, fmt.Sprintf("%.2f", r.RawDuplicatesPerMessage))
	} else {
		t.head("COST", "PATCHNET")
	}
	t.row(dups...)
	t.row("memory per node", fmtBytes(r.MemoryPerNodeBytes))
	if r.LiveMemoryPerNodeBytes > 0 {
		t.row("live memory per node", fmtBytes(r.LiveMemoryPerNodeBytes))
	}
	if r.CPUSeconds > 0 {
		t.row("CPU", fmtMS(r.CPUSeconds*1000))
	}
	t.row("wrong installs", fmt.Sprint(r.WrongInstalls))
}

// writePullTimers prints patchnet's measured time to patch (p50 as the
// mean, p99 as the worst) beside each pull timer's mean wait (half its
// interval) and worst wait (all of it).
func writePullTimers(t *table, r *Report) {
	pn, ok := r.Results[ResultPatchnet]
	if !ok || pn.Delivered == 0 {
		return
	}
	timers := r.PullTimers
	if len(timers) == 0 {
		timers = DefaultPullTimers()
	}
	t.head("TIME TO PATCH", "INTERVAL", "MEAN WAIT", "WORST", "MEAN/PATCHNET P50")
	t.row("patchnet (measured p50, p99)", "push", fmtMS(pn.P50MS), fmtMS(pn.P99MS))
	names := slices.SortedFunc(maps.Keys(timers), func(a, b string) int {
		return cmp.Or(cmp.Compare(timers[a], timers[b]), cmp.Compare(a, b))
	})
	for _, name := range names {
		ms := timers[name] * 1000
		t.row(pullTimerLabel(name), fmtMS(ms), fmtMS(ms/2), fmtMS(ms), fmtRatio(ms/2, pn.P50MS))
	}
}

// pullTimerLabels name the pull timers of DefaultPullTimers for people.
var pullTimerLabels = map[string]string{
	PullAptDailyMin:   "apt-daily.timer (soonest)",
	PullAptDailyMax:   "apt-daily.timer (latest)",
	PullWindowsUpdate: "Windows Update",
	PullRhnsd:         "rhnsd",
}

func pullTimerLabel(key string) string {
	if l, ok := pullTimerLabels[key]; ok {
		return l
	}
	return key
}

func writeChecks(t *table, r *Report) {
	if len(r.Checks) == 0 {
		return
	}
	t.head("CHECK", "RESULT")
	for _, name := range slices.Sorted(maps.Keys(r.Checks)) {
		res := "ok"
		if !r.Checks[name] {
			res = "FAILED"
		}
		t.row(name, res)
	}
}

// writeTable2 prints the paper's experiment beside this run: S1 is the
// download, S2 verification and install, both in seconds.
func writeTable2(t *table, r *Report) {
	if len(r.Table2) == 0 {
		return
	}
	t.head("TABLE 2", "PACKAGE", "SIZE", "S1 HERE", "S1 PAPER", "S1 LINE RATE", "S2 HERE", "S2 PAPER", "PKG MANAGER ALONE")
	for _, row := range r.Table2 {
		t.row(row.System, row.Package, fmtBytes(row.Bytes),
			fmtMS(row.S1S*1000), fmtMS(row.PaperS1S*1000), fmtMS(row.LineRateS1S*1000),
			fmtMS(row.S2S*1000), fmtMS(row.PaperS2S*1000), fmtMS(row.ManagerS*1000))
	}
}

// fmtMS writes a duration in milliseconds in the unit that reads best.
func fmtMS(ms float64) string {
	switch d := time.Duration(ms * float64(time.Millisecond)); {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	default:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
}

// fmtRatio is a/b as "1.23×", or "" when b is zero.
func fmtRatio(a, b float64) string {
	if b == 0 {
		return ""
	}
	if v := a / b; v >= 100 {
		return humanize.Comma(int64(v)) + "×"
	}
	return fmt.Sprintf("%.3g×", a/b)
}

func fmtBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// fmtRate writes bytes per second as bits per second, as links are sold.
func fmtRate(bps int64) string { return humanize.SIWithDigits(float64(bps)*8, 3, "bit/s") }

// perNode is total shared over n agents, or "" without agents.
func perNode(total int64, n int) string {
	if n <= 0 {
		return ""
	}
	return fmtBytes(total / int64(n))
}
