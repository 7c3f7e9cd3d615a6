package node

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// heartbeatOf is a heartbeat envelope signed by m.
func heartbeatOf(t *testing.T, m *trusttest.Member, hb Heartbeat) []byte {
	t.Helper()
	payload, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	return trusttest.Envelope(t, HeartbeatPayloadType, payload, m)
}

// withAddrs is hb naming addrs.
func withAddrs(hb Heartbeat, addrs ...string) Heartbeat {
	hb.Addrs = addrs
	return hb
}

// heartbeatAgent is validatorOnly with k = 2 and a heartbeat policy.
func heartbeatAgent(t *testing.T, pki *trusttest.PKI) *Node {
	n := validatorOnly(t, pki)
	n.cfg.Threshold = 2
	n.cfg.Heartbeat = HeartbeatConfig{Interval: Duration(time.Minute), MaxAge: Duration(3 * time.Minute)}
	n.beats = newHeartbeats(pki.Clock.Now())
	return n
}

// Heartbeats count only when a supernode of this zone signed them, they
// are newer than the last one from it, and neither from the future nor
// older than the maximum age.
func TestHeartbeatValidation(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	sn, pub := pki.Issue(t, "acme", trust.RoleSupernode), pki.Issue(t, "acme", trust.RolePublisher)
	n := heartbeatAgent(t, pki)
	now := pki.Clock.Now()
	digest, _ := SetDigest(nil)
	hb := func(seq uint64, at time.Time) Heartbeat {
		return Heartbeat{Zone: "acme", Seq: seq, Time: at, Digest: digest}
	}
	tests := []struct {
		name string
		data []byte
		want overlay.Verdict
	}{
		{"fresh, from a supernode", heartbeatOf(t, sn, hb(10, now)), overlay.Accept},
		{"the same again (replay)", heartbeatOf(t, sn, hb(10, now)), overlay.Ignore},
		{"an older sequence", heartbeatOf(t, sn, hb(9, now)), overlay.Ignore},
		{"newer", heartbeatOf(t, sn, hb(11, now)), overlay.Accept},
		{"from the future", heartbeatOf(t, sn, hb(12, now.Add(time.Hour))), overlay.Ignore},
		{"too old", heartbeatOf(t, sn, hb(13, now.Add(-time.Hour))), overlay.Ignore},
		{"signed by a publisher", heartbeatOf(t, pub, hb(1, now)), overlay.Reject},
		{"another zone's name", heartbeatOf(t, sn, Heartbeat{Zone: "beta", Seq: 14, Time: now, Digest: digest}), overlay.Reject},
		{"malformed", []byte(`{"payloadType":`), overlay.Reject},
		{"a malformed address", heartbeatOf(t, sn, withAddrs(hb(20, now), "/ip4/192.0.2.1/udp")), overlay.Reject},
		{"an address naming a peer", heartbeatOf(t, sn, withAddrs(hb(21, now), "/ip4/192.0.2.1/udp/4001/quic-v1/p2p/"+sn.PeerID().String())), overlay.Reject},
		{"too many addresses", heartbeatOf(t, sn, withAddrs(hb(22, now), slices.Repeat([]string{"/ip4/192.0.2.1/udp/4001/quic-v1"}, MaxHeartbeatAddrs+1)...)), overlay.Reject},
		{"an announcement on the heartbeat topic", trusttest.Envelope(t, updates.PayloadType, announcementPayload(t, now, 1), pub), overlay.Reject},
	}
	for _, tc := range tests {
		if got, _ := n.ValidateMessage(context.Background(), n.topics.heartbeat, "", tc.data); got != tc.want {
			t.Errorf("%s: verdict %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := n.Heartbeats(); len(got) != 1 || got[0].Seq != 11 {
		t.Errorf("kept heartbeats %+v, want the one with sequence 11", got)
	}
}

// k supernodes' heartbeats agree on a co-signed set the agent lacks: the
// first check only catches up (a heartbeat may overtake gossip), the
// second reports the withheld announcement, and the alarm ends once the
// agent holds the same set.
func TestWithheldAnnouncementNoticed(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	sn1, sn2 := pki.Issue(t, "acme", trust.RoleSupernode), pki.Issue(t, "acme", trust.RoleSupernode)
	n := heartbeatAgent(t, pki)
	ctx := context.Background()
	digest, count := SetDigest(map[string]uint64{"PNT-X": 1})
	for i, sn := range []*trusttest.Member{sn1, sn2} {
		raw := heartbeatOf(t, sn, Heartbeat{Zone: "acme", Seq: uint64(i + 1), Time: pki.Clock.Now(), Count: count, Digest: digest})
		if v, _ := n.ValidateMessage(ctx, n.topics.heartbeat, "", raw); v != overlay.Accept {
			t.Fatalf("heartbeat %d: %v", i, v)
		}
	}
	n.checkHeartbeats(ctx)
	if n.Status().Has(EventHeartbeatMismatch) {
		t.Fatal("a first difference was reported before catch-up had a chance")
	}
	n.checkHeartbeats(ctx)
	e, ok := n.Status().Last(EventHeartbeatMismatch)
	if !ok || !strings.Contains(e.Detail, "withheld") {
		t.Fatalf("no withheld-announcement alarm: %+v", n.Status().Events)
	}
	acc := &updates.Accepted{Announcement: &updates.Announcement{ID: "PNT-X", Patchnet: updates.Patchnet{Version: 1}}}
	if _, err := n.agent.life.accept(acc, nil); err != nil {
		t.Fatal(err)
	}
	n.checkHeartbeats(ctx)
	if !n.Status().Has(EventHeartbeatOK) {
		t.Error("the alarm did not end once the sets agreed")
	}
	if n.Status().Has(EventHeartbeatStale) {
		t.Error("two fresh heartbeats from k = 2 supernodes reported as stale")
	}
}

// Only once the maximum age has passed since watching began does a lack of
// heartbeats raise the stale alarm: a fresh agent is not cut off.
func TestStaleHeartbeatsAfterMaxAge(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	n := heartbeatAgent(t, pki)
	n.checkHeartbeats(context.Background())
	if n.Status().Has(EventHeartbeatStale) {
		t.Fatal("stale alarm before a full max age without heartbeats")
	}
	pki.Clock.Set(pki.Clock.Now().Add(4 * time.Minute))
	n.checkHeartbeats(context.Background())
	if e, ok := n.Status().Last(EventHeartbeatStale); !ok || !strings.Contains(e.Detail, "cut off") {
		t.Fatalf("no stale alarm after the max age: %+v", n.Status().Events)
	}
}

// FuzzParseHeartbeatAddrs: a heartbeat's addresses parse without panic,
// and what is accepted names no peer and reads back as itself.
func FuzzParseHeartbeatAddrs(f *testing.F) {
	f.Add("/ip4/192.0.2.1/udp/4001/quic-v1", "/ip6/2001:db8::1/tcp/4001")
	f.Add("/ip4/192.0.2.1/udp", "")
	f.Add("/dns4/example.org/tcp/443/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", "/")
	f.Fuzz(func(t *testing.T, a, b string) {
		addrs, err := parseHeartbeatAddrs([]string{a, b})
		if err != nil {
			return
		}
		for _, x := range addrs {
			if _, err := x.ValueForProtocol(ma.P_P2P); err == nil {
				t.Fatalf("accepted %s, which names a peer", x)
			}
			if y, err := ma.NewMultiaddr(x.String()); err != nil || !y.Equal(x) {
				t.Fatalf("accepted %s, which reads back as %v (%v)", x, y, err)
			}
		}
	})
}

// A supernode's heartbeat names only what its receivers accept, and fits
// their size limit, whatever its host listens on.
func TestHeartbeatAddrsPassReceivers(t *testing.T) {
	long := "/dns4/" + strings.Repeat("a", 250) + ".example/udp/4001/quic-v1"
	tests := []struct {
		name string
		have []string
		want []string
	}{
		{"direct ones, loopback left out", []string{"/ip4/127.0.0.1/udp/4001/quic-v1", "/ip4/192.0.2.1/udp/4001/quic-v1"}, []string{"/ip4/192.0.2.1/udp/4001/quic-v1"}},
		{"loopback when there is no other", []string{"/ip4/127.0.0.1/udp/4001/quic-v1"}, []string{"/ip4/127.0.0.1/udp/4001/quic-v1"}},
		{"relayed ones left out", []string{"/ip4/192.0.2.9/udp/4001/quic-v1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit", "/p2p-circuit", "/ip4/192.0.2.1/tcp/4001"}, []string{"/ip4/192.0.2.1/tcp/4001"}},
		{"at most the count", slices.Repeat([]string{"/ip4/192.0.2.1/tcp/4001"}, MaxHeartbeatAddrs+3), slices.Repeat([]string{"/ip4/192.0.2.1/tcp/4001"}, MaxHeartbeatAddrs)},
		{"at most the bytes", slices.Repeat([]string{long}, 8), slices.Repeat([]string{long}, MaxHeartbeatAddrBytes/len(long))},
	}
	pki := trusttest.NewPKI(t, "acme")
	sn := pki.Issue(t, "acme", trust.RoleSupernode)
	n := heartbeatAgent(t, pki)
	digest, _ := SetDigest(nil)
	for i, tc := range tests {
		var have []ma.Multiaddr
		for _, s := range tc.have {
			have = append(have, ma.StringCast(s))
		}
		got := heartbeatAddrs(have)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
		// As sendHeartbeat builds it, with the widest sequence and count.
		hb := Heartbeat{Zone: "acme", Seq: 1<<62 + uint64(i), Time: pki.Clock.Now(), Count: 1 << 20, Digest: digest, Addrs: got}
		if v, _ := n.ValidateMessage(context.Background(), n.topics.heartbeat, "", heartbeatOf(t, sn, hb)); v != overlay.Accept {
			t.Errorf("%s: a receiver's validator says %v", tc.name, v)
		}
	}
}
