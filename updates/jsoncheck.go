package updates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// freeForm are the keys whose values OSV leaves to each database; their
// insides are not checked for key case.
var freeForm = map[string]bool{"database_specific": true, "ecosystem_specific": true}

// checkJSONShape refuses JSON that Go's decoder would read differently from
// other parsers: a key repeated in one object (Go keeps the last, others the
// first), and, outside free-form fields, a key with upper-case letters
// (Go matches field names case-insensitively, so "Patchnet" would fill the
// patchnet field while OSV tools ignore it). Signers and agents then see
// exactly what a person reading the JSON sees.
func checkJSONShape(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := walkJSON(dec, "", 0, false); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the top-level value")
	}
	return nil
}

func walkJSON(dec *json.Decoder, path string, depth int, free bool) error {
	if depth > MaxJSONDepth {
		return fmt.Errorf("%s: nested deeper than %d", pathOr(path), MaxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", pathOr(path), err)
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, path, depth, free)
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkJSON(dec, fmt.Sprintf("%s[%d]", path, i), depth+1, free); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

func walkObject(dec *json.Decoder, path string, depth int, free bool) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", pathOr(path), err)
		}
		key, _ := tok.(string)
		child := strings.TrimPrefix(path+"."+key, ".")
		if seen[strings.ToLower(key)] {
			return fmt.Errorf("%s: key repeated in one object", child)
		}
		seen[strings.ToLower(key)] = true
		if !free && key != strings.ToLower(key) {
			return fmt.Errorf("%s: field names are lower case", child)
		}
		if err := walkJSON(dec, child, depth+1, free || freeForm[key]); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

func pathOr(path string) string {
	if path == "" {
		return "document"
	}
	return path
}
