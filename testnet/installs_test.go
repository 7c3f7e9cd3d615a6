package testnet

import (
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/updates/install"
)

// installTx is a committed install transaction of update id with an
// artifact of digest sum.
func installTx(txID, id, sum string) *install.Transaction {
	return &install.Transaction{ID: txID, Kind: install.KindInstall, State: install.StateCommitted,
		Plan:     install.Plan{AnnouncementID: id, AnnouncementVersion: 1, Method: "dpkg"},
		Artifact: install.ArtifactRef{Name: "fix.deb", Size: 1, SHA256: sum},
		Steps:    []install.Step{{State: install.StatePrepared, At: time.Unix(1, 0)}}}
}

func TestWrongInstall(t *testing.T) {
	fix, other := strings.Repeat("a", 64), strings.Repeat("b", 64)
	rel := []Release{{ID: "PNT-FIX", SHA256: fix}, {ID: "LAB-BASE"}}
	rollback := installTx("r", "", "")
	rollback.Kind = install.KindRollback
	failed := installTx("f", "PNT-STOLEN", fix)
	failed.State = install.StateFailed
	for _, tc := range []struct {
		name string
		txs  []*install.Transaction
		want string // the wrong transaction's id
	}{
		{"no transactions", nil, ""},
		{"the release", []*install.Transaction{installTx("t1", "PNT-FIX", fix)}, ""},
		{"its id, another artifact", []*install.Transaction{installTx("t1", "PNT-FIX", fix), installTx("t2", "PNT-FIX", other)}, "t2"},
		{"another id, its artifact", []*install.Transaction{installTx("t1", "PNT-STOLEN", fix)}, "t1"},
		{"a failed install counts", []*install.Transaction{failed}, "f"},
		{"a rollback installs nothing new", []*install.Transaction{rollback}, ""},
		{"a release of any artifact", []*install.Transaction{installTx("b", "LAB-BASE", other)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if tx := WrongInstall(tc.txs, rel); tx != nil {
				got = tx.ID
			}
			if got != tc.want {
				t.Errorf("wrong install %q, want %q", got, tc.want)
			}
		})
	}
}

// MarkWrong counts an agent once, however often it is marked, and adds
// a sample for one the run did not time.
func TestMarkWrong(t *testing.T) {
	r := &Report{Samples: []Sample{{Node: "a1", Role: "agent"}}}
	r.MarkWrong("a1", "first")
	r.MarkWrong("a1", "second")
	r.MarkWrong("a9", "untimed")
	want := []Sample{{Node: "a1", Role: "agent", Wrong: true, WrongInstall: "second"}, {Node: "a9", Role: "agent", Wrong: true, WrongInstall: "untimed"}}
	if r.WrongInstalls != 2 || len(r.Samples) != 2 || r.Samples[0] != want[0] || r.Samples[1] != want[1] {
		t.Errorf("wrong installs %d, samples %+v; want 2, %+v", r.WrongInstalls, r.Samples, want)
	}
}
