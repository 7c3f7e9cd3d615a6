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
	return versionPrefix(updateKey{r.ID, r.Version}) + r.Agent
}

// versionPrefix keys the reports of one update version.
func versionPrefix(k updateKey) string {
	return fmt.Sprintf("%s%s/%020d/", reportPrefix, k.id, k.version)
}

// updateKey names one version of one update among the reports.
type updateKey struct {
	id      string
	version uint64
}

// compareKeys orders update keys by id, then version.
func compareKeys(a, b updateKey) int {
	return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.version, b.version))
}

// versionReports is what the store knows of one version's reports
// without reading them: how many, and the newest report's time.
type versionReports struct {
	n    int
	last time.Time
}

// reportStore keeps a supernode's install reports in its database, within
// MaxReportedUpdates versions and MaxReportsPerUpdate agents per version,
// and in memory how many each version holds.
type reportStore struct {
	mu       sync.Mutex
	db       *badger.DB
	versions map[updateKey]*versionReports
}

// openReportStore counts the reports the database holds.
func openReportStore(db *badger.DB) (*reportStore, error) {
	s := &reportStore{db: db, versions: map[updateKey]*versionReports{}}
	err := s.each(func(r receivedReport) { s.counted(r) })
	if err != nil {
		return nil, fmt.Errorf("opening install reports: %w", err)
	}
	return s, nil
}

// counted adds r, newly kept, to its version's count.
func (s *reportStore) counted(r receivedReport) {
	k := updateKey{r.ID, r.Version}
	v := s.versions[k]
	if v == nil {
		v = &versionReports{}
		s.versions[k] = v
	}
	v.n++
	if r.Time.After(v.last) {
		v.last = r.Time
	}
}

// add keeps r, replacing the same agent's earlier report of its version.
// A new version beyond MaxReportedUpdates makes room by deleting the
// reports of the version reported on least recently (evicted names it);
// an agent beyond MaxReportsPerUpdate of one version is refused. Reports
// are counts for operators, and no agent may make a supernode keep
// without bound; only updates the supernode knows are reported on
// (knownUpdate), so the versions are the zone's own.
func (s *reportStore) add(r *receivedReport) (evicted *updateKey, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := updateKey{r.ID, r.Version}
	key := reportKey(r)
	_, exists, err := getRecord[receivedReport](s.db, key)
	if err != nil {
		return nil, err
	}
	if !exists {
		v, known := s.versions[k]
		switch {
		case known && v.n >= MaxReportsPerUpdate:
			return nil, fmt.Errorf("%w: %d agents reported %s version %d already (limit)", trust.ErrOversized, v.n, r.ID, r.Version)
		case !known && len(s.versions) >= MaxReportedUpdates:
			if evicted, err = s.evictOldest(); err != nil {
				return nil, err
			}
		}
	}
	if err := putRecord(s.db, key, r); err != nil {
		return evicted, err
	}
	if !exists {
		s.counted(*r)
	}
	return evicted, nil
}

// evictOldest deletes the reports of the version whose newest report is
// the oldest.
func (s *reportStore) evictOldest() (*updateKey, error) {
	var oldest *updateKey
	for k, v := range s.versions {
		if oldest == nil || cmp.Or(v.last.Compare(s.versions[*oldest].last), compareKeys(k, *oldest)) < 0 {
			oldest = &k
		}
	}
	if oldest == nil {
		return nil, nil
	}
	if _, err := deletePrefix(s.db, versionPrefix(*oldest)); err != nil {
		return nil, fmt.Errorf("making room for install reports: %w", err)
	}
	delete(s.versions, *oldest)
	return oldest, nil
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
		return compareKeys(updateKey{a.ID, a.Version}, updateKey{b.ID, b.Version})
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
