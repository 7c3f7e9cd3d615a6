package updates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// FromOSV turns an OSV record into an announcement: the OSV fields are kept
// as they are, pn supplies patchnet's (version, categories, expiry,
// artifact). modified becomes now (if later): the announcement is a new
// revision of the record, and its expiry is bounded from it. A "patchnet" key already in the record is refused, so a
// converted record never carries instructions nobody reviewed.
func FromOSV(raw []byte, pn Patchnet, now time.Time) (*Announcement, error) {
	if len(raw) > MaxAnnouncementBytes {
		return nil, fmt.Errorf("converting OSV record: %d bytes exceeds %d", len(raw), MaxAnnouncementBytes)
	}
	if err := checkJSONShape(raw); err != nil {
		return nil, fmt.Errorf("converting OSV record: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("converting OSV record: %w", err)
	}
	if _, ok := probe["patchnet"]; ok {
		return nil, fmt.Errorf("converting OSV record: it already has a \"patchnet\" key; use it as an announcement")
	}
	var a Announcement
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("converting OSV record: %w", err)
	}
	if a.SchemaVersion == "" {
		a.SchemaVersion = OSVSchemaVersion
	}
	a.Patchnet = pn
	if now.After(a.Modified) {
		a.Modified = now.UTC()
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("converting OSV record %s: %w", a.ID, err)
	}
	return &a, nil
}
