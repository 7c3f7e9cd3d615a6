package node_test

import (
	"testing"

	"github.com/patchnet/patchnet/trust"
)

// BenchmarkParseEnvelope is the baseline of BenchmarkMerge: the decode every
// received announcement costs anyway.
func BenchmarkParseEnvelope(b *testing.B) {
	env := trust.NewEnvelope("text/plain", []byte("p"))
	env.Signatures = []trust.Signature{{KeyID: "pub", Sig: []byte("pub")}, {KeyID: "sn1", Sig: []byte("sn1")}}
	raw, _ := env.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := trust.ParseEnvelope(raw); err != nil {
			b.Fatal(err)
		}
	}
}
