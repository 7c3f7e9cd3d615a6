package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressRefresh is how often the bars redraw on a terminal: fast enough
// to look live, slow enough to cost nothing beside a thousand nodes.
const progressRefresh = 150 * time.Millisecond

// stageBars shows a run's testnet.Progress, one stage ("starting",
// "receipt", "accepted", "installed", …) at a time with its counts, in the
// order the stages first report. On a terminal each stage is an mpb bar
// redrawn live. Elsewhere (a CI log, a pipe) bars would be escape codes, so
// it writes a line when a stage starts and one when it ends.
type stageBars struct {
	mu     sync.Mutex
	out    io.Writer
	live   *mpb.Progress // nil when out is not a terminal
	stages map[string]*stageCount
	order  []string
	closed bool
}

// stageCount is one stage's last counts, and its bar when live.
type stageCount struct {
	done, total int
	ended       bool
	bar         *mpb.Bar
}

// newStageBars draws on w, live if w is a terminal.
func newStageBars(w io.Writer) *stageBars {
	return newStageBarsLive(w, cupwriter.New(w, false).IsTerminal())
}

func newStageBarsLive(w io.Writer, live bool) *stageBars {
	s := &stageBars{out: w, stages: map[string]*stageCount{}}
	if live {
		s.live = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(progressRefresh), mpb.WithAutoRefresh())
	}
	return s
}

// update is the run's testnet.Progress. Runners may call it from many
// goroutines, and late ones after the run returned: those are dropped.
func (s *stageBars) update(stage string, done, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	c, ok := s.stages[stage]
	if !ok {
		c = s.start(stage, total)
	}
	if c.ended {
		return
	}
	c.done, c.total = done, total
	if c.bar != nil {
		c.bar.SetTotal(int64(total), false)
		c.bar.SetCurrent(int64(done))
	}
	if total > 0 && done >= total {
		s.end(stage, c, true)
	}
}

// start adds stage's bar, or its first line.
func (s *stageBars) start(stage string, total int) *stageCount {
	c := &stageCount{total: total}
	s.stages[stage] = c
	s.order = append(s.order, stage)
	if s.live == nil {
		fmt.Fprintf(s.out, "%s: 0/%d\n", stage, total)
		return c
	}
	// Total 0 to mpb: the bar completes when end says so, not when a count
	// first reaches a total that may still grow.
	c.bar = s.live.AddBar(0,
		mpb.PrependDecorators(decor.Name(stage, decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncWidth)),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_GO)))
	return c
}

// end completes stage's bar, or writes its last line; a stage that did not
// reach its total is left at the count it got to.
func (s *stageBars) end(stage string, c *stageCount, complete bool) {
	c.ended = true
	switch {
	case c.bar != nil && complete:
		c.bar.SetTotal(int64(c.total), true)
	case c.bar != nil:
		c.bar.Abort(false)
	case complete:
		fmt.Fprintf(s.out, "%s: %d/%d\n", stage, c.done, c.total)
	default:
		fmt.Fprintf(s.out, "%s: %d/%d when the run ended\n", stage, c.done, c.total)
	}
}

// finish ends the stages that are still counting (nodes that churned
// away, a run cut short) and waits for the bars' last frame.
func (s *stageBars) finish() {
	s.mu.Lock()
	s.closed = true
	for _, stage := range s.order {
		if c := s.stages[stage]; !c.ended {
			s.end(stage, c, false)
		}
	}
	s.mu.Unlock()
	if s.live != nil {
		s.live.Wait()
	}
}
