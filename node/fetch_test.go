package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/overlay/content"
	"github.com/patchnet/patchnet/trust"
)

// A fetch that succeeded from a later mirror names the bad one in the
// fetched event, saying whether it served other bytes (an attack or a
// corrupt mirror) or merely failed.
func TestFetchedEventFlagsBadMirror(t *testing.T) {
	res := content.Result{Bytes: 10, Sources: []content.Source{content.SourceVendor}, BadMirrors: []content.MirrorError{
		{URL: "https://evil.example/x.deb", Err: fmt.Errorf("fetching: %w", trust.ErrDigestMismatch)},
		{URL: "https://down.example/x.deb", Err: errors.New("connection refused")},
	}}
	d := describeFetch(res).detail
	for _, want := range []string{"mirror https://evil.example/x.deb BAD MIRROR, served other bytes", "mirror https://down.example/x.deb failed"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail %q lacks %q", d, want)
		}
	}
}
