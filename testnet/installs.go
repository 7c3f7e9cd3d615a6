package testnet

import (
	"fmt"
	"slices"

	"github.com/patchnet/patchnet/updates/install"
)

// CheckNoWrongInstalls is the check a run's audit of the agents' journals
// sets: false when any agent installed something it must not have.
const CheckNoWrongInstalls = "no_wrong_installs"

// Release is what an agent may install in a run: an update the scenario
// published as the zone's publisher, or the base package its sandbox was
// set up with. SHA256 is the artifact's (hex, as journals record it); ""
// accepts any artifact of the id (a collect told the id alone).
type Release struct {
	ID     string
	SHA256 string
}

// WrongInstall is the first install transaction of txs that is of no
// release: another id, or a released id with another artifact. Rollbacks
// and prune records install nothing new; an install that failed counts,
// since an agent journals one only once it accepted the update.
func WrongInstall(txs []*install.Transaction, rel []Release) *install.Transaction {
	for _, tx := range txs {
		if tx.Kind != install.KindInstall {
			continue
		}
		if !slices.ContainsFunc(rel, func(r Release) bool {
			return r.ID == tx.Plan.AnnouncementID && (r.SHA256 == "" || r.SHA256 == tx.Artifact.SHA256)
		}) {
			return tx
		}
	}
	return nil
}

// DescribeInstall names an install transaction for a sample's
// wrong_install.
func DescribeInstall(tx *install.Transaction) string {
	return fmt.Sprintf("transaction %s installed %s version %d, artifact %s", tx.ID,
		tx.Plan.AnnouncementID, tx.Plan.AnnouncementVersion, tx.Artifact.SHA256)
}

// MarkWrong marks the sample of node (adding one, role agent, when the
// run did not time it) as having installed what: a wrong install,
// counted in WrongInstalls.
func (r *Report) MarkWrong(node, what string) {
	i := slices.IndexFunc(r.Samples, func(s Sample) bool { return s.Node == node })
	if i < 0 {
		r.Samples = append(r.Samples, Sample{Node: node, Role: "agent"})
		i = len(r.Samples) - 1
	}
	if !r.Samples[i].Wrong {
		r.WrongInstalls++
	}
	r.Samples[i].Wrong, r.Samples[i].WrongInstall = true, what
}
