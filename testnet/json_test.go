package testnet

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONRoundTrip(t *testing.T) {
	want := fixtureReport()
	// Every field must be set, or a key lost on the way would go unseen.
	v := reflect.ValueOf(*want)
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; v.Field(i).IsZero() {
			t.Fatalf("fixture leaves %s zero", name)
		}
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("reading what WriteJSON wrote: %v\n%s", err, buf.String())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	var again bytes.Buffer
	if err := WriteJSON(&again, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("the same report wrote different bytes:\n%s\n---\n%s", buf.String(), again.String())
	}
}

func TestWriteJSONSetsSchema(t *testing.T) {
	r := fixtureReport()
	r.Schema = 0
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"schema": 1,`) {
		t.Fatalf("no schema version in:\n%s", buf.String())
	}
	if r.Schema != 0 {
		t.Fatal("WriteJSON changed the caller's report")
	}
}

func TestReadReportIgnoresUnknownKeys(t *testing.T) {
	in := `{"schema": 1, "scenario": "churn", "mode": "netns", "nodes": 5,
		"from_the_future": {"a": [1, 2]},
		"results": {"patchnet": {"delivered": 1, "p50_ms": 12, "p999_ms": 40},
		            "quic_baseline": {"delivered": 0.5}},
		"samples": [{"node": "a", "role": "agent", "install_ns": 5000000, "rssi": -3}]}`
	got, err := ReadReport(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &Report{Schema: 1, Scenario: ScenarioChurn, Mode: ModeNetns, Nodes: 5,
		Results: map[string]Result{ResultPatchnet: {Delivered: 1, P50MS: 12}, "quic_baseline": {Delivered: 0.5}},
		Samples: []Sample{{Node: "a", Role: "agent", Install: 5e6}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestReadReportRejects(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"newer schema": {`{"schema": 2, "scenario": "churn"}`, "schema 2 is newer"},
		"no scenario":  {`{"schema": 1, "mode": "sim"}`, "no scenario"},
		"wrong type":   {`{"scenario": "churn", "nodes": "many"}`, "nodes"},
		"truncated":    {`{"scenario": "churn", `, "unexpected EOF"},
		"two reports":  {`{"scenario": "churn"} {"scenario": "flood"}`, "after the report"},
	} {
		_, err := ReadReport(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "reading report: ") {
			t.Errorf("%s: error %v, want one starting \"reading report: \" naming %q", name, err, tc.want)
		}
	}
}

func TestFailedChecks(t *testing.T) {
	r := &Report{Checks: map[string]bool{"b_failed": false, "ok": true, "a_failed": false}}
	if d := cmp.Diff([]string{"a_failed", "b_failed"}, r.FailedChecks()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if got := (&Report{}).FailedChecks(); got != nil {
		t.Fatalf("no checks: %v failed", got)
	}
}
