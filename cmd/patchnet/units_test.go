package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/spf13/cobra"

	"github.com/patchnet/patchnet/trust"
)

// unitDir is where the systemd units are shipped, from this package.
var unitDir = filepath.Join("..", "..", "dist")

// readUnit parses dist/name with go-systemd's unit parser; it also returns
// the file's text, for the comments that document a choice.
func readUnit(t *testing.T, name string) ([]*unit.UnitOption, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(unitDir, name))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := unit.DeserializeOptions(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return opts, string(data)
}

// unitValues are the values of section's key name, in file order.
func unitValues(opts []*unit.UnitOption, section, name string) []string {
	var out []string
	for _, o := range opts {
		if o.Section == section && o.Name == name {
			out = append(out, o.Value)
		}
	}
	return out
}

// unitDuration parses a time span the units write in Go's notation
// ("60s"; systemd also accepts it).
func unitDuration(t *testing.T, opts []*unit.UnitOption, name string) time.Duration {
	t.Helper()
	v := unitValues(opts, "Service", name)
	if len(v) != 1 {
		t.Fatalf("%s is set %d times, want once", name, len(v))
	}
	d, err := time.ParseDuration(v[0])
	if err != nil {
		t.Fatalf("%s=%s: write it in seconds (\"60s\"): %v", name, v[0], err)
	}
	return d
}

// The units start the daemon the way its readiness and watchdog code
// expects, keep its state in a private state directory, and harden the
// service as far as its role allows: fully for a supernode; for an agent,
// which runs dpkg/rpm as root, only where no package installation breaks,
// each setting it leaves out documented in the unit.
func TestSystemdUnits(t *testing.T) {
	for _, tc := range []struct {
		file    string
		role    trust.Role
		newCmd  func() *cobra.Command
		want    map[string]string // [Service] keys; "" is set and empty
		absent  []string          // [Service] keys the unit must not set
		explain bool              // each absent key is documented ("# - Key=")
	}{
		{
			file: "patchnet-supernode.service", role: trust.RoleSupernode, newCmd: newSupernodeCmd,
			want: map[string]string{
				"DynamicUser": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "", "NoNewPrivileges": "yes",
				"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
				"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
				"RestrictSUIDSGID": "yes", "UMask": "0077",
			},
			// The state directory is the only writable path: StateDirectory=
			// makes it writable under ProtectSystem=strict.
			absent: []string{"ReadWritePaths", "User"},
		},
		{
			file: "patchnet-agent.service", role: trust.RoleAgent, newCmd: newAgentCmd,
			want: map[string]string{
				"ProtectHome": "read-only", "PrivateTmp": "yes", "ProtectControlGroups": "yes", "ProtectKernelLogs": "yes",
				"KillMode": "mixed",
			},
			absent: []string{"User", "ProtectSystem", "ReadWritePaths", "NoNewPrivileges", "RestrictSUIDSGID",
				"ProtectKernelTunables", "ProtectKernelModules", "PrivateDevices", "ProtectClock", "CapabilityBoundingSet",
				"SystemCallFilter", "RestrictNamespaces", "MemoryDenyWriteExecute", "RestrictAddressFamilies"},
			explain: true,
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			opts, text := readUnit(t, tc.file)
			common := map[string]string{
				"Type": "notify", "NotifyAccess": "main", "Restart": "on-failure",
				"StateDirectory": "patchnet", "StateDirectoryMode": "0700",
			}
			for _, want := range []map[string]string{common, tc.want} {
				for key, val := range want {
					if got := unitValues(opts, "Service", key); !slices.Equal(got, []string{val}) {
						t.Errorf("%s=%q, want %q", key, got, val)
					}
				}
			}
			for _, key := range tc.absent {
				if got := unitValues(opts, "Service", key); got != nil {
					t.Errorf("%s=%q is set", key, got)
				}
				if tc.explain && !strings.Contains(text, "# - "+key+"=") {
					t.Errorf("no comment (\"# - %s=: why\") says why %s is not set", key, key)
				}
			}
			if got := unitValues(opts, "Install", "WantedBy"); !slices.Equal(got, []string{"multi-user.target"}) {
				t.Errorf("WantedBy=%q, want multi-user.target", got)
			}
			if got := unitValues(opts, "Unit", "After"); !slices.Contains(got, "network-online.target") {
				t.Errorf("After=%q, want network-online.target among them", got)
			}

			exec := unitValues(opts, "Service", "ExecStart")
			if len(exec) != 1 {
				t.Fatalf("ExecStart=%q, want one command", exec)
			}
			argv := strings.Fields(exec[0])
			config := "/etc/patchnet/" + string(tc.role) + ".toml"
			if want := []string{"/usr/bin/patchnet", string(tc.role), "--config", config}; !slices.Equal(argv, want) {
				t.Errorf("ExecStart=%q, want %q", exec[0], strings.Join(want, " "))
			}
			cmd := tc.newCmd()
			if err := cmd.ParseFlags(argv[min(2, len(argv)):]); err != nil {
				t.Errorf("patchnet %s refuses the unit's flags: %v", tc.role, err)
			} else if got, _ := cmd.Flags().GetString("config"); got != config {
				t.Errorf("the unit's --config is %q, want %q", got, config)
			}

			watchdog := unitDuration(t, opts, "WatchdogSec")
			if watchdog <= 0 {
				t.Errorf("WatchdogSec=%v: the watchdog is off", watchdog)
			}
			// READY=1 may wait ReadyCatchUpWait for the first catch-up; a
			// start timeout shorter than that kills a node whose peers are
			// down instead of starting it.
			if start := unitDuration(t, opts, "TimeoutStartSec"); start <= ReadyCatchUpWait {
				t.Errorf("TimeoutStartSec=%v, want more than ReadyCatchUpWait (%v)", start, ReadyCatchUpWait)
			}
		})
	}
}
