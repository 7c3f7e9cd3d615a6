package node

import (
	"context"
	"fmt"
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
	n.agent.queue = make(chan *updates.Accepted, InstallQueue)
	m, _, err := install.Open(context.Background(), install.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	n.agent.installs = m
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
	ac, err := updates.NewAcceptor(n.verifier, n.policy, n.agent.seen)
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
			case acc := <-n.agent.queue:
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
	for v, want := range map[uint64]bool{1: false, 2: true} {
		rec, ok, err := n.agent.life.get("PNT-FUZZ-0001", v)
		if err != nil || ok != want || (ok && (rec.State != StateAccepted || len(rec.Envelope) == 0)) {
			t.Errorf("version %d: lifecycle record %+v, %v, %v; want one (accepted, with its envelope) only for version 2", v, rec, ok, err)
		}
	}
}

// A lifecycle record moves through its states, keeps the envelope until a
// final one, and never leaves a final state: a late event of a cancelled
// handler cannot turn "superseded" back into "installing". Unfinished
// records are what a restart takes up, by id and version.
func TestLifecycleRecords(t *testing.T) {
	pki := trusttest.NewPKI(t, "acme")
	n := validatorOnly(t, pki)
	s := n.agent.life
	acc := func(id string, v uint64) *updates.Accepted {
		return &updates.Accepted{Announcement: &updates.Announcement{ID: id, Patchnet: updates.Patchnet{Version: v}}}
	}
	for _, a := range []*updates.Accepted{acc("B", 1), acc("A", 10), acc("A", 9)} {
		if made, err := s.accept(a, []byte("envelope")); err != nil || !made {
			t.Fatal(made, err)
		}
	}
	if made, _ := s.accept(acc("A", 9), []byte("again")); made {
		t.Error("a second record was made for one version")
	}
	steps := []struct {
		id    string
		v     uint64
		state State
	}{
		{"A", 9, StateScheduled}, {"A", 9, StateSuperseded}, {"A", 9, StateInstalling},
		{"A", 10, StateFetching}, {"A", 10, StateInstalling},
		{"B", 1, StateInstalled},
	}
	for _, st := range steps {
		if err := s.move(st.id, st.v, st.state, string(st.state), nil); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.list()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]State{}
	for _, r := range all {
		got[fmt.Sprintf("%s/%d", r.ID, r.Version)] = r.State
		if r.State.Final() != (len(r.Envelope) == 0) {
			t.Errorf("%s %d in %s keeps envelope %v", r.ID, r.Version, r.State, len(r.Envelope) > 0)
		}
	}
	want := map[string]State{"A/9": StateSuperseded, "A/10": StateInstalling, "B/1": StateInstalled}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	open, err := s.unfinished()
	if err != nil || len(open) != 1 || open[0].ID != "A" || open[0].Version != 10 {
		t.Errorf("unfinished = %+v, %v; want A 10 only", open, err)
	}
	if err := s.move("C", 1, StateFetching, "", nil); err == nil {
		t.Error("a transition of an update never accepted was recorded")
	}
}
