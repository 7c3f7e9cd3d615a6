package testnet

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// svgText parses an SVG as XML and returns the text of its text elements,
// so a test sees what a viewer would print.
func svgText(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	inText, root := false, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			inText = el.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(el)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return texts
}

func TestWritePlots(t *testing.T) {
	for name, tc := range map[string]struct {
		edit          func(*Report)
		want, notWant []string
	}{
		"all systems": {
			want: []string{"patchnet", "raw gossipsub", "HTTP from origin",
				"origin (patchnet)", "peers (patchnet)", "origin (HTTP baseline)", "time from publication (s), log scale"},
		},
		"no baselines": {
			edit: func(r *Report) {
				delete(r.Results, ResultRawGossipsub)
				delete(r.Results, ResultHTTPOrigin)
				delete(r.Deliveries, ResultRawGossipsub)
				delete(r.Deliveries, ResultHTTPOrigin)
				r.HTTPOriginEgressBytes = 0
			},
			want:    []string{"patchnet", "origin (patchnet)", "peers (patchnet)", "time from publication (ms)"},
			notWant: []string{"raw gossipsub", "HTTP from origin", "origin (HTTP baseline)"},
		},
		"patchnet from samples": {
			edit: func(r *Report) { delete(r.Deliveries, ResultPatchnet) },
			want: []string{"patchnet", "raw gossipsub", "HTTP from origin"},
		},
		"nothing delivered": {
			edit: func(r *Report) {
				r.Deliveries, r.Samples, r.Results = nil, nil, nil
				r.OriginEgressBytes, r.PeerEgressBytes, r.HTTPOriginEgressBytes = 0, 0, 0
			},
			want:    []string{"origin (patchnet)"},
			notWant: []string{"patchnet", "raw gossipsub"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := fixtureReport()
			if tc.edit != nil {
				tc.edit(r)
			}
			var buf bytes.Buffer
			if err := WritePlots(&buf, r); err != nil {
				t.Fatal(err)
			}
			texts := svgText(t, buf.Bytes())
			for _, s := range tc.want {
				if !slices.Contains(texts, s) {
					t.Errorf("SVG has no text %q; it has %q", s, texts)
				}
			}
			for _, s := range tc.notWant {
				if slices.Contains(texts, s) {
					t.Errorf("SVG shows %q for a run without it", s)
				}
			}
		})
	}
}

func TestCDFSeriesFromSamples(t *testing.T) {
	r := fixtureReport()
	delete(r.Deliveries, ResultPatchnet)
	s := cdfSeriesOf(r)
	if len(s) != 3 || s[0].label != "patchnet" || len(s[0].ms) != len(r.Samples) {
		t.Fatalf("series %+v: want patchnet first, from %d samples", s, len(r.Samples))
	}
	pts := s[0].points(1)
	if last := pts[len(pts)-1]; last.Y != r.Results[ResultPatchnet].Delivered || last.X != r.Results[ResultPatchnet].MaxMS {
		t.Fatalf("CDF ends at %+v, want (max %v ms, delivered %v)", last, r.Results[ResultPatchnet].MaxMS, r.Results[ResultPatchnet].Delivered)
	}
}
