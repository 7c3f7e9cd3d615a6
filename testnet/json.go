package testnet

import (
	"encoding/json"
	"fmt"
	"io"
)

// SchemaVersion is the version of the report JSON this package writes
// (SCHEMA.md). It grows only when a key changes meaning or goes away; new
// keys do not change it, since readers ignore keys they do not know.
const SchemaVersion = 1

// WriteJSON writes r as indented JSON with Schema set. The output is
// stable: struct keys in declaration order, map keys sorted, so the same
// report always gives the same bytes and reports diff cleanly.
func WriteJSON(w io.Writer, r *Report) error {
	out := *r
	if out.Schema == 0 {
		out.Schema = SchemaVersion
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// ReadReport reads a report WriteJSON wrote, by this or another version:
// keys it does not know are ignored, so reports from newer patchnets with
// more keys still read. It refuses a newer schema version, whose keys may
// mean something else, and anything after the report.
func ReadReport(rd io.Reader) (*Report, error) {
	dec := json.NewDecoder(rd)
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("reading report: data after the report's closing brace")
	}
	switch {
	case r.Schema > SchemaVersion:
		return nil, fmt.Errorf("reading report: schema %d is newer than this patchnet's %d", r.Schema, SchemaVersion)
	case r.Schema < 0:
		return nil, fmt.Errorf("reading report: schema %d: want 1..%d", r.Schema, SchemaVersion)
	case r.Scenario == "":
		return nil, fmt.Errorf("reading report: no scenario: not a patchnet testnet report")
	}
	return &r, nil
}
