package sysinfo

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Options say where and for whom an inventory is taken.
type Options struct {
	// Root is the filesystem root to describe; "" means "/". A container
	// image, chroot or test fixture works: symlinks that would leave Root
	// are refused, so an untrusted image cannot make Collect read the host.
	Root string
	// AgentVersion is reported in Meta; "" means this binary's module
	// version, or "devel".
	AgentVersion string
	// PackagesOnly takes the OS and the package databases and nothing
	// else: what matching an announcement needs. The agent matches every
	// announcement it accepts, and the host's kind, hardware and services
	// (a walk of every systemd unit directory) would be read each time
	// for nothing. Meta then holds only Root, AgentVersion and
	// CollectedAt.
	PackagesOnly bool
}

// Collector names, as CollectorError.Collector gives them.
const (
	CollectorHardware = "hardware"
	CollectorOS       = "os"
	CollectorDpkg     = "dpkg"
	CollectorRPM      = "rpm"
	CollectorApk      = "apk"
	CollectorServices = "services"
)

// Collect takes the inventory of the host at opts.Root. The collectors run
// concurrently; each one's failure is recorded in Errors and leaves its
// part empty. Collect itself fails only when Root cannot be opened or ctx
// ends.
func Collect(ctx context.Context, opts Options) (*Inventory, error) {
	rootDir := opts.Root
	if rootDir == "" {
		rootDir = "/"
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("opening root: %w", err)
	}
	defer root.Close()

	inv := &Inventory{Schema: SchemaVersion, Software: []Package{}, Services: []Service{}, Errors: []CollectorError{}}
	c := collection{inv: inv}
	// OS first: software needs the distribution for package URLs.
	osInfo, err := collectOS(root)
	inv.OS = osInfo
	c.fail(CollectorOS, err)

	// Each goroutine writes its own part of inv; only Errors is shared.
	var wg sync.WaitGroup
	if !opts.PackagesOnly {
		c.host(ctx, root, &wg)
	}
	software := [...]struct {
		name    string
		collect func(*os.Root) ([]Package, error)
	}{{CollectorDpkg, collectDpkg}, {CollectorRPM, collectRPM}, {CollectorApk, collectApk}}
	results := make([][]Package, len(software))
	for i, s := range software {
		wg.Go(func() {
			pkgs, err := s.collect(root)
			results[i] = pkgs
			c.fail(s.name, err)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("collecting inventory: %w", err)
	}
	for _, pkgs := range results {
		for _, p := range pkgs {
			p.PURL = PURL(p, inv.OS)
			inv.Software = append(inv.Software, p)
		}
	}
	inv.Meta.Root = rootDir
	inv.Meta.AgentVersion = agentVersion(opts.AgentVersion)
	inv.Meta.CollectedAt = time.Now().UTC()
	c.sortErrors()
	return inv, nil
}

// host starts the collectors of what is not software: the host's kind,
// its hardware and its services.
func (c *collection) host(ctx context.Context, root *os.Root, wg *sync.WaitGroup) {
	inv := c.inv
	wg.Go(func() { inv.Meta = collectMeta(root) })
	wg.Go(func() {
		var err error
		inv.Hardware, err = collectHardware(ctx, root)
		c.fail(CollectorHardware, err)
	})
	wg.Go(func() {
		svcs, err := collectServices(ctx, root)
		inv.Services = append(inv.Services, svcs...)
		c.fail(CollectorServices, err)
	})
}

// collection guards the inventory's error list while collectors run.
type collection struct {
	inv *Inventory
	mu  sync.Mutex
}

// fail records a collector's error, if any.
func (c *collection) fail(collector string, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inv.Errors = append(c.inv.Errors, CollectorError{Collector: collector, Error: err.Error()})
}

// sortErrors puts the errors in collector order, whatever order the
// goroutines finished in, so that two inventories compare equal.
func (c *collection) sortErrors() {
	order := map[string]int{CollectorHardware: 1, CollectorOS: 2,
		CollectorDpkg: 3, CollectorRPM: 4, CollectorApk: 5, CollectorServices: 6}
	slices.SortStableFunc(c.inv.Errors, func(a, b CollectorError) int {
		return order[a.Collector] - order[b.Collector]
	})
}

// agentVersion is the version to report.
func agentVersion(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
