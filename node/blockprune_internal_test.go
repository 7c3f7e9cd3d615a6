package node

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/trust/trusttest"
	"github.com/patchnet/patchnet/updates"
)

// What a prune keeps: an artifact whose announcement has not expired and
// is the highest version of its id the node holds; what it drops: an
// expired one, one superseded by a higher version, and a record with no
// usable content id never counts. An artifact re-announced under a later
// version is one record, kept at the later version.
func TestHeldArtifactsKeepCurrentOnly(t *testing.T) {
	n := validatorOnly(t, trusttest.NewPKI(t, "acme"))
	now := n.verifier.Now()
	note := func(id string, version uint64, cid string, expires time.Time) {
		n.noteHeld(&updates.Announcement{ID: id, Patchnet: updates.Patchnet{Version: version, Expires: expires,
			Artifact: &updates.Artifact{ContentID: cid}}})
	}
	note("PNT-1", 1, "bafy-old", now.Add(time.Hour))
	note("PNT-1", 2, "bafy-new", now.Add(time.Hour))
	note("PNT-2", 1, "bafy-expired", now.Add(-time.Minute))
	note("PNT-3", 1, "bafy-again", now.Add(time.Hour))
	note("PNT-3", 2, "bafy-again", now.Add(2*time.Hour))
	note("PNT-4", 1, "", now.Add(time.Hour)) // no content id: fetched from the vendor only
	keep, drop, err := n.heldArtifacts()
	if err != nil {
		t.Fatal(err)
	}
	wantKeep := []heldArtifact{{CID: "bafy-again", ID: "PNT-3", Version: 2, Expires: now.Add(2 * time.Hour)},
		{CID: "bafy-new", ID: "PNT-1", Version: 2, Expires: now.Add(time.Hour)}}
	wantDrop := []heldArtifact{{CID: "bafy-expired", ID: "PNT-2", Version: 1, Expires: now.Add(-time.Minute)},
		{CID: "bafy-old", ID: "PNT-1", Version: 1, Expires: now.Add(time.Hour)}}
	if diff := cmp.Diff(wantKeep, keep); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDrop, drop); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}
