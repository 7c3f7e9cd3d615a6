package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/updates/install"
)

// paperRow is one update of the paper's Table II (section VII): the
// system it stood for, the package, its size and the measured S1
// (download) and S2 (verify and install) on 166–700 MHz machines.
type paperRow struct {
	agent, system, pkg string
	bytes              int64
	s1, s2             float64
}

// paper are the three updates, in the paper's order.
var paper = []paperRow{
	{"openbsd", "OpenBSD (custom update)", "sudo", 72909, 0.06, 0.06}, // 71.2 KB
	{"redhat", "Red Hat (rpm)", "pine", 2695168, 1.55, 19.76},         // 2632 KB
	{"debian", "Debian (dpkg)", "wu-ftpd", 256000, 0.24, 4.1},         // 250 KB
}

// table2Update is one update's artifact and announcement and how the
// package manager alone installs it, for comparison.
type table2Update struct {
	row     paperRow
	update  zonekit.Update
	manager func(ctx context.Context) (time.Duration, error)
}

// table2 runs the paper's experiment: a vendor (the origin), supernodes,
// and three agents standing for OpenBSD, Red Hat and Debian, each with a
// real root; each update is published in turn and timed on the agent it
// is for, beside the package manager's own time on a scratch root.
func table2(ctx context.Context, p testnet.Params, progress testnet.Progress) (*testnet.Report, error) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("table2 needs %s: %w", tool, err)
		}
	}
	if p.Bandwidth == 0 {
		p.Bandwidth = Table2Bandwidth
	}
	agents := []string{paper[0].agent, paper[1].agent, paper[2].agent}
	var ups []table2Update
	setup := func(ctx context.Context, c *cluster) error {
		var err error
		ups, err = table2Setup(ctx, c)
		return err
	}
	return withCluster(ctx, p, progress, agents, setup, func(ctx context.Context, c *cluster, setupTime time.Duration) (*testnet.Report, error) {
		rep := baseReport(p, c, setupTime)
		rep.ArtifactBytes = 0 // three artifacts: each row has its size
		for _, u := range ups {
			row, err := table2Publish(ctx, c, u)
			if err != nil {
				return rep, err
			}
			rep.Table2 = append(rep.Table2, row)
			rep.Checks[u.row.pkg+"_installed"] = row.S2S > 0
		}
		return rep, c.counters(ctx, rep, "")
	})
}

// table2Publish publishes u, waits for every agent to finish with it, and
// makes its row from the timeline of the agent it is for.
func table2Publish(ctx context.Context, c *cluster, u table2Update) (testnet.Table2Row, error) {
	row := testnet.Table2Row{System: u.row.system, Package: u.row.pkg, PaperS1S: u.row.s1, PaperS2S: u.row.s2}
	fi, err := os.Stat(u.update.Artifact)
	if err != nil {
		return row, err
	}
	row.Bytes = fi.Size()
	row.LineRateS1S = float64(row.Bytes) / float64(c.p.Bandwidth)
	if row.ManagerS, err = measure(ctx, u.manager); err != nil {
		return row, err
	}
	if u.update.URL, err = c.vendor.Add(u.update.Artifact); err != nil {
		return row, err
	}
	if err := c.released(u.update.ID, u.update.Artifact); err != nil {
		return row, err
	}
	_, done, err := c.publish(ctx, u.update)
	if err != nil {
		return row, err
	}
	tls, werr := c.waitFinal(ctx, u.update.ID, c.agents)
	if err := <-done; err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	tl := tls[u.row.agent]
	if tl.state != node.StateInstalled {
		return row, fmt.Errorf("%s on %s: %s, not installed: %s", u.update.ID, u.row.agent, tl.state, tl.err)
	}
	// An agent emits no event when it starts fetching (only its lifecycle
	// record moves), so S1 runs from acceptance, which matching the
	// host's inventory and the respond decision follow within
	// milliseconds, to the fetched event.
	accepted, fetched, installed := tl.at[node.EventAccepted], tl.at[node.EventFetched], tl.at[node.EventInstalled]
	row.S1S = fetched.Sub(accepted).Seconds()
	row.S2S = installed.Sub(fetched).Seconds()
	return row, nil
}

// measure times f.
func measure(ctx context.Context, f func(context.Context) (time.Duration, error)) (float64, error) {
	d, err := f(ctx)
	return d.Seconds(), err
}

// table2Setup builds the three packages (and the old versions the agents
// start with), the agents' roots, and starts the agents.
func table2Setup(ctx context.Context, c *cluster) ([]table2Update, error) {
	dir := c.kit.Path("packages")
	c.progress("building packages", 0, 3)
	sudo, err := buildArchive(dir, pkg{"sudo", "1.6.6", paper[0].bytes})
	if err != nil {
		return nil, err
	}
	oldPine, err := buildRPM(ctx, dir, pkg{"pine", "4.44-1", smallPackage})
	if err != nil {
		return nil, err
	}
	pine, err := buildRPM(ctx, dir, pkg{"pine", "4.44-2", paper[1].bytes})
	if err != nil {
		return nil, err
	}
	oldFTP, err := buildDeb(ctx, dir, pkg{"wu-ftpd", "2.6.2-1", smallPackage})
	if err != nil {
		return nil, err
	}
	ftp, err := buildDeb(ctx, dir, pkg{"wu-ftpd", "2.6.2-2", paper[2].bytes})
	if err != nil {
		return nil, err
	}
	c.progress("building packages", 3, 3)
	c.progress("starting agents", 0, 3)
	roots := map[string]string{}
	for _, a := range c.agents {
		roots[a] = c.kit.Path(a, "root")
	}
	prefix := filepath.Join(roots["openbsd"], "usr/local/sudo")
	steps := []func() error{
		func() error { return c.sandbox(ctx, c.kit.Path("openbsd"), roots["openbsd"], "") },
		func() error { return os.MkdirAll(prefix, 0o755) },
		func() error {
			return c.startAgent(ctx, "openbsd", roots["openbsd"], map[string]string{
				"respond.categories.bugfix": `"apply"`, "install.prefixes": fmt.Sprintf("{ \"*\" = %q }", prefix)})
		},
		func() error { return makeRPMRoot(ctx, roots["redhat"], oldPine) },
		func() error { return c.startAgent(ctx, "redhat", roots["redhat"], nil) },
		func() error { return c.sandbox(ctx, c.kit.Path("debian"), roots["debian"], oldFTP) },
		func() error { return c.startAgent(ctx, "debian", roots["debian"], nil) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	c.progress("starting agents", 3, 3)
	scratch := c.kit.Path("scratch")
	return []table2Update{
		{row: paper[0], manager: func(ctx context.Context) (time.Duration, error) {
			return timed(ctx, "tar", "-xzf", sudo, "-C", mkdir(filepath.Join(scratch, "sudo")))
		}, update: zonekit.Update{ID: "TABLE2-SUDO", Summary: "sudo: custom update (OpenBSD)", Artifact: sudo, Method: "archive",
			Category: "bugfix"}},
		{row: paper[1], manager: func(ctx context.Context) (time.Duration, error) {
			root := filepath.Join(scratch, "rpm")
			if err := makeRPMRoot(ctx, root, oldPine); err != nil {
				return 0, err
			}
			return timed(ctx, "rpm", "--root", root, "--dbpath", install.DefaultRPMDBPath, "--upgrade", pine)
		}, update: zonekit.Update{ID: "TABLE2-PINE", Summary: "pine: rpm update (Red Hat)", Artifact: pine, Method: "rpm",
			Ecosystem: "Red Hat:enterprise_linux:9", Package: "pine", Fixed: "4.44-2"}},
		{row: paper[2], manager: func(ctx context.Context) (time.Duration, error) {
			root := filepath.Join(scratch, "dpkg")
			if err := nodelab.MakeSandbox(ctx, filepath.Join(scratch, "dpkg-state"), root, oldFTP); err != nil {
				return 0, err
			}
			return timed(ctx, "dpkg", "--root="+root, "--install", ftp)
		}, update: zonekit.Update{ID: "TABLE2-WU-FTPD", Summary: "wu-ftpd: dpkg update (Debian)", Artifact: ftp, Method: "dpkg",
			Ecosystem: "Debian:12", Package: "wu-ftpd", Fixed: "2.6.2-2"}},
	}, nil
}

// mkdir makes dir and returns it (an error shows when the tool runs).
func mkdir(dir string) string {
	os.MkdirAll(dir, 0o755)
	return dir
}

// timed runs a tool and returns how long it took.
func timed(ctx context.Context, name string, args ...string) (time.Duration, error) {
	start := time.Now()
	if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("timing %s: %w: %s", name, err, b)
	}
	return time.Since(start), nil
}
