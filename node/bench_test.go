package node_test

import (
	"context"
	"testing"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
)

// BenchmarkValidateMessage is the node's gossip validator on a co-signed
// announcement (publisher + 2 supernodes); the baseline is the signature
// and chain check alone (trust.Verifier.VerifyEnvelope) on the same bytes,
// so the difference is what decoding, validation and the stale check add.
func BenchmarkValidateMessage(b *testing.B) {
	l := newLab(b, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-BENCH-0001", 1)
	if err != nil {
		b.Fatal(err)
	}
	raw := signWith(b, fix, l.Publisher, l.Supernodes[0], l.Supernodes[1])
	agent := l.Agents[0]
	v := verifierFor(b, l)
	b.Run("baseline=trust.VerifyEnvelope", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := v.VerifyEnvelope(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("node.ValidateMessage", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if agent.ValidateMessage(ctx, agent.Overlay().AnnounceTopic(), "", raw) != overlay.Accept {
				b.Fatal("not accepted")
			}
		}
	})
}

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
