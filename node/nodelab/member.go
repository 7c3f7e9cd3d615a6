package nodelab

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/updates/install"
)

// Member is one node of the lab with its files.
type Member struct {
	*node.Node
	Name             string
	Dir              string
	KeyPath, CrtPath string
	Sysroot          string // agents only
	// Recorder is the agent's installer with Options.FakeInstaller; nil
	// otherwise (the agent installs with dpkg through its journal).
	Recorder *RecordingInstaller
	stop     context.CancelFunc
	done     chan struct{} // closed when Run returned
}

// BootstrapAddrs are m's listen addresses with its peer ID, as another
// node's bootstrap peers list it.
func (m *Member) BootstrapAddrs() []string {
	var out []string
	for _, a := range m.Overlay().Addrs() {
		out = append(out, a.String())
	}
	return out
}

// Installed lists the installs m's installer made, oldest first, the lab's
// base install of OldVersion (announcement LAB-BASE) included: its
// Recorder's records with FakeInstaller, else the committed install
// transactions of its journal.
func (m *Member) Installed() ([]InstallRecord, error) {
	if m.Recorder != nil {
		return m.Recorder.Records(), nil
	}
	mgr := m.Installs()
	if mgr == nil {
		return nil, fmt.Errorf("nodelab: %s has no install journal", m.Name)
	}
	txs, err := mgr.History()
	if err != nil {
		return nil, fmt.Errorf("reading %s's install history: %w", m.Name, err)
	}
	var out []InstallRecord
	for _, tx := range txs {
		if tx.Kind != install.KindInstall || tx.State != install.StateCommitted {
			continue
		}
		var sum [32]byte
		if b, err := hex.DecodeString(tx.Artifact.SHA256); err == nil && len(b) == len(sum) {
			copy(sum[:], b)
		}
		out = append(out, InstallRecord{ID: tx.Plan.AnnouncementID, Version: tx.Plan.AnnouncementVersion, Method: tx.Plan.Method,
			SHA256: sum, Goal: tx.Goal, At: tx.Started(), Tx: tx})
	}
	return out, nil
}

// Credentials loads the member's key and chain from its files (tests use
// them to play a compromised node).
func (m *Member) Credentials() (*trust.Credentials, error) {
	return trust.LoadCredentials(m.KeyPath, m.CrtPath)
}
