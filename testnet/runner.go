package testnet

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Progress receives live counts while a run starts nodes and while the
// update propagates: stage names what is counted ("starting", "receipt",
// "accepted", "installed", …), done out of total. It may be nil.
type Progress func(stage string, done, total int)

// Runner runs one scenario in one mode and returns its report. The mode
// packages register theirs (sim, netns); a failed scenario check is in
// Report.Checks, an error means the run itself could not happen.
type Runner func(ctx context.Context, p Params, progress Progress) (*Report, error)

var (
	runnersMu sync.Mutex
	runners   = map[string]Runner{}
)

// Register makes run the Runner of mode. Mode packages call it from init.
func Register(mode string, run Runner) {
	runnersMu.Lock()
	defer runnersMu.Unlock()
	runners[mode] = run
}

// Run validates p and runs it with the Runner registered for p.Mode.
func Run(ctx context.Context, p Params, progress Progress) (*Report, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("checking parameters: %w", err)
	}
	runnersMu.Lock()
	run, ok := runners[p.Mode]
	runnersMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("mode %q: no runner registered (have %v)", p.Mode, Modes())
	}
	return run(ctx, p, progress)
}

// Modes lists the registered modes.
func Modes() []string {
	runnersMu.Lock()
	defer runnersMu.Unlock()
	var out []string
	for m := range runners {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
