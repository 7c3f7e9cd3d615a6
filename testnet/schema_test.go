package testnet

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// jsonKeys are the JSON keys of struct type t's fields.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestSchemaDocumentsEveryKey keeps SCHEMA.md and the Go types in step:
// every JSON key has a row in the schema's tables, every row names a key
// that exists, and the example is a report ReadReport reads.
func TestSchemaDocumentsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range []any{Report{}, Result{}, Sample{}, Table2Row{}} {
		keys = append(keys, jsonKeys(reflect.TypeOf(v))...)
	}
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows = append(rows, m[1])
	}
	for _, k := range keys {
		if !slices.Contains(rows, k) {
			t.Errorf("JSON key %q has no row in SCHEMA.md", k)
		}
	}
	for _, r := range rows {
		if !slices.Contains(keys, r) {
			t.Errorf("SCHEMA.md documents %q, which no type has", r)
		}
	}
	_, example, ok := strings.Cut(string(doc), "```json\n")
	example, _, _ = strings.Cut(example, "```")
	if !ok {
		t.Fatal("SCHEMA.md has no ```json example")
	}
	if _, err := ReadReport(strings.NewReader(example)); err != nil {
		t.Fatalf("SCHEMA.md's example: %v", err)
	}
}
