package testnet

import "time"

// Pull intervals of the classical update clients, printed beside the
// measured time to patch: a host that polls every T learns of a fix T/2
// after its release on average and T at worst, however fast the fix
// spreads once fetched.
const (
	// AptDailyMin and AptDailyMax bound apt's check on Debian and Ubuntu:
	// apt-daily.timer fires at 06:00 and 18:00 plus a random delay of up
	// to 12 h (OnCalendar=*-*-* 6,18:00, RandomizedDelaySec=12h in apt's
	// debian/apt-daily.timer), so checks land 12 to 24 h apart, and
	// unattended-upgrades installs from the daily apt-daily-upgrade.timer.
	AptDailyMin = 12 * time.Hour
	AptDailyMax = 24 * time.Hour
	// WindowsUpdate is Windows Update's default detection frequency:
	// 22 h, less a random 0–20 % (the "Automatic Updates detection
	// frequency" policy, DetectionFrequency, in Microsoft's documentation).
	WindowsUpdate = 22 * time.Hour
	// Rhnsd is rhnsd's default check-in interval on Red Hat systems
	// registered with RHN/Satellite: INTERVAL=240 minutes in
	// /etc/sysconfig/rhn/rhnsd.
	Rhnsd = 4 * time.Hour
)

// Keys of Report.PullTimers for the intervals above.
const (
	PullAptDailyMin   = "apt_daily_min"
	PullAptDailyMax   = "apt_daily_max"
	PullWindowsUpdate = "windows_update"
	PullRhnsd         = "rhnsd"
)

// DefaultPullTimers are the intervals above in seconds, keyed as in
// Report.PullTimers.
func DefaultPullTimers() map[string]float64 {
	return map[string]float64{
		PullAptDailyMin:   AptDailyMin.Seconds(),
		PullAptDailyMax:   AptDailyMax.Seconds(),
		PullWindowsUpdate: WindowsUpdate.Seconds(),
		PullRhnsd:         Rhnsd.Seconds(),
	}
}
