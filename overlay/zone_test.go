package overlay

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
)

func newPSK(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func privateConfig(psk []byte) Config {
	cfg := testConfig()
	cfg.PrivateZone.PSK = psk
	return cfg
}

func TestPrivateZoneRequiresPSK(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	// The zone's key from a pnet file, as an operator configures it.
	keyFile := filepath.Join(t.TempDir(), "swarm.key")
	if err := os.WriteFile(keyFile, EncodePSK(psk), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := testConfig()
	fromFile.PrivateZone.PSKFile = keyFile
	a := startNode(t, pki, nodeOpts{cfg: fromFile})
	b := startNode(t, pki, nodeOpts{cfg: privateConfig(psk)})
	connect(t, b.Overlay, a.Overlay)
	waitFor(t, 10*time.Second, "members verify each other", func() bool {
		ia, _ := a.PeerInfo(b.ID())
		ib, _ := b.PeerInfo(a.ID())
		return ia.Verified && ib.Verified
	})

	for name, cfg := range map[string]Config{
		"other key": privateConfig(newPSK(t)),
		"no key":    testConfig(),
	} {
		t.Run(name, func(t *testing.T) {
			// A valid member of the zone, but without the zone's key.
			out := startNode(t, pki, nodeOpts{cfg: cfg})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := out.Connect(ctx, a.AddrInfo()); err == nil {
				t.Fatal("connected to the private zone without its key")
			}
			if connected(a.Overlay, out.Overlay) {
				t.Error("the zone node lists the outsider as connected")
			}
		})
	}
}

func TestPrivateZoneDropsUncertifiedPeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone, "other")
	psk := newPSK(t)
	revokedMember := pki.Issue(t, testZone)
	crl := pki.Revoke(t, testZone, revokedMember)
	verifier := pki.Verifier(t)
	if _, err := verifier.AddCRL(crl); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, pki, nodeOpts{cfg: privateConfig(psk), verifier: verifier})
	// An impersonator presents a real member's chain with its own key: the
	// certificate names another peer ID.
	victim := pki.Issue(t, testZone)
	impostorKey, err := trust.GenerateKey(trust.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	impostor := &trusttest.Member{Key: impostorKey, Chain: victim.Chain}

	tests := []struct {
		name    string
		member  *trusttest.Member
		noChain bool
		want    error
	}{
		{"certificate of another zone", pki.Issue(t, "other"), false, trust.ErrWrongZone},
		{"revoked certificate", revokedMember, false, trust.ErrRevoked},
		{"certificate from an unknown root", trusttest.NewPKI(t, testZone).Issue(t, testZone), false, trust.ErrUnknownRoot},
		{"no certificate", pki.Issue(t, testZone), true, trust.ErrUntrusted},
		{"impersonated peer", impostor, false, trust.ErrPeerIDMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The outsider accepts any peer itself, so only a's judgement counts.
			out := startNode(t, pki, nodeOpts{cfg: privateConfig(psk), member: tt.member, noChain: tt.noChain})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = out.Connect(ctx, a.AddrInfo()) // the handshake succeeds: it has the key
			waitFor(t, 15*time.Second, "a drops the outsider", func() bool {
				return !connected(a.Overlay, out.Overlay) && a.gater.isBlocked(out.ID())
			})
			if err := out.Connect(ctx, a.AddrInfo()); err == nil {
				waitFor(t, 5*time.Second, "the gater to close the redial", func() bool { return !connected(a.Overlay, out.Overlay) })
			}
			if err := a.host.Connect(ctx, out.AddrInfo()); err == nil {
				t.Error("a dialled a blocked peer")
			}
			if err := a.AdmissionFailure(out.ID()); !errors.Is(err, tt.want) {
				t.Errorf("admission failure = %v, want %v", err, tt.want)
			}
		})
	}
	if s := a.Stats(); s.AuthFailed < uint64(len(tests)) {
		t.Errorf("stats %+v: want at least %d failed admissions", s, len(tests))
	}
}

func TestReauthenticateDropsNewlyRevokedPeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	verifier := pki.Verifier(t)
	a := startNode(t, pki, nodeOpts{cfg: privateConfig(psk), verifier: verifier})
	b := startNode(t, pki, nodeOpts{cfg: privateConfig(psk)})
	connect(t, b.Overlay, a.Overlay)
	waitFor(t, 10*time.Second, "b verified", func() bool { i, _ := a.PeerInfo(b.ID()); return i.Verified })
	if n := a.Reauthenticate(); n != 0 {
		t.Fatalf("re-authentication failed %d valid peers", n)
	}
	if _, err := verifier.AddCRL(pki.Revoke(t, testZone, b.member)); err != nil {
		t.Fatal(err)
	}
	if n := a.Reauthenticate(); n != 1 {
		t.Errorf("re-authentication after revoking b failed %d peers, want 1", n)
	}
	waitFor(t, 10*time.Second, "b dropped", func() bool { return !connected(a.Overlay, b.Overlay) && a.gater.isBlocked(b.ID()) })
	if err := a.AdmissionFailure(b.ID()); !errors.Is(err, trust.ErrRevoked) {
		t.Errorf("admission failure = %v, want ErrRevoked", err)
	}
}

func TestPublicZoneKeepsUnverifiedPeers(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{})
	b := startNode(t, pki, nodeOpts{noChain: true})
	connect(t, b.Overlay, a.Overlay)
	waitFor(t, 10*time.Second, "b's admission settles", func() bool { return a.auth.settled(b.ID()) })
	info, _ := a.PeerInfo(b.ID())
	if info.Verified || info.Role() != "unverified" || !connected(a.Overlay, b.Overlay) {
		t.Errorf("unverified peer in a public zone: %+v, connected %v; want kept as unverified", info, connected(a.Overlay, b.Overlay))
	}
}

func TestPrivateZoneDropsSilentPeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	cfg := privateConfig(psk)
	cfg.AuthDeadline = duration.Duration(time.Second)
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	// A plain libp2p host with the key but no admission protocol at all.
	silent, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.PrivateNetwork(psk), libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := silent.Connect(ctx, a.AddrInfo()); err != nil {
		t.Fatalf("the key should let the handshake through: %v", err)
	}
	waitFor(t, 10*time.Second, "the silent peer dropped at the deadline", func() bool {
		return a.Host().Network().Connectedness(silent.ID()) != network.Connected && a.gater.isBlocked(silent.ID())
	})
	if err := a.AdmissionFailure(silent.ID()); !errors.Is(err, errAuthDeadline) {
		t.Errorf("admission failure = %v, want the deadline", err)
	}
}

func TestGaterBlocksForBlockDuration(t *testing.T) {
	g := newGater()
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	pki := trusttest.NewPKI(t, testZone)
	p := pki.Issue(t, testZone).PeerID()
	g.block(p)
	if g.InterceptPeerDial(p) || g.InterceptSecured(network.DirInbound, p, nil) {
		t.Fatal("blocked peer let through")
	}
	now = now.Add(BlockDuration + time.Second)
	if !g.InterceptPeerDial(p) || !g.InterceptSecured(network.DirOutbound, p, nil) {
		t.Error("peer still blocked after BlockDuration")
	}
	// The table is bounded: the block expiring first is forgotten.
	first := pki.Issue(t, testZone).PeerID()
	g.block(first)
	for range MaxBlockedPeers - 1 {
		now = now.Add(time.Millisecond)
		g.blocked[peer.ID(fmt.Sprint(now.UnixNano()))] = now.Add(BlockDuration)
	}
	now = now.Add(time.Millisecond)
	g.block(p)
	if len(g.blocked) != MaxBlockedPeers || g.isBlocked(first) || !g.isBlocked(p) {
		t.Errorf("after overflow: %d blocked, first still blocked %v, newest blocked %v", len(g.blocked), g.isBlocked(first), g.isBlocked(p))
	}
}

func TestAuthRefusesMalformedChain(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{})
	h, ctx := rawPeer(t, a.Overlay)
	s, err := h.NewStream(ctx, a.ID(), AuthProtocol)
	if err != nil {
		t.Fatal(err)
	}
	// Ten "certificates": more than any chain may hold.
	if err := writeFrame(s, encodeChain(make([][]byte, 10))); err != nil {
		t.Fatal(err)
	}
	if body, err := readFrame(bufio.NewReader(s), MaxAuthFrameBytes); err == nil {
		t.Errorf("a answered a malformed chain with %x", body)
	}
	waitFor(t, 10*time.Second, "the failure recorded", func() bool { return a.AdmissionFailure(h.ID()) != nil })
	if err := a.AdmissionFailure(h.ID()); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("failure = %v, want ErrMalformedFrame", err)
	}
	if info, _ := a.PeerInfo(h.ID()); info.Verified || a.Host().Network().Connectedness(h.ID()) != network.Connected {
		t.Errorf("public zone: %+v; want the peer kept, unverified", info)
	}
}

// TestAuthSlotsExhaustionByOnePeer: a peer with the zone's key opens more
// silent auth streams than there are slots; a member that arrives during
// the attack is still admitted, and neither side blocks the other.
func TestAuthSlotsExhaustionByOnePeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	cfg := privateConfig(psk)
	cfg.AuthDeadline = duration.Duration(15 * time.Second) // the attack outlasts the member's exchange
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	attacker, ctx := pskPeer(t, psk, a.Overlay)
	n := MaxConcurrentAuth + 8
	ended := holdStreams(t, ctx, attacker, a.ID(), AuthProtocol, n)
	waitFor(t, 10*time.Second, "every attacking stream held or refused", func() bool { return len(a.auth.sem)+ended() >= n })

	member := startNode(t, pki, nodeOpts{cfg: cfg})
	connect(t, member.Overlay, a.Overlay)
	waitFor(t, 10*time.Second, "the member and a verify each other", func() bool {
		im, _ := a.PeerInfo(member.ID())
		ia, _ := member.PeerInfo(a.ID())
		return im.Verified && ia.Verified
	})
	if a.gater.isBlocked(member.ID()) || member.gater.isBlocked(a.ID()) {
		t.Errorf("blocked: a blocks the member %v, the member blocks a %v", a.gater.isBlocked(member.ID()), member.gater.isBlocked(a.ID()))
	}
}

// TestAuthBusyPeerIsRetried: a node whose auth slots are all taken (by many
// peers at once) refuses a new exchange as busy; the dialling member asks
// again instead of rejecting and blocking it, and is admitted once a slot
// frees.
func TestAuthBusyPeerIsRetried(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	cfg := privateConfig(psk)
	cfg.AuthDeadline = duration.Duration(15 * time.Second)
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	for range MaxConcurrentAuth {
		a.auth.sem <- struct{}{}
	}
	member := startNode(t, pki, nodeOpts{cfg: cfg})
	connect(t, member.Overlay, a.Overlay)
	waitFor(t, 10*time.Second, "a refusing the member as busy", func() bool { return member.Stats().AuthBusyRetries > 0 })
	for range MaxConcurrentAuth {
		<-a.auth.sem
	}
	waitFor(t, 10*time.Second, "the member admitted", func() bool {
		im, _ := a.PeerInfo(member.ID())
		ia, _ := member.PeerInfo(a.ID())
		return im.Verified && ia.Verified
	})
	if err := member.AdmissionFailure(a.ID()); err != nil {
		t.Errorf("the member recorded a failure for a: %v", err)
	}
}

// TestPrivateZoneSyncRefusesUnadmittedPeer: a peer with the zone's key but
// no certificate asks for the catch-up store at once, before the auth
// deadline drops it; it gets nothing, while a member is served.
func TestPrivateZoneSyncRefusesUnadmittedPeer(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	a := startNode(t, pki, nodeOpts{cfg: privateConfig(psk)})
	for i := range 3 {
		if _, err := a.Keep(KindAnnouncement, []byte{byte(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	outsider, ctx := pskPeer(t, psk, a.Overlay)
	if resp, err := askSync(ctx, outsider, a.ID(), syncRequest{MaxItems: 10, MaxBytes: 1 << 20}); err == nil {
		t.Errorf("served %d items to a peer that never passed admission", len(resp.Items))
	}
	waitFor(t, 10*time.Second, "the refusal counted", func() bool { return a.Stats().SyncRefused > 0 })
	if a.WaitAdmitted(ctx, outsider.ID()) {
		t.Error("WaitAdmitted(outsider) = true")
	}

	mcfg := privateConfig(psk)
	member := startNode(t, pki, nodeOpts{cfg: mcfg, validator: acceptAll})
	connect(t, member.Overlay, a.Overlay)
	if !a.WaitAdmitted(ctx, member.ID()) {
		t.Fatal("WaitAdmitted(member) = false")
	}
	res, err := member.SyncWith(ctx, a.ID())
	if err != nil || res.Accepted != 3 {
		t.Errorf("member catching up: %+v, %v; want 3 items", res, err)
	}
}

// TestAuthSlowFirstFrameIsNotAVerdict: a member whose chain does not arrive
// within AuthFirstFrameTimeout has its stream refused as busy, not its
// admission failed; asking again on a new stream admits it.
func TestAuthSlowFirstFrameIsNotAVerdict(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	psk := newPSK(t)
	cfg := privateConfig(psk)
	cfg.AuthDeadline = duration.Duration(15 * time.Second)
	a := startNode(t, pki, nodeOpts{cfg: cfg})
	m := pki.Issue(t, testZone)
	priv, err := trust.LibP2PKey(m.Key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.PrivateNetwork(psk), libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, a.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	slow, err := h.NewStream(ctx, a.ID(), AuthProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Write([]byte{0x80}); err != nil { // the chain's length, unfinished
		t.Fatal(err)
	}
	_, err = readFrame(bufio.NewReader(slow), MaxAuthFrameBytes)
	if !remoteBusy(err) {
		t.Fatalf("slow first frame: %v, want the stream refused as busy", err)
	}
	if info, _ := a.PeerInfo(h.ID()); !info.Pending || a.gater.isBlocked(h.ID()) {
		t.Fatalf("after a slow first frame: %+v, blocked %v; want still pending", info, a.gater.isBlocked(h.ID()))
	}
	s, err := h.NewStream(ctx, a.ID(), AuthProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(s, encodeChain(m.ChainDER())); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(bufio.NewReader(s), MaxAuthFrameBytes); err != nil {
		t.Fatalf("asking again: %v", err)
	}
	waitFor(t, 10*time.Second, "the member verified", func() bool { info, _ := a.PeerInfo(h.ID()); return info.Verified })
}

// TestAdmissionNotJudgedOnClosedConnection: an exchange that broke with
// its connection (trimmed, closed by the remote's resource limits) is
// churn, not a failed admission: neither counted nor remembered. A chain
// that failed verification is judged even if its peer is gone.
func TestAdmissionNotJudgedOnClosedConnection(t *testing.T) {
	pki := trusttest.NewPKI(t, testZone)
	a := startNode(t, pki, nodeOpts{})
	gone := test.RandPeerIDFatal(t)
	a.auth.settle(gone, a.auth.entry(gone), nil, trust.Identity{}, errors.New("receiving chain: connection closed"))
	if n, err := a.Stats().AuthFailed, a.AdmissionFailure(gone); n != 0 || err != nil {
		t.Errorf("a transport failure on a closed connection: %d failed admissions, failure %v; want none", n, err)
	}
	forged := test.RandPeerIDFatal(t)
	a.auth.settle(forged, a.auth.entry(forged), [][]byte{{0x30}}, trust.Identity{}, fmt.Errorf("verifying chain: %w", trust.ErrUnknownRoot))
	if n, err := a.Stats().AuthFailed, a.AdmissionFailure(forged); n != 1 || !errors.Is(err, trust.ErrUnknownRoot) {
		t.Errorf("a chain that failed verification, peer gone: %d failed admissions, failure %v; want 1, ErrUnknownRoot", n, err)
	}
}
