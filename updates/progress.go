package updates

import (
	"fmt"
	"io"
)

// TextProgress returns a FetchOptions.Progress callback that redraws one
// line on w: "label  42%  107.5/256.0 MiB". The line ends with a newline when
// the transfer completes. Meant for terminals; pass io.Discard to silence.
func TextProgress(w io.Writer, label string) func(done, total int64) {
	last := -1
	return func(done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct == last {
			return
		}
		last = pct
		fmt.Fprintf(w, "\r%s %3d%% %7.1f/%.1f MiB", label, pct, float64(done)/(1<<20), float64(total)/(1<<20))
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
