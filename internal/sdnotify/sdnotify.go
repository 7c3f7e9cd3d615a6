// Package sdnotify tells the service manager how a daemon is doing, in the
// sd_notify(3) protocol: READY=1 once it serves, STATUS= lines, WATCHDOG=1
// keep-alives and STOPPING=1 when it shuts down. The datagrams go through
// go-systemd's daemon package to the socket systemd names in NOTIFY_SOCKET;
// outside systemd (NOTIFY_SOCKET unset) every call does nothing.
package sdnotify

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogPingsPerInterval is how many WATCHDOG=1 pings a daemon sends per
// WatchdogSec: sd_watchdog_enabled(3) asks for one every half interval, so a
// ping that is a little late still arrives in time.
const WatchdogPingsPerInterval = 2

// Notifier sends states to the service manager that started this process.
// The zero Notifier (and a nil one) is disabled: it sends nothing.
type Notifier struct {
	enabled  bool
	watchdog time.Duration // WatchdogSec for this process; 0: no watchdog
}

// FromEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, leaving them
// set. A malformed WATCHDOG_USEC is an error, returned with a Notifier that
// still sends READY, STATUS and STOPPING but no pings.
func FromEnv() (*Notifier, error) {
	n := &Notifier{enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.enabled {
		return n, nil
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return n, fmt.Errorf("reading the systemd watchdog interval: %w", err)
	}
	n.watchdog = wd
	return n, nil
}

// Enabled reports whether a service manager listens (NOTIFY_SOCKET is set).
func (n *Notifier) Enabled() bool { return n != nil && n.enabled }

// PingInterval is how often to send WATCHDOG=1: half the interval systemd
// asked for, or 0 when it watches nothing (no WatchdogSec, WATCHDOG_PID
// names another process, or notifications are disabled).
func (n *Notifier) PingInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog / WatchdogPingsPerInterval
}

// Ready tells systemd start-up is over, with status as the service's
// STATUS line (none if empty).
func (n *Notifier) Ready(status string) error {
	return n.send(daemon.SdNotifyReady, status)
}

// Status sets the one-line status `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.send("", status) }

// Ping tells the watchdog the daemon is alive.
func (n *Notifier) Ping() error { return n.send(daemon.SdNotifyWatchdog, "") }

// Stopping tells systemd the daemon began shutting down, with status as
// the service's STATUS line (none if empty).
func (n *Notifier) Stopping(status string) error {
	return n.send(daemon.SdNotifyStopping, status)
}

// send sends state and status (each left out if empty) in one datagram.
func (n *Notifier) send(state, status string) error {
	if !n.Enabled() {
		return nil
	}
	var lines []string
	if state != "" {
		lines = append(lines, state)
	}
	if status != "" {
		// A newline would start another assignment; the protocol has no
		// escape for it.
		lines = append(lines, "STATUS="+strings.ReplaceAll(status, "\n", " "))
	}
	msg := strings.Join(lines, "\n")
	if _, err := daemon.SdNotify(false, msg); err != nil {
		return fmt.Errorf("notifying systemd of %q: %w", msg, err)
	}
	return nil
}
