package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// ownName matches the namespaces this package makes, capturing the
// creating process's id.
var ownName = regexp.MustCompile(`^` + NamePrefix + `([0-9]+)-[0-9]+-[a-z0-9_]+$`)

// Sweep deletes the namespaces this package made in runs whose process is
// gone (killed before Close), and returns their names. Namespaces of live
// processes, and every other namespace, are left alone.
func Sweep(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	var swept []string
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := ownName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || alive(pid) {
			continue
		}
		if err := deleteNS(name); err != nil {
			errs = append(errs, err)
			continue
		}
		swept = append(swept, name)
	}
	return swept, errors.Join(errs...)
}

// alive reports whether process pid exists (signal 0 checks without
// sending; EPERM means it exists under another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM) || pid == os.Getpid()
}
