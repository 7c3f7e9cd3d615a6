package main

import (
	"bytes"
	"strings"
	"testing"
)

// An unknown subcommand of any command group fails naming it, as the binary
// runs it (through run, what main calls); a group alone still prints its
// help and succeeds. (run executes the one package-level tree, whose flag
// values persist between runs, so no case sets a flag.)
func TestUnknownSubcommandFails(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		want     string // in standard error
		wantHelp bool   // standard output is the group's help
	}{
		{[]string{"update", "publish"}, 1, `unknown command "publish" for "patchnet update"`, false},
		{[]string{"ca", "sgn", "x.csr"}, 1, `unknown command "sgn" for "patchnet ca" (did you mean sign?)`, false},
		{[]string{"cert", "revoke"}, 1, `unknown command "revoke" for "patchnet cert"`, false},
		{[]string{"completion", "tcsh"}, 1, `unknown command "tcsh" for "patchnet completion"`, false},
		{[]string{"nosuch"}, 1, `unknown command "nosuch" for "patchnet"`, false},
		{[]string{"update"}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, want %d; stderr %q, want it to contain %q", code, tt.code, stderr.String(), tt.want)
			}
			if help := strings.Contains(stdout.String(), "Available Commands:"); help != tt.wantHelp {
				t.Errorf("help printed: %v, want %v\n%s", help, tt.wantHelp, stdout.String())
			}
		})
	}
	// Every group of the tree refuses an unknown subcommand, not only those above.
	for _, c := range rootCmd.Commands() {
		if !c.HasSubCommands() {
			continue
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{c.Name(), "no-such-command"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), `"no-such-command"`) {
			t.Errorf("patchnet %s no-such-command: exit %d, stderr %q", c.Name(), code, stderr.String())
		}
	}
}
