package overlay

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A bootstrap peer that failed and is then found connected without a dial
// of this node's is logged as connected once, with its failed attempts;
// one connected before any dial is logged once too; later rounds that
// find it connected log nothing more, until a dial of it fails again.
func TestBootstrapLogFoundConnected(t *testing.T) {
	var buf bytes.Buffer
	b := newBootstrapLog(slog.New(slog.NewTextHandler(&buf, nil)))
	p, q := peer.ID("failed-first"), peer.ID("connected-first")
	lines := func() []string {
		defer buf.Reset()
		return strings.FieldsFunc(buf.String(), func(r rune) bool { return r == '\n' })
	}
	b.dialled("/a", p, errors.New("no route"))
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "cannot reach bootstrap peer") {
		t.Fatalf("after a failed dial: %q", got)
	}
	b.found("/a", p)
	b.found("/b", q)
	got := lines()
	if len(got) != 2 || !strings.Contains(got[0], "connected to bootstrap peer") || !strings.Contains(got[0], "failed_attempts=1") ||
		!strings.Contains(got[1], "connected to bootstrap peer") || !strings.Contains(got[1], "dialled=false") {
		t.Fatalf("found connected: %q", got)
	}
	b.found("/a", p)
	b.found("/b", q)
	if got := lines(); len(got) != 0 {
		t.Errorf("found connected again: %q, want nothing", got)
	}
	b.dialled("/a", p, errors.New("no route"))
	lines()
	b.found("/a", p)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "failed_attempts=1") {
		t.Errorf("found after failing again: %q", got)
	}
}
