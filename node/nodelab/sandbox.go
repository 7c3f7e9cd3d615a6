package nodelab

import (
	"context"
	"fmt"

	"github.com/patchnet/patchnet/updates/install"
)

// BuildDebs builds the lab's two real packages of PackageName (OldVersion
// and NewVersion) into dir with dpkg-deb, for tests that run separate
// patchnet processes; it returns version → path.
func BuildDebs(ctx context.Context, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range []string{OldVersion, NewVersion} {
		path, err := buildDeb(ctx, dir, labDeb(v), true)
		if err != nil {
			return nil, err
		}
		out[v] = path
	}
	return out, nil
}

// MakeSandbox makes a Debian 12 root at root, with oldDeb installed by
// dpkg through a journal in state when oldDeb is not "" (as an earlier
// update would have), or without the package.
func MakeSandbox(ctx context.Context, state, root, oldDeb string) error {
	if err := makeSandbox(root); err != nil {
		return err
	}
	if oldDeb == "" {
		return nil
	}
	ic := install.DefaultConfig(state)
	ic.Root = root
	m, _, err := install.Open(ctx, ic)
	if err != nil {
		return fmt.Errorf("opening the sandbox's journal: %w", err)
	}
	defer m.Close()
	return installOld(ctx, m, oldDeb)
}

// WriteFix writes the lab's fix (PackageName at NewVersion) padded with
// padding bytes of filler into dir, without dpkg-deb, and returns its
// path: the same bytes from every build of this source, so that a test
// zone on other machines (testnet render's pods) can build the very
// package a vendor signed here rather than carry it.
func WriteFix(dir string, padding int) (string, error) {
	if padding < 0 {
		return "", fmt.Errorf("padding %d: want ≥ 0", padding)
	}
	d := labDeb(NewVersion)
	d.Padding = padding
	return buildDeb(context.Background(), dir, d, false)
}
