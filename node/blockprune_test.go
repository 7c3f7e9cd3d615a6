package node_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
)

// A node's block store keeps the artifacts of current announcements and
// loses the rest once they are a day old: after a restart (a prune at
// start) with every block file backdated two days, neither the supernode
// that checked the fix nor the agent that installed it holds a copy of an
// artifact no announcement names (left in their stores, as an earlier
// fetch would leave it), and both still hold the fix's blocks — also
// after a stolen publisher key proposed a higher version naming the stale
// artifact, which the supernode refused. Before, STATE/blocks kept every
// artifact for good.
func TestBlockStoreKeepsOnlyCurrentArtifacts(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 1, Threshold: 1, Configure: func(_ string, cfg *node.Config) {
		cfg.InMemory = false // the held records must outlive the restart
	}})
	ctx := context.Background()
	agent := l.Agents[0]
	fix, err := l.Fix(ctx, "PNT-2026-0304", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, agent.Name+" to install the fix", func() bool { return agent.Status().Has(node.EventInstalled) })
	stale, err := l.Publisher.AddArtifact(ctx, l.Debs[nodelab.OldVersion])
	if err != nil {
		t.Fatal(err)
	}
	// A stolen publisher key's version 2 names the vendor's file (which
	// passes the check at the origin) under the stale artifact's content
	// id: the supernode refuses it, and it must not supersede the fix's
	// artifact there.
	forged, err := l.Fix(ctx, fix.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	art := *forged.Patchnet.Artifact
	art.ContentID = stale
	forged.Patchnet.Artifact = &art
	if _, err := l.Publisher.Publish(ctx, forged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the supernode to refuse the forged version", func() bool { return l.Supernodes[0].Status().Has(node.EventRefused) })
	members := []*nodelab.Member{l.Supernodes[0], agent} // the publisher's address would change with a restart
	for _, m := range members {
		copyBlock(t, l.Publisher, m, stale)
		backdateBlocks(t, m, 48*time.Hour)
		if err := l.Restart(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range members {
		waitFor(t, 30*time.Second, m.Name+" to prune its block store", func() bool { return m.Status().Has(node.EventBlocksPruned) })
	}
	for _, m := range members {
		st := apiStatusOf(t, m)
		if p := st.Content.Pruned; p == nil || p.Artifacts != 1 || p.Removed != 1 || p.Blocks < 1 || p.FreedBytes <= 0 {
			t.Errorf("%s's status of the prune: %+v, want one current artifact kept and the stale block deleted", m.Name, p)
		}
		if !holdsBlock(t, m, fix.Patchnet.Artifact.ContentID) {
			t.Errorf("%s lost the current fix's blocks", m.Name)
		}
		if holdsBlock(t, m, stale) {
			t.Errorf("%s still holds the artifact no announcement names:\n%s", m.Name, describe(l))
		}
	}
}

// blockPath is where m's block store keeps the block named c, or "".
func blockPath(t *testing.T, m *nodelab.Member, c string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(filepath.Join(m.Dir, "state", "blocks"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == c {
			found = p
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func holdsBlock(t *testing.T, m *nodelab.Member, c string) bool { return blockPath(t, m, c) != "" }

// copyBlock puts from's block c into to's store, as a leftover of an
// earlier fetch would be.
func copyBlock(t *testing.T, from, to *nodelab.Member, c string) {
	t.Helper()
	src := blockPath(t, from, c)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Join(from.Dir, "state"), src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(to.Dir, "state", rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// backdateBlocks makes every block file of m's store age older.
func backdateBlocks(t *testing.T, m *nodelab.Member, age time.Duration) {
	t.Helper()
	then := time.Now().Add(-age)
	err := filepath.WalkDir(filepath.Join(m.Dir, "state", "blocks"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return err
		}
		return os.Chtimes(p, then, then)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// apiStatusOf reads m's status over its local API, as `patchnet status`.
func apiStatusOf(t *testing.T, m *nodelab.Member) *node.APIStatus {
	t.Helper()
	ctx := context.Background()
	c, err := node.DialAPI(ctx, filepath.Join(m.Dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
