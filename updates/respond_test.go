package updates

import (
	"strings"
	"testing"
	"time"
)

func mustPolicy(t *testing.T, cfg RespondConfig) *RespondPolicy {
	t.Helper()
	p, err := NewRespondPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func withCategories(cs ...Category) *Announcement {
	a := validAnnouncement()
	a.Patchnet.Categories = cs
	return a
}

func TestDecideModes(t *testing.T) {
	cfg := DefaultRespondConfig()
	cfg.Zones = map[string]ZoneRespond{"lab": {Categories: map[Category]Mode{CategoryEnhancement: ModeApply}}, "prod": {Default: ModeLog}}
	p := mustPolicy(t, cfg)
	tests := []struct {
		zone string
		a    *Announcement
		want Mode
		why  string
	}{
		{"", withCategories(CategorySecurity), ModeApply, "apply because of category security"},
		{"", withCategories(CategoryBugfix), ModeNotify, "notify because of category bugfix"},
		{"", withCategories(CategoryEnhancement, CategorySecurity), ModeApply, "apply because of category security"},
		{"", withCategories(CategoryAnnouncement), ModeLog, "log because of category announcement"},
		{"lab", withCategories(CategoryEnhancement), ModeApply, "apply because of category enhancement"},
		{"lab", withCategories(CategoryBugfix), ModeNotify, "notify because of category bugfix"},
		{"prod", withCategories(CategorySecurity), ModeLog, "log because of category security"},
	}
	for _, tt := range tests {
		d := p.DecideInZone(tt.zone, tt.a, testNow)
		if d.Mode != tt.want || !strings.HasPrefix(d.Reason, tt.why) {
			t.Errorf("zone %q %v: %s (%s), want %s (%s)", tt.zone, tt.a.Patchnet.Categories, d.Mode, d.Reason, tt.want, tt.why)
		}
		if d.Mode == ModeApply && !d.NotBefore.Equal(testNow) {
			t.Errorf("apply without windows not before %s, want now", d.NotBefore)
		}
	}
}

func TestDecideApplyWithoutArtifactNotifies(t *testing.T) {
	cfg := DefaultRespondConfig()
	cfg.Categories[CategoryAnnouncement] = ModeApply
	a := withCategories(CategoryAnnouncement)
	a.Patchnet.Artifact = nil
	d := mustPolicy(t, cfg).Decide(a, testNow)
	if d.Mode != ModeNotify || !strings.Contains(d.Reason, "no artifact to install") {
		t.Fatalf("Decide = %+v", d)
	}
}

func TestDecideRebootIsReportedNeverPerformed(t *testing.T) {
	a := withCategories(CategorySecurity)
	a.Patchnet.RebootRequired = true
	d := mustPolicy(t, DefaultRespondConfig()).Decide(a, testNow)
	if !d.RebootRequired || d.Mode != ModeApply || !strings.Contains(d.Reason, "a reboot is required: reported, never performed") {
		t.Fatalf("Decide = %+v", d)
	}
}

func TestMaintenanceWindowDelaysApply(t *testing.T) {
	cfg := DefaultRespondConfig()
	cfg.MaintenanceWindows = []string{"Sat 02:00-04:00", "Mon-Fri 23:00-01:00"}
	cfg.TimeZone = "Europe/Berlin"
	p := mustPolicy(t, cfg)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2026-03-07 is a Saturday.
	tests := []struct{ now, want string }{
		{"2026-03-07 03:00", "2026-03-07 03:00"}, // inside Saturday's window
		{"2026-03-07 04:00", "2026-03-09 23:00"}, // Saturday's window just closed: Monday night
		{"2026-03-07 01:59", "2026-03-07 02:00"},
		{"2026-03-06 23:30", "2026-03-06 23:30"}, // Friday night window
		{"2026-03-07 00:30", "2026-03-07 00:30"}, // Friday's window running past midnight
		{"2026-03-07 01:00", "2026-03-07 02:00"},
		{"2026-03-08 12:00", "2026-03-09 23:00"}, // Sunday: nothing until Monday night
	}
	for _, tt := range tests {
		d := p.Decide(withCategories(CategorySecurity), at(tt.now))
		if !d.NotBefore.Equal(at(tt.want)) {
			t.Errorf("now %s: not before %s, want %s (%s)", tt.now, d.NotBefore.In(berlin), tt.want, d.Reason)
		}
	}
}

func TestRolloutNotBefore(t *testing.T) {
	cfg := DefaultRespondConfig()
	cfg.MaintenanceWindows = []string{"daily 02:00-03:00"}
	a := withCategories(CategorySecurity)
	a.Patchnet.Rollout = &Rollout{NotBefore: testNow.Add(36 * time.Hour)} // Mar 3, 00:00 UTC
	d := mustPolicy(t, cfg).Decide(a, testNow)
	if want := time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC); !d.NotBefore.Equal(want) {
		t.Fatalf("not before %s, want %s (%s)", d.NotBefore, want, d.Reason)
	}
}

func TestRolloutDelayIsStableAndSpread(t *testing.T) {
	a := withCategories(CategorySecurity)
	a.Patchnet.Rollout = &Rollout{Spread: Duration(time.Hour)}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		key := []byte{byte(i)}
		d := RolloutDelay(a, key)
		if d < 0 || d >= time.Hour || d != RolloutDelay(a, key) {
			t.Fatalf("delay %s for host %d", d, i)
		}
		seen[d] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct delays among 50 hosts", len(seen))
	}
	a.Patchnet.Rollout = nil
	if RolloutDelay(a, []byte{1}) != 0 {
		t.Error("delay without a rollout")
	}
}

func TestRespondConfigValidate(t *testing.T) {
	tests := []struct {
		mutate func(c *RespondConfig)
		want   string
	}{
		{func(c *RespondConfig) { c.Default = "" }, "respond.default: required"},
		{func(c *RespondConfig) { c.Default = "install" }, `respond.default: "install" is not apply, notify or log`},
		{func(c *RespondConfig) { c.Categories["urgent"] = ModeApply }, `respond.categories: "urgent" is not one of`},
		{func(c *RespondConfig) { c.Categories[CategoryBugfix] = "now" }, `respond.categories.bugfix: "now"`},
		{func(c *RespondConfig) { c.Zones = map[string]ZoneRespond{"lab": {Default: "x"}} }, `respond.zones.lab.default: "x"`},
		{func(c *RespondConfig) { c.TimeZone = "Mars/Olympus" }, `respond.time_zone: "Mars/Olympus"`},
		{func(c *RespondConfig) { c.MaintenanceWindows = []string{"Sat 02:00-04:00", "Caturday 01:00-02:00"} }, `respond.maintenance_windows[1]: window "Caturday 01:00-02:00": days`},
		{func(c *RespondConfig) { c.MaintenanceWindows = []string{"Sat 02:00-02:00"} }, "empty (start equals end)"},
		{func(c *RespondConfig) { c.MaintenanceWindows = []string{"Sat 2:00-4:00"} }, "want HH:MM-HH:MM"},
		{func(c *RespondConfig) { c.MaintenanceWindows = []string{"Sat 24:00-02:00"} }, "want HH:MM-HH:MM"},
		{func(c *RespondConfig) { c.MaintenanceWindows = []string{"Sat"} }, `want "DAYS HH:MM-HH:MM"`},
	}
	for _, tt := range tests {
		c := DefaultRespondConfig()
		tt.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want %q", err, tt.want)
		}
	}
	if err := DefaultRespondConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseWindowDays(t *testing.T) {
	tests := []struct {
		s    string
		days [7]bool // Sun..Sat
	}{
		{"daily 01:00-02:00", [7]bool{true, true, true, true, true, true, true}},
		{"Mon-Fri 01:00-02:00", [7]bool{false, true, true, true, true, true, false}},
		{"Fri-Mon 01:00-02:00", [7]bool{true, true, false, false, false, true, true}},
		{"sat,Sun 01:00-24:00", [7]bool{true, false, false, false, false, false, true}},
	}
	for _, tt := range tests {
		w, err := ParseWindow(tt.s)
		if err != nil || w.Days != tt.days {
			t.Errorf("ParseWindow(%q) = %v, %v; want days %v", tt.s, w.Days, err, tt.days)
		}
	}
}
