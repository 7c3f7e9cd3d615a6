package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/patchnet/patchnet/internal/freeport"
	"github.com/patchnet/patchnet/overlay"
)

// The rendered flooder Job starts beside its targets, whose nodes may
// not listen yet: the flooder dials a target that refuses again until it
// answers (on a one-node cluster it exited at the first refusal, and the
// flood scenario's checks failed), then joins it on the topic.
func TestTestnetFloodWaitsForItsTargets(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(priv)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeport.Get(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runFlood(ctx, &out, floodOptions{zone: "lab", listen: "/ip4/127.0.0.1/tcp/0", peers: []string{addr + "/p2p/" + id.String()},
			rate: 10, wait: time.Minute})
	}()
	waitOutput(t, &out, "does not answer yet", done)
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(overlay.AnnounceTopic("lab"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	waitOutput(t, &out, "\nready", done)
}

// waitOutput waits until out holds want, failing if the command ended.
func waitOutput(t *testing.T, out *syncBuffer, want string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("the flooder ended (%v) before saying %q:\n%s", err, want, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flooder never said %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
