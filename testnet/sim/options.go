package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/updates"
)

// dpkgTools are the binaries agents with real installers run: dpkg-deb
// builds the packages, dpkg installs them, dpkg-query checks them.
var dpkgTools = []string{"dpkg", "dpkg-deb", "dpkg-query"}

// Options are a run's settings beyond testnet.Params, for callers that run
// sim as a library and narrate the run: `patchnet demo` is the propagation
// scenario with real installers and these hooks. The zero value is what
// Run (and `patchnet testnet`) uses.
type Options struct {
	// Dir is where the zone's files go (certificates, packages, node
	// states, sandbox roots), laid out as nodelab lays them out; the caller
	// owns and removes it. Empty: a temporary directory Run removes.
	Dir string
	// RealInstallers gives every agent the real, journalled dpkg installer
	// into its sandbox Debian root instead of a recording installer, so
	// each install is dpkg's (needs dpkg, dpkg-deb and dpkg-query on PATH).
	// Sim runs record installs by default: thousands of agents in one
	// process would otherwise be thousands of dpkg runs.
	RealInstallers bool
	// ReadyTimeout bounds the wait for the zone's gossip meshes at set-up
	// (0: Params.Timeout, which bounds the scenario after it).
	ReadyTimeout time.Duration
	// OnStarted, when set, is called once every node is up and meshed,
	// with the zone and how long set-up took. The lab runs until the run
	// returns, or until the baselines start when they run (they run
	// alone); its members' statuses stay readable after.
	OnStarted func(lab *nodelab.Lab, setup time.Duration)
	// OnPublished, when set, is called each time the publisher published
	// an announcement, with it and the publication time the report's
	// times run from.
	OnPublished func(fix *updates.Announcement, at time.Time)
}

// check names a missing tool the options need.
func (o Options) check() error {
	if !o.RealInstallers {
		return nil
	}
	for _, tool := range dpkgTools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("real installers: %s is not on PATH (Debian: apt-get install dpkg-dev)", tool)
		}
	}
	return nil
}

// zoneDir is where the zone's files go, and what removes them after the
// run: Dir, kept, or a new temporary directory, removed.
func (o Options) zoneDir() (string, func(), error) {
	if o.Dir != "" {
		return o.Dir, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "patchnet-sim-")
	if err != nil {
		return "", nil, fmt.Errorf("making the run's directory: %w", err)
	}
	return filepath.Join(dir, "zone"), func() { os.RemoveAll(dir) }, nil
}

// readyTimeout is ReadyTimeout, or the run's timeout.
func (o Options) readyTimeout(runTimeout time.Duration) time.Duration {
	if o.ReadyTimeout > 0 {
		return o.ReadyTimeout
	}
	return runTimeout
}

func (o Options) started(lab *nodelab.Lab, setup time.Duration) {
	if o.OnStarted != nil {
		o.OnStarted(lab, setup)
	}
}

func (o Options) published(fix *updates.Announcement, at time.Time) {
	if o.OnPublished != nil {
		o.OnPublished(fix, at)
	}
}
