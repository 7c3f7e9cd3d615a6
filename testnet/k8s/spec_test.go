package k8s

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
)

// The private-zone scenario renders two zones: the public one with the
// larger half of the agents, and beside it the private zone acme with the
// rest, its names prefixed, its own update id and a key; any other
// scenario renders one zone, and so does the private zone's own spec.
func TestZones(t *testing.T) {
	s := DefaultSpec()
	s.Scenario, s.Agents = testnet.ScenarioPrivateZone, 5
	zones := s.Zones()
	if len(zones) != 2 {
		t.Fatalf("%d zones, want 2", len(zones))
	}
	pub, priv := zones[0], zones[1]
	got := []any{pub.Agents, pub.Prefix, pub.Zone, pub.Private, pub.UpdateID, priv.Agents, priv.Prefix, priv.Zone, priv.Private, priv.UpdateID}
	want := []any{3, "", "testnet", false, "TESTNET-0001", 2, "acme-", "acme", true, "TESTNET-0001-ACME"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("zones (-want +got):\n%s", d)
	}
	if priv.agentName(0) != "acme-agent-0" || priv.publisherName() != "acme-publisher" || priv.pkiConfigMap() != "acme-pki" {
		t.Errorf("the private zone's names: %s, %s, %s", priv.agentName(0), priv.publisherName(), priv.pkiConfigMap())
	}
	if n := len(priv.Zones()); n != 1 {
		t.Errorf("the private zone's spec renders %d zones, want itself", n)
	}
	s.Scenario = testnet.ScenarioPropagation
	if n := len(s.Zones()); n != 1 {
		t.Errorf("propagation renders %d zones", n)
	}
}

// Validate names what is wrong with a spec of a zone beside another.
func TestValidateRefusesBadPrefix(t *testing.T) {
	for prefix, want := range map[string]string{
		"acme-":                   "",
		"Acme-":                   `prefix "Acme-"`,
		"acme":                    `prefix "acme"`,
		"a-very-long-prefix-xyz-": `prefix "a-very-long-prefix-xyz-"`,
	} {
		s := DefaultSpec()
		s.Prefix = prefix
		s.Configure = func(trust.Role, InitArgs) ([]byte, error) { return nil, nil }
		err := s.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("prefix %q: %v, want %q", prefix, err, want)
		}
	}
}
