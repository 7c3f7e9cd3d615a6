package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/patchnet/patchnet/trust"
)

func envWith(payload string, keyids ...string) *trust.Envelope {
	env := trust.NewEnvelope("text/plain", []byte(payload))
	for _, k := range keyids {
		env.Signatures = append(env.Signatures, trust.Signature{KeyID: k, Sig: []byte(k)})
	}
	return env
}

func TestMergeAccumulatesDistinctSigners(t *testing.T) {
	b := newMergeBuffer(time.Now)
	for _, tc := range []struct {
		env       *trust.Envelope
		wantAdded int
		wantSigs  int
	}{
		{envWith("p", "pub", "sn1"), 2, 2},
		{envWith("p", "pub", "sn2"), 1, 3},
		{envWith("p", "pub", "sn1", "sn2"), 0, 3},
		{envWith("other", "pub", "sn3"), 2, 2},
	} {
		merged, added := b.add(tc.env)
		if added != tc.wantAdded || len(merged.Signatures) != tc.wantSigs {
			t.Errorf("add(%s %d sigs) = %d sigs, %d added; want %d, %d", tc.env.Payload, len(tc.env.Signatures),
				len(merged.Signatures), added, tc.wantSigs, tc.wantAdded)
		}
		if string(merged.Payload) != string(tc.env.Payload) {
			t.Errorf("merged payload %q, want %q", merged.Payload, tc.env.Payload)
		}
	}
}

func TestMergeBufferBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := newMergeBuffer(func() time.Time { return now })
	for i := range MaxPendingPayloads + 10 {
		b.add(envWith(fmt.Sprint(i), "pub"))
	}
	if got := b.len(); got != MaxPendingPayloads {
		t.Errorf("%d payloads buffered, want the bound %d", got, MaxPendingPayloads)
	}
	if _, added := b.add(envWith("0", "pub")); added != 1 {
		t.Error("the oldest payload was not the one dropped")
	}
	now = now.Add(MergeTTL + time.Second)
	b.add(envWith("fresh", "pub"))
	if got := b.len(); got != 1 {
		t.Errorf("%d payloads after MergeTTL, want only the fresh one", got)
	}
}

func TestMergeCapsSignatures(t *testing.T) {
	b := newMergeBuffer(time.Now)
	for i := range trust.MaxSignatures + 5 {
		b.add(envWith("p", fmt.Sprint("k", i)))
	}
	merged, _ := b.add(envWith("p"))
	if len(merged.Signatures) != trust.MaxSignatures {
		t.Errorf("%d signatures merged, want the bound %d", len(merged.Signatures), trust.MaxSignatures)
	}
}

func BenchmarkMerge(b *testing.B) {
	buf := newMergeBuffer(time.Now)
	envs := []*trust.Envelope{envWith("p", "pub", "sn1"), envWith("p", "pub", "sn2"), envWith("p", "pub", "sn3")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf.add(envs[i%len(envs)])
	}
}
