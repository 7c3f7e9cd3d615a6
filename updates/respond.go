package updates

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Mode is what a host does with an accepted announcement that matches it.
type Mode string

// Respond modes (paper, section IV.G).
const (
	// ModeApply installs (within maintenance windows) and reports.
	ModeApply Mode = "apply"
	// ModeNotify tells people (email, webhook) and installs nothing.
	ModeNotify Mode = "notify"
	// ModeLog only records the announcement.
	ModeLog Mode = "log"
)

// modeRank orders modes from least to most active, to combine categories.
var modeRank = map[Mode]int{ModeLog: 0, ModeNotify: 1, ModeApply: 2}

// RespondConfig is the [respond] section of the agent's configuration.
//
//	[respond]
//	default = "notify"
//	maintenance_windows = ["Sat 02:00-04:00", "Mon-Fri 22:00-23:30"]
//	time_zone = "Europe/Berlin"
//	[respond.categories]
//	security = "apply"
//	announcement = "log"
//	[respond.zones.lab.categories]
//	enhancement = "apply"
type RespondConfig struct {
	// Default is the mode of a category not listed in Categories.
	Default Mode `toml:"default"`
	// Categories maps a category (bugfix, security, enhancement,
	// announcement) to its mode.
	Categories map[Category]Mode `toml:"categories"`
	// Zones overrides Default and Categories for announcements of a zone.
	Zones map[string]ZoneRespond `toml:"zones"`
	// MaintenanceWindows restrict when "apply" may install: "DAYS HH:MM-HH:MM"
	// with DAYS one of Mon..Sun, a range "Mon-Fri", a list "Sat,Sun", or
	// "daily". An end before the start crosses midnight. Empty: any time.
	MaintenanceWindows []string `toml:"maintenance_windows"`
	// TimeZone is the IANA zone the windows are written in ("UTC", "Local",
	// "Europe/Berlin").
	TimeZone string `toml:"time_zone"`
}

// ZoneRespond is a zone's override of the respond modes.
type ZoneRespond struct {
	Default    Mode              `toml:"default"`
	Categories map[Category]Mode `toml:"categories"`
}

// DefaultRespondConfig applies security fixes, tells people about bugfixes
// and enhancements, and logs plain announcements; at any time, in UTC.
func DefaultRespondConfig() RespondConfig {
	return RespondConfig{
		Default: ModeNotify, // a person decides what nobody configured
		Categories: map[Category]Mode{
			CategorySecurity:     ModeApply,  // the reason patchnet exists
			CategoryBugfix:       ModeNotify, // may change behaviour: ask first
			CategoryEnhancement:  ModeNotify, // ditto
			CategoryAnnouncement: ModeLog,    // nothing to install
		},
		TimeZone: "UTC", // windows mean the same on every host
	}
}

// Validate names the first bad field and value.
func (c RespondConfig) Validate() error {
	_, err := NewRespondPolicy(c)
	return err
}

func validateModes(field string, def Mode, cats map[Category]Mode) error {
	if def != "" && !validMode(def) {
		return fmt.Errorf("%s.default: %q is not apply, notify or log", field, def)
	}
	for c, m := range cats {
		if !validCategory(c) {
			return fmt.Errorf("%s.categories: %q is not one of %v", field, c, Categories)
		}
		if !validMode(m) {
			return fmt.Errorf("%s.categories.%s: %q is not apply, notify or log", field, c, m)
		}
	}
	return nil
}

func validMode(m Mode) bool { _, ok := modeRank[m]; return ok }

// RespondPolicy decides, per announcement, what the host does and when.
type RespondPolicy struct {
	cfg     RespondConfig
	windows []Window
	loc     *time.Location
}

// NewRespondPolicy checks cfg and compiles its windows.
func NewRespondPolicy(cfg RespondConfig) (*RespondPolicy, error) {
	if cfg.Default == "" {
		return nil, fmt.Errorf("respond.default: required (apply, notify or log)")
	}
	if err := validateModes("respond", cfg.Default, cfg.Categories); err != nil {
		return nil, err
	}
	for z, zr := range cfg.Zones {
		if err := validateModes("respond.zones."+z, zr.Default, zr.Categories); err != nil {
			return nil, err
		}
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("respond.time_zone: %q: %w", cfg.TimeZone, err)
	}
	if len(cfg.MaintenanceWindows) > MaxMaintenanceWindows {
		return nil, fmt.Errorf("respond.maintenance_windows: %d entries exceeds %d", len(cfg.MaintenanceWindows), MaxMaintenanceWindows)
	}
	p := &RespondPolicy{cfg: cfg, loc: loc}
	for i, s := range cfg.MaintenanceWindows {
		w, err := ParseWindow(s)
		if err != nil {
			return nil, fmt.Errorf("respond.maintenance_windows[%d]: %w", i, err)
		}
		p.windows = append(p.windows, w)
	}
	return p, nil
}

// Decision is what to do with one announcement.
type Decision struct {
	Mode Mode
	// Reason explains the mode, the window and the reboot note.
	Reason string
	// NotBefore is when an "apply" may start: now, the next maintenance
	// window, or the rollout's not_before, whichever is latest. Zero for
	// notify and log.
	NotBefore time.Time
	// RebootRequired is reported to people; patchnet never reboots.
	RebootRequired bool
}

// Decide applies the policy for the zone-less case; see DecideInZone.
func (p *RespondPolicy) Decide(a *Announcement, now time.Time) Decision {
	return p.DecideInZone("", a, now)
}

// DecideInZone picks the most active mode among the announcement's
// categories (a security fix that is also an enhancement is applied if
// security fixes are), using zone's overrides. An announcement without an
// artifact cannot be applied, so apply becomes notify.
func (p *RespondPolicy) DecideInZone(zone string, a *Announcement, now time.Time) Decision {
	mode, why := p.modeFor(zone, a)
	d := Decision{Mode: mode, RebootRequired: a.Patchnet.RebootRequired}
	reasons := []string{why}
	if mode == ModeApply && a.Patchnet.Artifact == nil {
		d.Mode = ModeNotify
		reasons = append(reasons, "no artifact to install, so notify instead")
	}
	if d.Mode == ModeApply {
		d.NotBefore, why = p.notBefore(a, now)
		reasons = append(reasons, why)
	}
	if d.RebootRequired {
		reasons = append(reasons, "a reboot is required: reported, never performed by patchnet")
	}
	d.Reason = strings.Join(reasons, "; ")
	return d
}

func (p *RespondPolicy) modeFor(zone string, a *Announcement) (Mode, string) {
	best, bestCat := Mode(""), Category("")
	for _, c := range a.Patchnet.Categories {
		m := p.categoryMode(zone, c)
		if best == "" || modeRank[m] > modeRank[best] {
			best, bestCat = m, c
		}
	}
	if best == "" {
		return p.zoneDefault(zone), "no category: default mode"
	}
	return best, fmt.Sprintf("%s because of category %s", best, bestCat)
}

func (p *RespondPolicy) categoryMode(zone string, c Category) Mode {
	if zr, ok := p.cfg.Zones[zone]; ok && zone != "" {
		if m, ok := zr.Categories[c]; ok {
			return m
		}
		if zr.Default != "" {
			return zr.Default
		}
	}
	if m, ok := p.cfg.Categories[c]; ok {
		return m
	}
	return p.cfg.Default
}

func (p *RespondPolicy) zoneDefault(zone string) Mode {
	if zr, ok := p.cfg.Zones[zone]; ok && zone != "" && zr.Default != "" {
		return zr.Default
	}
	return p.cfg.Default
}

// notBefore is the earliest moment at or after now (and after the rollout's
// not_before) that lies in a maintenance window.
func (p *RespondPolicy) notBefore(a *Announcement, now time.Time) (time.Time, string) {
	from, why := now, "apply now"
	if r := a.Patchnet.Rollout; r != nil && r.NotBefore.After(now) {
		from, why = r.NotBefore, "rollout starts "+r.NotBefore.UTC().Format(time.RFC3339)
	}
	if len(p.windows) == 0 {
		return from, why
	}
	at := p.NextWindow(from)
	if at.Equal(from) {
		return at, why + " (inside a maintenance window)"
	}
	return at, "apply at the next maintenance window, " + at.In(p.loc).Format("Mon 2006-01-02 15:04 MST")
}

// NextWindow returns t if t lies inside a maintenance window (or none is
// configured), else the start of the next one.
func (p *RespondPolicy) NextWindow(t time.Time) time.Time {
	if len(p.windows) == 0 {
		return t
	}
	lt := t.In(p.loc)
	var best time.Time
	for _, w := range p.windows {
		if w.Contains(lt) {
			return t
		}
		if n := w.Next(lt); best.IsZero() || n.Before(best) {
			best = n
		}
	}
	return best
}

// RolloutDelay is the host's stable share of the rollout spread: hosts with
// different keys start at different times within [0, spread), the same host
// always at the same one.
func RolloutDelay(a *Announcement, hostKey []byte) time.Duration {
	if a.Patchnet.Rollout == nil || a.Patchnet.Rollout.Spread <= 0 {
		return 0
	}
	h := sha256.New()
	h.Write(hostKey)
	fmt.Fprintf(h, "\x00%s\x00%d", a.ID, a.Patchnet.Version)
	n := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	return time.Duration(n % uint64(a.Patchnet.Rollout.Spread))
}
