package netns

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// cutChain is the iptables chain of a node's namespace that holds its
// side of a partition: a DROP for every address across the cut.
const cutChain = "PATCHNET-CUT"

// Partition splits the network in two: the nodes named in cut on one
// side, every other node on the other. Each side's nodes reach each
// other as before; no packet crosses between the sides until Heal. Every
// node drops, on arrival, what comes from across the cut (an iptables
// chain ahead of its INPUT rules), so both sides see silence, as across
// a broken wide-area link: links stay up, sends succeed, nothing
// answers. (The kernel here filters no bridged traffic and loads no tc
// actions, so the cut cannot sit on the bridge.) Nodes added after
// Partition are not cut from anybody.
func (n *Network) Partition(ctx context.Context, cut []string) error {
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		return errors.New("partitioning: iptables-restore is not installed (the Makefile's APT_DEPS installs iptables)")
	}
	n.mu.Lock()
	nodes := slices.Clone(n.order)
	n.mu.Unlock()
	side := map[string]bool{}
	for _, name := range cut {
		if n.Node(name) == nil {
			return fmt.Errorf("partitioning: no node %q", name)
		}
		side[name] = true
	}
	for _, nd := range nodes {
		var across []string
		for _, other := range nodes {
			if side[other.Name] != side[nd.Name] {
				across = append(across, other.Addr.String())
			}
		}
		if err := nd.dropFrom(ctx, across); err != nil {
			return err
		}
	}
	return nil
}

// Heal ends a Partition: every node accepts packets from everyone again.
func (n *Network) Heal(ctx context.Context) error {
	n.mu.Lock()
	nodes := slices.Clone(n.order)
	n.mu.Unlock()
	for _, nd := range nodes {
		if err := nd.dropFrom(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// dropFrom makes the node drop every packet it receives from addrs, and
// only those (none: it drops nothing), in one iptables-restore: the
// chain is declared (so emptied), jumped to first from INPUT once, and
// filled.
func (nd *Node) dropFrom(ctx context.Context, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	rules := []string{"*filter", ":" + cutChain + " - [0:0]"}
	if !nd.hasCutJump(ctx) {
		rules = append(rules, "-I INPUT 1 -j "+cutChain)
	}
	for _, a := range addrs {
		rules = append(rules, "-A "+cutChain+" -s "+a+"/32 -j DROP")
	}
	rules = append(rules, "COMMIT")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nd.NS, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(strings.Join(rules, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("setting %s's side of the partition: %w: %s", nd.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// hasCutJump reports whether the node's INPUT chain jumps to cutChain.
func (nd *Node) hasCutJump(ctx context.Context) bool {
	err := exec.CommandContext(ctx, "ip", "netns", "exec", nd.NS, "iptables", "-w", "-C", "INPUT", "-j", cutChain).Run()
	return err == nil
}
