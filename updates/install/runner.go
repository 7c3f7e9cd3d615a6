package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// runner runs installer binaries for one transaction: each run first checks
// the binary against its pin, uses a clean environment, is bounded in time,
// and leaves its (bounded) output in the transaction log.
type runner struct {
	tools   Tools
	pins    map[string]string
	require bool
	timeout time.Duration
	log     *boundedLog
	// used and alerts collect what the journal records.
	used   []ToolUse
	alerts []Alert
	now    func() time.Time
}

// runSpec is one command.
type runSpec struct {
	tool    string   // a Tools name: "dpkg", "rpm", "sh", ...
	args    []string // arguments after the binary
	dir     string   // working directory; "" = inherit
	env     []string // added to the clean environment
	timeout time.Duration
	// chroot, when set, runs the command chrooted into this directory;
	// tool is then an absolute path inside it, and dir too.
	chroot string
}

// errToolMissing marks a tool that is not installed.
var errToolMissing = errors.New("installer tool not found")

// path resolves and checks a tool without running it.
func (r *runner) path(tool string) (string, error) {
	path, err := r.tools.resolve(tool)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errToolMissing, err)
	}
	if err := statExecutable(path); err != nil {
		return "", err
	}
	use, err := checkTool(path, r.pins, r.require)
	if err != nil {
		r.alert(err)
		return "", err
	}
	r.recordUse(use)
	return path, nil
}

// pathFor is the path to execute for spec: the checked host tool, or,
// chrooted, the binary inside the root after checking it there.
func (r *runner) pathFor(spec runSpec) (string, error) {
	if spec.chroot == "" {
		return r.path(spec.tool)
	}
	use, err := checkToolInRoot(spec.chroot, spec.tool, r.pins, r.require)
	if err != nil {
		r.alert(err)
		return "", err
	}
	r.recordUse(use)
	return spec.tool, nil
}

// checkToolInRoot checks the binary at tool inside root (symlinks followed
// only within root) against the pin of its host path ROOT/TOOL.
func checkToolInRoot(root, tool string, pins map[string]string, require bool) (ToolUse, error) {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return ToolUse{}, fmt.Errorf("checking installer binary: %w", err)
	}
	defer rt.Close()
	host := filepath.Join(root, tool)
	f, err := rt.Open(strings.TrimPrefix(tool, "/"))
	if err != nil {
		return ToolUse{}, fmt.Errorf("checking installer binary %s: %w", host, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ToolUse{}, fmt.Errorf("checking installer binary: %s is not an executable file", host)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ToolUse{}, fmt.Errorf("hashing %s: %w", host, err)
	}
	return checkPin(host, hex.EncodeToString(h.Sum(nil)), pins, require)
}

// alert turns a pin failure into an Alert.
func (r *runner) alert(err error) {
	var tampered *TamperedToolError
	var unpinned *UnpinnedToolError
	switch {
	case errors.As(err, &tampered):
		r.alerts = append(r.alerts, Alert{At: r.now(), Kind: AlertTamperedTool, Message: err.Error()})
	case errors.As(err, &unpinned):
		r.alerts = append(r.alerts, Alert{At: r.now(), Kind: AlertUnpinnedTool, Message: err.Error()})
	}
}

// recordUse keeps one entry per binary.
func (r *runner) recordUse(use ToolUse) {
	for _, u := range r.used {
		if u.Path == use.Path {
			return
		}
	}
	r.used = append(r.used, use)
}

// run checks the tool, runs it and returns its combined output. A non-zero
// exit is an error that quotes the output's last lines, since that is where
// dpkg and rpm say why.
func (r *runner) run(ctx context.Context, spec runSpec) (string, error) {
	path, err := r.pathFor(spec)
	if err != nil {
		return "", err
	}
	timeout := spec.timeout
	if timeout <= 0 {
		timeout = r.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = append(cleanEnv(path), spec.env...)
	var out bytes.Buffer
	// One writer for both streams: os/exec then gives the tool a single
	// pipe, so the output interleaves as on a terminal and no two
	// goroutines write the buffer.
	w := &capWriter{buf: &out, max: MaxToolOutput}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Chroot: spec.chroot}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = ToolWaitDelay
	r.log.printf("$ %s %s", path, strings.Join(spec.args, " "))
	runErr := cmd.Run()
	r.log.write(out.Bytes())
	if ctx.Err() == context.DeadlineExceeded {
		return out.String(), fmt.Errorf("running %s: killed after %s timeout", filepath.Base(path), timeout)
	}
	if runErr != nil {
		return out.String(), fmt.Errorf("running %s %s: %w: %s", filepath.Base(path), firstArg(spec.args), runErr, tail(out.String(), 6))
	}
	return out.String(), nil
}

// cleanEnv is the environment of every tool: nothing inherited from the
// agent, a fixed PATH that starts at the tool's own directory (dpkg runs
// dpkg-deb from PATH) and the C locale so messages are stable.
func cleanEnv(tool string) []string {
	return []string{
		"PATH=" + filepath.Dir(tool) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C",
		"LANG=C",
		"DEBIAN_FRONTEND=noninteractive",
		"HOME=/nonexistent",
	}
}

// firstArg is the action flag, for error messages.
func firstArg(args []string) string {
	for _, a := range args {
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && a != "--root" && a != "--dbpath" {
			return a
		}
	}
	return ""
}

// tail returns the last n non-empty lines of s, joined by " | ".
func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// capWriter keeps at most max bytes and silently drops the rest, so a tool
// that prints without end cannot exhaust memory.
type capWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
		} else {
			w.buf.Write(p)
		}
	}
	return len(p), nil
}

// boundedLog is a transaction's log: at most MaxTransactionLog bytes, with
// a note when something was dropped.
type boundedLog struct {
	buf     bytes.Buffer
	dropped int
}

func (l *boundedLog) write(p []byte) {
	p = sanitizeLog(p)
	room := MaxTransactionLog - l.buf.Len()
	if len(p) > room {
		l.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	l.buf.Write(p)
	if len(p) > 0 && p[len(p)-1] != '\n' {
		l.buf.WriteByte('\n')
	}
}

// sanitizeLog replaces what JSON would escape into six bytes (invalid
// UTF-8, control characters but newline and tab, U+2028 and U+2029) with
// '?', so a log encodes to at most twice its size in the journal.
func sanitizeLog(p []byte) []byte {
	out := make([]byte, 0, len(p))
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20 && r != '\n' && r != '\t', r == 0x7f, r == '\u2028', r == '\u2029':
			out = append(out, '?')
		default:
			out = append(out, p[:size]...)
		}
		p = p[size:]
	}
	return out
}

func (l *boundedLog) printf(format string, args ...any) {
	l.write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// String is the log, with the count of dropped bytes.
func (l *boundedLog) String() string {
	if l.dropped > 0 {
		return l.buf.String() + fmt.Sprintf("[%d bytes of output dropped]\n", l.dropped)
	}
	return l.buf.String()
}
