package node

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/patchnet/patchnet/trust"
)

// reportPrefix keys a supernode's install reports by update id, zero-padded
// version and agent: one record per agent and version, the newest kept.
const reportPrefix = "node/report/"

// receivedReport is a verified install report and the agent that signed it.
type receivedReport struct {
	InstallReport
	Agent string `json:"agent"` // the agent's peer ID (its certificate's CN)
}

// reportKey is where r is kept.
func reportKey(r *receivedReport) string {
	return fmt.Sprintf("%s%s/%020d/%s", reportPrefix, r.ID, r.Version, r.Agent)
}

// updateKey names one version of one update among the reports.
type updateKey struct {
	id      string
	version uint64
}

// reportStore keeps a supernode's install reports in its database, within
// MaxReportedUpdates versions and MaxReportsPerUpdate agents per version,
// and in memory how many each version holds.
type reportStore struct {
	mu     sync.Mutex
	db     *badger.DB
	counts map[updateKey]int
}

// openReportStore counts the reports the database holds.
func openReportStore(db *badger.DB) (*reportStore, error) {
	s := &reportStore{db: db, counts: map[updateKey]int{}}
	err := s.each(func(r receivedReport) { s.counts[updateKey{r.ID, r.Version}]++ })
	if err != nil {
		return nil, fmt.Errorf("opening install reports: %w", err)
	}
	return s, nil
}

// add keeps r, replacing the same agent's earlier report of its version.
// A version beyond MaxReportedUpdates, or an agent beyond
// MaxReportsPerUpdate of one version, is refused: reports are counts for
// operators, and no agent may make a supernode keep without bound.
func (s *reportStore) add(r *receivedReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := updateKey{r.ID, r.Version}
	key := reportKey(r)
	_, exists, err := getRecord[receivedReport](s.db, key)
	if err != nil {
		return err
	}
	if !exists {
		switch n, known := s.counts[k]; {
		case !known && len(s.counts) >= MaxReportedUpdates:
			return fmt.Errorf("%w: reports of %d update versions kept already (limit)", trust.ErrOversized, MaxReportedUpdates)
		case n >= MaxReportsPerUpdate:
			return fmt.Errorf("%w: %d agents reported %s version %d already (limit)", trust.ErrOversized, n, r.ID, r.Version)
		}
	}
	if err := putRecord(s.db, key, r); err != nil {
		return err
	}
	if !exists {
		s.counts[k]++
	}
	return nil
}

// each calls fn with every kept report, by id, version and agent.
func (s *reportStore) each(fn func(receivedReport)) error {
	return eachRecord(s.db, reportPrefix, func(_ string, r receivedReport) error {
		fn(r)
		return nil
	})
}

// ReportSummary is what a supernode's install reports say about one
// version of one update.
type ReportSummary struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	// Counts are the agents per outcome (installed, failed, refused).
	Counts map[ReportOutcome]int `json:"counts"`
	// Agents are the reports themselves, newest first, at most
	// APIStatusReportAgents; Counts counts them all.
	Agents []ReportAgent `json:"agents"`
}

// ReportAgent is one agent's report of an update version.
type ReportAgent struct {
	Agent   string        `json:"agent"`
	Outcome ReportOutcome `json:"outcome"`
	Reason  string        `json:"reason,omitempty"`
	At      time.Time     `json:"at"`
}

// summaries groups the kept reports per update version, by id and version.
func (s *reportStore) summaries() ([]ReportSummary, error) {
	byKey := map[updateKey]*ReportSummary{}
	err := s.each(func(r receivedReport) {
		k := updateKey{r.ID, r.Version}
		sum := byKey[k]
		if sum == nil {
			sum = &ReportSummary{ID: r.ID, Version: r.Version, Counts: map[ReportOutcome]int{}}
			byKey[k] = sum
		}
		sum.Counts[r.Outcome]++
		sum.Agents = append(sum.Agents, ReportAgent{Agent: r.Agent, Outcome: r.Outcome, Reason: r.Reason, At: r.Time})
	})
	if err != nil {
		return nil, fmt.Errorf("reading install reports: %w", err)
	}
	out := make([]ReportSummary, 0, len(byKey))
	for _, sum := range byKey {
		slices.SortFunc(sum.Agents, func(a, b ReportAgent) int { return cmp.Or(b.At.Compare(a.At), strings.Compare(a.Agent, b.Agent)) })
		sum.Agents = sum.Agents[:min(len(sum.Agents), APIStatusReportAgents)]
		out = append(out, *sum)
	}
	slices.SortFunc(out, func(a, b ReportSummary) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// Reports summarises the install reports this supernode kept, per update
// version; nil on nodes that are no supernode.
func (n *Node) Reports() ([]ReportSummary, error) {
	if n.cosigner == nil {
		return nil, nil
	}
	return n.cosigner.reports.summaries()
}
