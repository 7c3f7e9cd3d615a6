package netns

import (
	"testing"

	"github.com/patchnet/patchnet/testnet"
)

// A private zone beside the public one on the same bridge: each zone's
// agents install their own zone's fix only, and no node of one zone is
// connected to a node of the other at the end (the pre-shared key: with
// it removed, no_peer_across_zones fails).
func TestPrivateZone(t *testing.T) {
	p := params(t, testnet.ScenarioPrivateZone, 4)
	rep := run(t, p)
	for _, check := range []string{"public_installed", "private_installed", "public_never_saw_private", "private_never_saw_public", "no_peer_across_zones", "no_wrong_installs"} {
		if _, ok := rep.Checks[check]; !ok {
			t.Errorf("no check %s", check)
		}
	}
	if got := rep.Results[testnet.ResultPatchnet].Delivered; got != 1 {
		t.Errorf("delivered to %v of the agents, want all", got)
	}
	if rep.WrongInstalls != 0 {
		t.Errorf("%d wrong installs", rep.WrongInstalls)
	}
}
