package trust

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Whatever the fast decoder accepts, encoding/json must decode to the same
// envelope: the fast path may only be faster, never different.
func FuzzFastDecodeMatches(f *testing.F) {
	for _, s := range []string{
		`{"payloadType":"t","payload":"aGVsbG8=","signatures":[{"keyid":"ab","sig":"AAAA","certificates":["AAAA","AA=="]}]}`,
		` { "signatures" : [ ] , "payload":"" ,"payloadType":"x"} `,
		`{"payloadType":"t","payload":"aGVsbG8=","signatures":[{"sig":"AAAA"},{"keyid":"","sig":"AA==","certificates":[]}]}`,
		`{"payloadType":"t","PAYLOAD":"aGVsbG8=","signatures":[]}`,
		`{"payloadType":"t","payload":"aGVsbG8=","payload":"","signatures":[]}`,
		`{"payloadType":"\u00e9","payload":"","signatures":[]}`,
		`{"payloadType":"t","payload":"aGVs\nbG8=","signatures":[]}`,
		`{"payloadType":"t","payload":null,"signatures":[{"keyid":"k","sig":"AAAA","certificates":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := fastDecodeEnvelope(raw)
		if !ok {
			return
		}
		slow, err := slowDecodeEnvelope(raw)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, raw)
		}
		if diff := cmp.Diff(slow, fast, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("fast and encoding/json differ on %q (-json +fast):\n%s", raw, diff)
		}
	})
}

func TestFastDecodeTakesCanonicalForm(t *testing.T) {
	e := NewEnvelope("application/x", []byte("payload"))
	e.Signatures = []Signature{{KeyID: "ab", Sig: []byte{1, 2, 3}, Certificates: [][]byte{{4, 5}, {6}}}}
	raw, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fastDecodeEnvelope(raw)
	if !ok {
		t.Fatalf("fast path refused Marshal's own output %s", raw)
	}
	if diff := cmp.Diff(*e, got); diff != "" {
		t.Fatal(diff)
	}
}
