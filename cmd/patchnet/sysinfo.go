package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/sysinfo"
)

func init() {
	rootCmd.AddCommand(newSysinfoCmd())
}

// sysinfoFormats are the values --format takes.
var sysinfoFormats = []string{"table", "json", "xml"}

func newSysinfoCmd() *cobra.Command {
	var root, format string
	var redact bool
	cmd := &cobra.Command{
		Use:   "sysinfo",
		Short: "Show this host's inventory: meta, hardware, OS, software, services",
		Long: `sysinfo prints the inventory patchnet matches updates against, in the
five categories of the paper: meta information (host kind and the evidence
for it, hostname, hashed host id), hardware, operating system (with its OSV
ecosystem), installed software (dpkg, rpm or apk: name, version, architecture,
source package, vendor, category, package URL) and listening services.

It only reads: the package databases, /proc, /sys and /etc under --root.
Nothing leaves the host. An agent sends its inventory nowhere unless the
operator opts into reporting; matching announcements is done locally.

A collector that fails (a corrupt rpm database, say) is reported under
"errors" and the rest of the inventory is still printed; the exit status is
then 1.`,
		Example: `  patchnet sysinfo
  patchnet sysinfo --format json | jq '.software | length'
  patchnet sysinfo --root /var/lib/machines/web1 --format xml
  patchnet sysinfo --redact --format json > inventory.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSysinfo(cmd, root, format, redact)
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", "/", "filesystem root to describe (a container image, chroot or mounted disk)")
	f.StringVar(&format, "format", "table", "output format: "+strings.Join(sysinfoFormats, ", "))
	f.BoolVar(&redact, "redact", false, "leave out hostname, host id and addresses")
	return cmd
}

func runSysinfo(cmd *cobra.Command, root, format string, redact bool) error {
	write, ok := map[string]func(io.Writer, *sysinfo.Inventory) error{
		"table": writeSysinfoTable, "json": writeSysinfoJSON, "xml": writeSysinfoXML,
	}[format]
	if !ok {
		return fmt.Errorf("--format %q: want one of %s", format, strings.Join(sysinfoFormats, ", "))
	}
	inv, err := sysinfo.Collect(cmd.Context(), sysinfo.Options{Root: root, AgentVersion: buildVersion()})
	if err != nil {
		return err
	}
	if redact {
		inv = inv.Redacted()
	}
	if err := write(cmd.OutOrStdout(), inv); err != nil {
		return fmt.Errorf("writing inventory: %w", err)
	}
	if n := len(inv.Errors); n > 0 {
		return fmt.Errorf("inventory incomplete: %d collector(s) failed (see the errors in the output)", n)
	}
	return nil
}

func writeSysinfoJSON(w io.Writer, inv *sysinfo.Inventory) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // maintainers' <addresses> stay readable
	return enc.Encode(inv)
}

func writeSysinfoXML(w io.Writer, inv *sysinfo.Inventory) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(inv); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// writeSysinfoTable prints the inventory for people: one block per
// category, aligned, the software as a summary then the list.
func writeSysinfoTable(w io.Writer, inv *sysinfo.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sections := []func(io.Writer, *sysinfo.Inventory){
		tableMeta, tableHardware, tableOS, tableSoftware, tableServices, tableErrors,
	}
	for i, s := range sections {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		s(tw, inv)
	}
	return tw.Flush()
}

// orNone shows an empty value as "-" so columns stay aligned.
func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tableMeta(w io.Writer, inv *sysinfo.Inventory) {
	m := inv.Meta
	fmt.Fprintln(w, "META")
	fmt.Fprintf(w, "  Kind\t%s (%s)\n", m.Kind, strings.Join(m.KindEvidence, "; "))
	if m.Redacted {
		fmt.Fprintf(w, "  Hostname\t(redacted)\n  Host ID\t(redacted)\n")
	} else {
		fmt.Fprintf(w, "  Hostname\t%s\n  Host ID\t%s\n", orNone(m.Hostname), orNone(m.HostID))
	}
	fmt.Fprintf(w, "  Agent\tpatchnet %s\n", m.AgentVersion)
	fmt.Fprintf(w, "  Root\t%s\n", m.Root)
	fmt.Fprintf(w, "  Collected\t%s\n", m.CollectedAt.Format("2006-01-02 15:04:05 MST"))
}

func tableHardware(w io.Writer, inv *sysinfo.Inventory) {
	h := inv.Hardware
	fmt.Fprintln(w, "HARDWARE")
	if h.LogicalCores == 0 {
		fmt.Fprintln(w, "  (no /proc under this root: not a running system)")
		return
	}
	fmt.Fprintf(w, "  Architecture\t%s\n", h.Architecture)
	fmt.Fprintf(w, "  CPU\t%s (%s)\n", orNone(h.CPUModel), orNone(h.CPUVendor))
	fmt.Fprintf(w, "  Cores\t%d logical, %d physical\n", h.LogicalCores, h.PhysicalCores)
	fmt.Fprintf(w, "  Speed\t%.0f MHz\n", h.MHz)
	fmt.Fprintf(w, "  Cache\t%d KB\n", h.CacheKB)
	fmt.Fprintf(w, "  Memory\t%.1f GiB\n", float64(h.MemoryBytes)/(1<<30))
}

func tableOS(w io.Writer, inv *sysinfo.Inventory) {
	o := inv.OS
	fmt.Fprintln(w, "OPERATING SYSTEM")
	fmt.Fprintf(w, "  Name\t%s\n", orNone(o.PrettyName))
	fmt.Fprintf(w, "  ID\t%s (like: %s)\n", orNone(o.ID), orNone(strings.Join(o.IDLike, " ")))
	fmt.Fprintf(w, "  Version\t%s (codename %s)\n", orNone(o.VersionID), orNone(o.Codename))
	fmt.Fprintf(w, "  Kernel\t%s\n", orNone(o.Kernel))
	fmt.Fprintf(w, "  OSV ecosystem\t%s\n", orNone(o.Ecosystem))
}

func tableSoftware(w io.Writer, inv *sysinfo.Inventory) {
	fmt.Fprintln(w, "SOFTWARE")
	fmt.Fprintf(w, "  %d packages%s\n", len(inv.Software), softwareSummary(inv.Software))
	if len(inv.Software) == 0 {
		return
	}
	// Sorted by name for reading; rpm lists in install order.
	pkgs := slices.Clone(inv.Software)
	slices.SortStableFunc(pkgs, func(a, b sysinfo.Package) int { return strings.Compare(a.Name, b.Name) })
	fmt.Fprintln(w, "  NAME\tVERSION\tARCH\tSOURCE\tCATEGORY\tMANAGER")
	for _, p := range pkgs {
		src := p.SourceName
		if p.SourceVersion != p.Version {
			src += " " + p.SourceVersion
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, orNone(p.Arch),
			orNone(src), orNone(p.Category), p.Manager)
	}
}

// softwareSummary is ": 712 dpkg; 40 system/libraries, 12 development/python, ..."
// — the managers, then the five commonest categories.
func softwareSummary(pkgs []sysinfo.Package) string {
	if len(pkgs) == 0 {
		return ""
	}
	managers, cats := map[string]int{}, map[string]int{}
	for _, p := range pkgs {
		managers[p.Manager]++
		if p.Category != "" {
			cats[p.Category]++
		}
	}
	return ": " + topCounts(managers, len(managers)) + "; most common categories: " + orNone(topCounts(cats, 5))
}

// topCounts formats the n largest counts, largest first, ties by name.
func topCounts(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, n)
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func tableServices(w io.Writer, inv *sysinfo.Inventory) {
	fmt.Fprintln(w, "SERVICES")
	if len(inv.Services) == 0 {
		fmt.Fprintln(w, "  (no listening sockets found)")
		return
	}
	fmt.Fprintln(w, "  PROTO\tADDRESS\tPORT\tSERVICE\tPROCESS")
	for _, s := range inv.Services {
		addr := s.Address
		if inv.Meta.Redacted {
			addr = "(redacted)"
		}
		proc := "-"
		if s.PID != 0 {
			proc = fmt.Sprintf("%s[%d]", s.Process, s.PID)
		}
		proto := s.Protocol
		if s.Family == "ipv6" {
			proto += "6"
		}
		fmt.Fprintf(w, "  %s\t%s\t%d\t%s\t%s\n", proto, addr, s.Port, orNone(s.Name), proc)
	}
}

func tableErrors(w io.Writer, inv *sysinfo.Inventory) {
	if len(inv.Errors) == 0 {
		return
	}
	fmt.Fprintln(w, "ERRORS")
	for _, e := range inv.Errors {
		fmt.Fprintf(w, "  %s\t%s\n", e.Collector, e.Error)
	}
}
