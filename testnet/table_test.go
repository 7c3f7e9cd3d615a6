package testnet

import (
	"bytes"
	"strings"
	"testing"
)

// tableRow finds the line of out that starts with label and splits it on
// runs of two or more spaces, tabwriter's column gap.
func tableRow(t *testing.T, out, label string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, label+"  ") {
			var cells []string
			for _, c := range strings.Split(line, "  ") {
				if c = strings.TrimSpace(c); c != "" {
					cells = append(cells, c)
				}
			}
			return cells
		}
	}
	t.Fatalf("no row %q in:\n%s", label, out)
	return nil
}

func TestWriteTable(t *testing.T) {
	r := fixtureReport()
	r.Checks["survivors_accepted"] = false
	var buf bytes.Buffer
	if err := WriteTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Log("\n" + out)
	pn, raw := r.Results[ResultPatchnet], r.Results[ResultRawGossipsub]
	for label, want := range map[string][]string{
		"patchnet": {"patchnet", "96.0%", fmtMS(pn.P50MS), fmtMS(pn.P90MS), fmtMS(pn.P99MS), fmtMS(pn.MaxMS)},
		"raw gossipsub": {"raw gossipsub", "100.0%", fmtMS(raw.P50MS), fmtMS(raw.P90MS), fmtMS(raw.P99MS), fmtMS(raw.MaxMS),
			fmtRatio(pn.P50MS, raw.P50MS), fmtRatio(pn.P99MS, raw.P99MS)},
		"peers (patchnet)":              {"peers (patchnet)", "45 MiB", "922 KiB"},
		"vendor origin (HTTP baseline)": {"vendor origin (HTTP baseline)", "50 MiB", "16.7×"},
		"duplicates per message":        {"duplicates per message", "1.50", "3.25"},
		"memory per node":               {"memory per node", "4.3 MiB"},
		"live memory per node":          {"live memory per node", "2.9 MiB"},
		"rhnsd":                         {"rhnsd", "4.0 h", "2.0 h", "4.0 h", fmtRatio(2*3600*1000, pn.P50MS)},
		"Windows Update":                {"Windows Update", "22.0 h", "11.0 h", "22.0 h", fmtRatio(11*3600*1000, pn.P50MS)},
		"apt-daily.timer (latest)":      {"apt-daily.timer (latest)", "24.0 h", "12.0 h", "24.0 h", fmtRatio(12*3600*1000, pn.P50MS)},
		"survivors_accepted":            {"survivors_accepted", "FAILED"},
		"all_accepted":                  {"all_accepted", "ok"},
		"debian":                        {"debian", "openssl", "1.4 MiB", "800 ms", "2.50 s", "600 ms", "1.10 s", "1.90 s", "900 ms"},
	} {
		got := tableRow(t, out, label)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %q:\n got %q\nwant %q", label, got, want)
		}
	}
	if !strings.Contains(out, "links: latency 20 ms, jitter 5.0 ms, loss 1%, bandwidth") {
		t.Errorf("the links line does not say the jitter and the loss:\n%s", out)
	}
	// Stages print in the order they happen.
	if i, j, k := strings.Index(out, "\nreceipt "), strings.Index(out, "\naccept "), strings.Index(out, "\ninstall "); !(0 < i && i < j && j < k) {
		t.Errorf("stages out of order (receipt %d, accept %d, install %d):\n%s", i, j, k, out)
	}
}

func TestWriteTableLeavesOutWhatDidNotRun(t *testing.T) {
	r := fixtureReport()
	delete(r.Results, ResultRawGossipsub)
	delete(r.Results, ResultHTTPOrigin)
	r.HTTPOriginEgressBytes, r.Table2, r.Checks, r.PullTimers = 0, nil, nil, nil
	var buf bytes.Buffer
	if err := WriteTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, absent := range []string{"raw gossipsub", "RAW GOSSIPSUB", "PATCHNET/THIS", "HTTP", "TABLE 2", "CHECK"} {
		if strings.Contains(out, absent) {
			t.Errorf("table shows %q for a run without it:\n%s", absent, out)
		}
	}
	// Without timers in the report, the defaults are printed.
	tableRow(t, out, "rhnsd")
}
