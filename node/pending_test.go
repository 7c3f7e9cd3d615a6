package node

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/overlay"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
	"github.com/patchnet/patchnet/updates/install"
)

// agentOnly is validatorOnly with what an agent's duplicate handling
// reads: an install queue and a real (empty) install journal.
func agentOnly(t *testing.T, pki *trusttest.PKI) *Node {
	n := validatorOnly(t, pki)
	n.installQ = make(chan *updates.Accepted, InstallQueue)
	m, _, err := install.Open(context.Background(), install.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	n.installs = m
	return n
}

// Versions 1 and 2 of an id were accepted and neither installed (version 1
// was lost before pending records existed). Another copy of version 1
// arrives and is a duplicate: installing it would roll the host back below
// version 2, so only version 2 is queued again, and only once while it is
// in flight.
func TestLowerDuplicateNotReinstalled(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	pub := pki.Issue(t, "acme", trust.RolePublisher)
	sn := pki.Issue(t, "acme", trust.RoleSupernode)
	n := agentOnly(t, pki)
	ac, err := updates.NewAcceptor(n.verifier, n.policy, n.seen)
	if err != nil {
		t.Fatal(err)
	}
	verified := map[uint64]*verifiedAnnouncement{}
	for _, v := range []uint64{1, 2} {
		raw := trusttest.Envelope(t, updates.PayloadType, announcementPayload(t, pki.Clock.Now(), v), pub, sn)
		verdict, va := n.ValidateMessage(context.Background(), n.topics.announce, "", raw)
		if verdict != overlay.Accept {
			t.Fatalf("validator: %v", verdict)
		}
		verified[v] = va.(*verifiedAnnouncement)
		if err := ac.AcceptVerified(verified[v].Accepted); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		version uint64
		queued  bool
	}{
		{"lower version seen before", 1, false},
		{"highest version, not installed", 2, true},
		{"highest version, already in flight", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.retryDuplicate(verified[tc.version])
			select {
			case acc := <-n.installQ:
				if !tc.queued || acc.Announcement.Patchnet.Version != tc.version {
					t.Errorf("queued version %d", acc.Announcement.Patchnet.Version)
				}
			default:
				if tc.queued {
					t.Error("not queued")
				}
			}
		})
	}
	rec, ok, err := n.toInstall.get("PNT-FUZZ-0001")
	if err != nil || !ok || rec.Version != 2 {
		t.Errorf("pending record %+v, %v, %v; want version 2 recorded for restarts", rec, ok, err)
	}
}

// A pending record only moves up, and finishing a lower version (a
// superseded goroutine) leaves the higher one's record alone.
func TestPendingRecordNeverLowered(t *testing.T) {
	n := validatorOnly(t, trusttest.NewPKI(t, "acme"))
	s := n.toInstall
	for _, v := range []uint64{2, 1} {
		if err := s.put("X", pendingInstall{Version: v, Envelope: []byte{byte(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish("X", 1); err != nil {
		t.Fatal(err)
	}
	got, err := s.all()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]pendingInstall{"X": {Version: 2, Envelope: []byte{2}}}, got); d != "" {
		t.Errorf("pending records (-want +got):\n%s", d)
	}
	if err := s.finish("X", 2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.all(); len(got) != 0 || !s.wasSettled("X", 2) {
		t.Errorf("after finishing version 2: records %v, settled %v", got, s.wasSettled("X", 2))
	}
}
