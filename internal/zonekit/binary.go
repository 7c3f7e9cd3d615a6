package zonekit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BinaryEnv names the environment variable that gives the patchnet binary
// to run, instead of building one.
const BinaryEnv = "PATCHNET_BIN"

// Binary returns the patchnet binary to run: $PATCHNET_BIN, else this
// process's own executable when it is patchnet, else one built with `go
// build` into dir (which needs the module's source, as tests have).
func Binary(ctx context.Context, dir string) (string, error) {
	if bin := os.Getenv(BinaryEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s: %w", BinaryEnv, err)
		}
		return bin, nil
	}
	if self, err := os.Executable(); err == nil && filepath.Base(self) == "patchnet" {
		return self, nil
	}
	bin := filepath.Join(dir, "patchnet")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/patchnet/patchnet/cmd/patchnet").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building patchnet: %w\n%s", err, out)
	}
	return bin, nil
}
