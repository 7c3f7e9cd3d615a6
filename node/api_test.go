package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates/install"
)

// The local API of lab nodes, over their real sockets: an agent's status
// after an install, its history, a rollback through it, errors as JSON,
// the socket's modes, and a second node on the same state refused.
func TestAPIOfRunningNodes(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 2, Supernodes: 2, Threshold: 2})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0801", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	agent := l.Agents[0]
	waitFor(t, 60*time.Second, agent.Name+" to install the fix", func() bool {
		s := agent.Status()
		return s.Has(node.EventInstalled) || s.Has(node.EventFailed)
	})
	if !agent.Status().Has(node.EventInstalled) {
		t.Fatalf("%s did not install:\n%s", agent.Name, describe(l))
	}
	state := filepath.Join(agent.Dir, "state")
	c := dialAPI(t, state)

	t.Run("status", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		zone, err := l.ZoneRef()
		if err != nil {
			t.Fatal(err)
		}
		if st.ID != agent.ID().String() || strings.Join(st.Roles, ",") != "agent" {
			t.Errorf("status names %s %v, want %s [agent]", st.ID, st.Roles, agent.ID())
		}
		if st.Zone.Name != l.Zone || st.Zone.Root != zone.Root.String() {
			t.Errorf("zone %+v, want %s under %s", st.Zone, l.Zone, zone.Root)
		}
		if len(st.Listen) == 0 || !strings.HasSuffix(st.Listen[0], "/p2p/"+agent.ID().String()) {
			t.Errorf("listen addresses %v", st.Listen)
		}
		if st.PeersTotal == 0 || len(st.Peers) != st.PeersTotal {
			t.Errorf("%d of %d peers listed", len(st.Peers), st.PeersTotal)
		}
		for _, p := range st.Peers {
			if len(p.Addrs) == 0 || p.Role == "" {
				t.Errorf("peer %+v without an address or role", p)
			}
		}
		if mesh := topicMesh(st, agent.Overlay().AnnounceTopic()); mesh == 0 {
			t.Errorf("no gossip mesh on the announce topic: %+v", st.Topics)
		}
		if st.DHT == nil || st.DHT.Mode != "server" {
			t.Errorf("DHT %+v, want server mode", st.DHT)
		}
		if !slices.ContainsFunc(st.Bootstrap, func(b node.APIBootstrapPeer) bool { return b.Connected }) {
			t.Errorf("bootstrap peers %+v, want one connected", st.Bootstrap)
		}
		if len(st.CRLs) != 2 {
			t.Errorf("%d CRLs, want the zone CA's and the root's", len(st.CRLs))
		}
		for _, crl := range st.CRLs {
			if crl.Stale || !crl.NextUpdate.After(st.Now) || crl.Number == "" {
				t.Errorf("CRL %+v at %v: want a fresh one", crl, st.Now)
			}
		}
		if u := findUpdate(st, fix.ID); u == nil || u.State != node.StateInstalled || !u.Final || u.Version != 1 {
			t.Errorf("update %s in status: %+v, want version 1 installed", fix.ID, u)
		} else if payload, _ := json.Marshal(fix); u.AnnouncementBytes <= int64(len(payload)) || u.AnnouncementBytes > trust.MaxEnvelopeBytes {
			// Kept after the install dropped the envelope itself: the
			// signed, co-signed announcement is larger than its payload.
			t.Errorf("announcement %d bytes (payload %d): want the co-signed envelope's size, kept once final", u.AnnouncementBytes, len(payload))
		}
		if st.EventCounts[node.EventInstalled] != 1 || len(st.Events) == 0 || st.Events[len(st.Events)-1].At.IsZero() {
			t.Errorf("events %v, counts %v", st.Events, st.EventCounts)
		}
		// The accepted event says when its message arrived, before the
		// agent's checks.
		i := slices.IndexFunc(st.Events, func(e node.APIEvent) bool { return e.Kind == node.EventAccepted })
		if i < 0 || st.Events[i].Received.IsZero() || st.Events[i].Received.After(st.Events[i].At) || st.Events[i].Arrived() != st.Events[i].Received {
			t.Errorf("accepted event %+v: want its message's arrival, not after it", st.Events[max(i, 0)])
		}
		if _, ok := st.Overlay["delivered"]; !ok {
			t.Errorf("overlay counters %v lack delivered", st.Overlay)
		}
	})

	// The counters a harness collects: the fetch's bytes by source, the
	// bytes the zone's nodes served, the process's memory and CPU.
	t.Run("counters", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(st.Events, func(e node.APIEvent) bool { return e.Kind == node.EventFetched && e.ID == fix.ID })
		if i < 0 {
			t.Fatalf("no fetched event of %s in %v", fix.ID, st.Events)
		}
		fetched := st.Events[i].SourceBytes
		if got := fetched["peers"] + fetched["vendor"] + fetched["local"]; got != l.ArtifactSize() {
			t.Errorf("fetched event's bytes by source %v sum to %d, want the artifact's %d", fetched, got, l.ArtifactSize())
		}
		if st.Events[i].TookMS <= 0 {
			t.Errorf("fetched event took_ms %d, want the fetch's time (at least 1)", st.Events[i].TookMS)
		}
		if st.Process.PeakRSSBytes <= 0 || st.Process.CPUSeconds <= 0 {
			t.Errorf("process usage %+v, want memory and CPU", st.Process)
		}
		var served int64
		for _, m := range l.Members() {
			mst, err := dialAPI(t, filepath.Join(m.Dir, "state")).Status(ctx)
			if err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
			served += mst.Content.ServedBytes
		}
		if served < fetched["peers"] {
			t.Errorf("the zone's nodes served %d bytes, less than the %d %s fetched from peers", served, fetched["peers"], agent.Name)
		}
	})

	t.Run("socket is private", func(t *testing.T) {
		fi, err := os.Lstat(node.APISocket(state))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode %v, want a socket of mode 0600", fi.Mode())
		}
		di, err := os.Stat(state)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm()&0o077 != 0 {
			t.Errorf("state directory mode %v: want it owner-only", di.Mode().Perm())
		}
	})

	t.Run("errors answer JSON", func(t *testing.T) {
		raw := rawAPIClient(state)
		for _, tc := range []struct {
			name, method, path, body string
			status                   int
			code                     string
		}{
			{"unknown endpoint", "GET", "/v1/nothing", "", http.StatusNotFound, node.APICodeNotFound},
			{"status by POST", "POST", node.APIStatusPath, "{}", http.StatusMethodNotAllowed, node.APICodeMethod},
			{"rollback by GET", "GET", node.APIRollbackPath, "", http.StatusMethodNotAllowed, node.APICodeMethod},
			{"not JSON", "POST", node.APIRollbackPath, "tx=1", http.StatusBadRequest, node.APICodeBadRequest},
			{"unknown key", "POST", node.APIRollbackPath, `{"tx": "20261126-071500.123456-ab12cd", "force": true}`, http.StatusBadRequest, node.APICodeBadRequest},
			{"two objects", "POST", node.APIRollbackPath, `{"tx": "a"} {"tx": "b"}`, http.StatusBadRequest, node.APICodeBadRequest},
			{"body too large", "POST", node.APIRollbackPath, `{"tx": "` + strings.Repeat("a", node.MaxAPIRequestBytes) + `"}`, http.StatusRequestEntityTooLarge, node.APICodeTooLarge},
			{"bad transaction id", "POST", node.APIRollbackPath, `{"tx": "../../etc"}`, http.StatusBadRequest, node.APICodeBadRequest},
			{"no such transaction", "POST", node.APIRollbackPath, `{"tx": "20200101-000000.000000-000000"}`, http.StatusNotFound, node.APICodeNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.code == node.APICodeNotFound && tc.method == "POST" && agent.Installs() == nil {
					t.Skip("the lab's agents keep no journal (RecordingInstaller)")
				}
				status, body := raw.call(t, tc.method, tc.path, tc.body)
				var e node.APIError
				if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
					t.Fatalf("%s %s: body %q is no JSON error: %v", tc.method, tc.path, body, err)
				}
				if status != tc.status || e.Code != tc.code {
					t.Errorf("%s %s: %d %q (%s), want %d %q", tc.method, tc.path, status, e.Code, e.Message, tc.status, tc.code)
				}
			})
		}
	})

	t.Run("supernode keeps no journal", func(t *testing.T) {
		sc := dialAPI(t, filepath.Join(l.Supernodes[0].Dir, "state"))
		_, err := sc.History(ctx)
		var e *node.APIError
		if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != node.APICodeNoJournal {
			t.Fatalf("supernode history: %v, want a 404 %s", err, node.APICodeNoJournal)
		}
		st, err := sc.Status(ctx)
		if err != nil || strings.Join(st.Roles, ",") != "supernode" || len(st.Updates) != 0 {
			t.Errorf("supernode status %+v, %v", st, err)
		}
	})

	t.Run("history and rollback", func(t *testing.T) {
		if agent.Installs() == nil {
			_, err := c.History(ctx)
			var e *node.APIError
			if !errors.As(err, &e) || e.Code != node.APICodeNoJournal {
				t.Errorf("history of an agent without a journal: %v, want %s", err, node.APICodeNoJournal)
			}
			t.Skip("the lab's agents keep no journal (RecordingInstaller)")
		}
		txs, err := c.History(ctx)
		if err != nil {
			t.Fatal(err)
		}
		installed := findInstall(txs, fix.ID)
		if installed == nil {
			t.Fatalf("history %v lacks the install of %s", txIDs(txs), fix.ID)
		}
		res, err := c.Rollback(ctx, installed.ID)
		if err != nil {
			t.Fatalf("rollback of %s: %v", installed.ID, err)
		}
		if tx := res.Transaction; tx == nil || tx.Kind != install.KindRollback || tx.State != install.StateCommitted ||
			tx.RollbackOf != installed.ID || res.Root != agent.Sysroot {
			t.Fatalf("rollback result %+v, want a committed rollback of %s in %s", res, installed.ID, agent.Sysroot)
		}
		if v := installedVersion(t, agent); v != nodelab.OldVersion {
			t.Errorf("after the rollback %s has %s, want %s", agent.Name, v, nodelab.OldVersion)
		}
		txs, err = c.History(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := findInstall(txs, fix.ID); got == nil || got.RolledBackBy != res.Transaction.ID {
			t.Errorf("history after the rollback: install %+v, want it rolled back by %s", got, res.Transaction.ID)
		}
		res, err = c.Rollback(ctx, installed.ID)
		var e *node.APIError
		if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Code != node.APICodeNotRollbackable ||
			!strings.Contains(e.Message, "already rolled back") || res == nil || res.Transaction != nil {
			t.Errorf("second rollback: %+v, %v; want a 409 refusal saying it was rolled back already", res, err)
		}
	})

	t.Run("second node on the same state refuses", func(t *testing.T) {
		cfg := node.DefaultConfig()
		cfg.State, cfg.Key, cfg.Cert = state, agent.KeyPath, agent.CrtPath
		cfg.Roots, cfg.CRL, cfg.Zone = []string{l.RootCert}, l.CRLFiles(), l.Zone
		cfg.Sysroot = agent.Sysroot
		cfg.Overlay.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		n, err := node.New(ctx, cfg)
		if err == nil {
			n.Close()
			t.Fatal("a second node started on a running node's state directory")
		}
		if want := "a patchnet daemon already answers at " + node.APISocket(state); !strings.Contains(err.Error(), want) {
			t.Errorf("second node: %v, want an error saying %q", err, want)
		}
		if _, err := c.Status(ctx); err != nil {
			t.Errorf("the running node stopped answering after the refused start: %v", err)
		}
	})

	t.Run("Close removes the socket", func(t *testing.T) {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(node.APISocket(state)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket after Close: %v, want it removed", err)
		}
		if _, err := node.DialAPI(ctx, state); !errors.Is(err, node.ErrNoDaemon) {
			t.Errorf("DialAPI after Close: %v, want ErrNoDaemon", err)
		}
		if _, err := c.Status(ctx); !errors.Is(err, node.ErrNoDaemon) {
			t.Errorf("a client's request after Close: %v, want ErrNoDaemon", err)
		}
	})
}

// dialAPI connects to the API on state, closed when the test ends.
func dialAPI(t *testing.T, state string) *node.APIClient {
	t.Helper()
	c, err := node.DialAPI(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawAPI sends requests of any shape to a node's socket.
type rawAPI struct{ hc *http.Client }

func rawAPIClient(state string) rawAPI {
	path := node.APISocket(state)
	return rawAPI{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}}
}

// call sends one request and returns the status and body of the answer.
func (r rawAPI) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://patchnet"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, b.Bytes()
}

func topicMesh(st *node.APIStatus, topic string) int {
	for _, tp := range st.Topics {
		if tp.Topic == topic {
			return tp.Mesh
		}
	}
	return 0
}

func findUpdate(st *node.APIStatus, id string) *node.APIUpdate {
	for i, u := range st.Updates {
		if u.ID == id {
			return &st.Updates[i]
		}
	}
	return nil
}

// findInstall is the install transaction of announcement id.
func findInstall(txs []*install.Transaction, id string) *install.Transaction {
	for _, tx := range txs {
		if tx.Kind == install.KindInstall && tx.Plan.AnnouncementID == id {
			return tx
		}
	}
	return nil
}

func txIDs(txs []*install.Transaction) []string {
	var out []string
	for _, tx := range txs {
		out = append(out, tx.ID+" "+tx.Plan.AnnouncementID)
	}
	return out
}

// An agent holding an announcement short of k lists it under pending with
// its co-signer count, and reports the zone heartbeats it heard: what
// `patchnet status` shows as "pending 1/2" and the heartbeat age.
func TestAPIStatusShowsPendingAndHeartbeat(t *testing.T) {
	l := newLab(t, nodelab.Options{Agents: 1, Supernodes: 2, Threshold: 2, Configure: func(name string, cfg *node.Config) {
		if name == "supernode-2" {
			cfg.CoSign.Publishers = nil // co-signs nothing: the fix stays at 1/2
		}
		cfg.Heartbeat = node.HeartbeatConfig{Interval: node.Duration(100 * time.Millisecond), MaxAge: node.Duration(30 * time.Second)}
	}})
	ctx := context.Background()
	fix, err := l.Fix(ctx, "PNT-2026-0809", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publisher.Publish(ctx, fix); err != nil {
		t.Fatal(err)
	}
	c := dialAPI(t, filepath.Join(l.Agents[0].Dir, "state"))
	var st *node.APIStatus
	waitFor(t, 60*time.Second, "the fix pending at 1/2 and a heartbeat", func() bool {
		if st, err = c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		return len(st.Pending) == 1 && st.Pending[0].CoSigners == 1 && st.Heartbeat != nil && st.Heartbeat.Supernodes > 0 &&
			slices.ContainsFunc(st.Events, func(e node.APIEvent) bool { return e.Kind == node.EventPending }) // emitted just after the record
	})
	p := st.Pending[0]
	if p.ID != fix.ID || p.Version != 1 || p.Threshold != 2 {
		t.Errorf("pending %+v, want %s version 1 at 1/2", p, fix.ID)
	}
	if findUpdate(st, fix.ID) != nil || st.Heartbeat.Stale || st.Heartbeat.AgeSeconds < 0 {
		t.Errorf("updates %+v, heartbeat %+v: want no lifecycle record and a fresh heartbeat", st.Updates, st.Heartbeat)
	}
	// The pending event says why in one stable word (testnet collect
	// reads events' reasons).
	i := slices.IndexFunc(st.Events, func(e node.APIEvent) bool { return e.Kind == node.EventPending && e.ID == fix.ID })
	if i < 0 || st.Events[i].Reason != "insufficient-signers" {
		t.Errorf("pending event of %s in %+v: want reason insufficient-signers", fix.ID, st.Events)
	}
}
