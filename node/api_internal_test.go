package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/overlay"
)

// listenAPI claims the socket of a state directory, whatever is there
// before: nothing, a stale socket, a live one, a file that is no socket;
// a state directory others may enter is made owner-only, and one too deep
// for a socket address still gets its socket.
func TestListenAPIClaimsSocket(t *testing.T) {
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	for _, tc := range []struct {
		name    string
		state   string
		prepare func(t *testing.T, state string)
		wantErr string
	}{
		{"missing state directory", "", nil, ""},
		{"stale socket", "", func(t *testing.T, state string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: APISocket(state), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, ""},
		{"live socket", "", func(t *testing.T, state string) {
			ln, err := net.Listen("unix", APISocket(state))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "a patchnet daemon already answers at"},
		{"no socket", "", func(t *testing.T, state string) {
			if err := os.WriteFile(APISocket(state), []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "exists and is no socket"},
		{"state directory others may enter", "", func(t *testing.T, state string) {
			if err := os.Chmod(state, 0o755); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"state directory too deep for a socket address", deep, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := tc.state
			if state == "" {
				state = filepath.Join(t.TempDir(), "state")
			}
			if tc.prepare != nil {
				if err := os.MkdirAll(state, 0o700); err != nil {
					t.Fatal(err)
				}
				tc.prepare(t, state)
			}
			before, _ := os.ReadFile(APISocket(state))
			a, err := listenAPI(state)
			if tc.wantErr != "" {
				if err == nil {
					a.close()
					t.Fatalf("listenAPI: no error, want one saying %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("listenAPI: %v, want an error saying %q", err, tc.wantErr)
				}
				if after, _ := os.ReadFile(APISocket(state)); string(after) != string(before) {
					t.Errorf("listenAPI changed %s after refusing", APISocket(state))
				}
				return
			}
			if err != nil {
				t.Fatalf("listenAPI: %v", err)
			}
			checkServes(t, a, state)
		})
	}
}

// checkServes checks a claimed socket's modes, that a client gets an
// answer through it, and that close removes it.
func checkServes(t *testing.T, a *apiServer, state string) {
	t.Helper()
	fi, err := os.Lstat(APISocket(state))
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket: %v, %v; want a socket of mode 0600", fi, err)
	}
	if di, err := os.Stat(state); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v; want mode 0700", di, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, APIStatus{ID: "test"})
	})}
	go srv.Serve(a.ln)
	c, err := DialAPI(context.Background(), state)
	if err != nil {
		t.Fatalf("DialAPI: %v", err)
	}
	defer c.Close()
	if st, err := c.Status(context.Background()); err != nil || st.ID != "test" {
		t.Errorf("status through the socket: %+v, %v", st, err)
	}
	srv.Close()
	if err := a.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Lstat(APISocket(state)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket after close: %v, want it removed", err)
	}
}

// close leaves alone a socket that replaced its own (another node's).
func TestAPICloseLeavesOtherSocket(t *testing.T) {
	state := t.TempDir()
	a, err := listenAPI(state)
	if err != nil {
		t.Fatal(err)
	}
	path := APISocket(state)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("close removed the socket another listener made: %v", err)
	}
}

// DialAPI tells no daemon from a socket it cannot try.
func TestDialAPIWithoutDaemon(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prepare  func(t *testing.T, state string)
		noDaemon bool
	}{
		{"no state directory", func(t *testing.T, state string) { os.Remove(state) }, true},
		{"no socket", func(*testing.T, string) {}, true},
		{"stale socket", func(t *testing.T, state string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: APISocket(state), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}, true},
		{"socket not to be entered", func(t *testing.T, state string) {
			if os.Geteuid() == 0 {
				t.Skip("root enters any directory")
			}
			ln, err := net.Listen("unix", APISocket(state))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			os.Chmod(state, 0)
			t.Cleanup(func() { os.Chmod(state, 0o700) })
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			tc.prepare(t, state)
			c, err := DialAPI(context.Background(), state)
			if err == nil {
				c.Close()
				t.Fatal("DialAPI: no error")
			}
			if errors.Is(err, ErrNoDaemon) != tc.noDaemon {
				t.Errorf("DialAPI: %v; want ErrNoDaemon %v", err, tc.noDaemon)
			}
		})
	}
}

// Every overlay counter is in the status, named in snake case.
func TestStatsMapHasEveryCounter(t *testing.T) {
	m := statsMap(overlay.Stats{Delivered: 1, CatchUpAccepted: 2, AuthBusyRetries: 3})
	if n := reflect.TypeFor[overlay.Stats]().NumField(); len(m) != n {
		t.Errorf("%d counters, want %d: %v", len(m), n, m)
	}
	for _, tc := range []struct {
		field, key string
		want       uint64
	}{
		{"Delivered", "delivered", 1},
		{"CatchUpAccepted", "catch_up_accepted", 2},
		{"AuthBusyRetries", "auth_busy_retries", 3},
		{"DHTPeers", "dht_peers", 0},
		{"QueueFull", "queue_full", 0},
	} {
		if got := snakeCase(tc.field); got != tc.key {
			t.Errorf("snakeCase(%s) = %s, want %s", tc.field, got, tc.key)
		}
		if v, ok := m[tc.key]; tc.field != "DHTPeers" && (!ok || v != tc.want) {
			t.Errorf("%s = %d, %v; want %d", tc.key, v, ok, tc.want)
		}
	}
}

// The status lists every unfinished update, then the most recently
// updated final ones up to APIStatusUpdates, in record order.
func TestAPIUpdatesBounded(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []UpdateRecord
	for i := range APIStatusUpdates + 5 {
		r := UpdateRecord{ID: fmt.Sprintf("PNT-%05d", i), Version: 1, State: StateInstalled, Updated: base.Add(time.Duration(i) * time.Minute)}
		if i%400 == 0 {
			r.State, r.Updated = StateScheduled, base // unfinished and oldest: kept all the same
		}
		recs = append(recs, r)
	}
	out, omitted := apiUpdates(recs)
	if len(out) != APIStatusUpdates || omitted != 5 {
		t.Fatalf("%d updates, %d omitted; want %d and 5", len(out), omitted, APIStatusUpdates)
	}
	kept := map[string]bool{}
	for i, u := range out {
		kept[u.ID] = true
		if i > 0 && out[i-1].ID >= u.ID {
			t.Fatalf("updates out of order at %d: %s, %s", i, out[i-1].ID, u.ID)
		}
	}
	for _, tc := range []struct {
		id   string
		kept bool
	}{
		{"PNT-00000", true}, {"PNT-00400", true}, {"PNT-00800", true}, // unfinished
		{"PNT-00001", false}, {"PNT-00005", false}, {"PNT-00006", true}, {"PNT-01004", true},
	} {
		if kept[tc.id] != tc.kept {
			t.Errorf("%s kept %v, want %v", tc.id, kept[tc.id], tc.kept)
		}
	}
}
