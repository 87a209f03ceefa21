// Package systemd reads the state of systemd units over systemd's D-Bus API,
// so that a module can check that the services it needs run (dlm for
// gfs2_jadd, o2cb for tunefs.ocfs2) and name the one to start when not.
package systemd

import (
	"context"
	"fmt"
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// UnitState is one unit's state as systemd reports it.
type UnitState struct {
	Name        string
	LoadState   string // loaded, not-found, masked...
	ActiveState string // active, inactive, failed, activating...
	SubState    string // running, dead, exited...
}

// Active reports whether the unit is up.
func (u UnitState) Active() bool { return u.ActiveState == "active" }

func (u UnitState) String() string {
	if u.LoadState == "not-found" {
		return u.Name + " (not installed)"
	}
	return fmt.Sprintf("%s (%s/%s)", u.Name, u.ActiveState, u.SubState)
}

// Units reads unit states. Modules take this interface so tests can fake it.
type Units interface {
	States(ctx context.Context, names ...string) ([]UnitState, error)
}

// Bus asks systemd over D-Bus.
type Bus struct {
	// Connect opens the connection; nil means the system bus, or systemd's
	// private socket when the bus is not running and we are root.
	Connect func(ctx context.Context) (*sdbus.Conn, error)
}

// States implements Units. It returns one state per name, in order; a unit
// systemd does not know has LoadState "not-found".
func (b Bus) States(ctx context.Context, names ...string) ([]UnitState, error) {
	connect := b.Connect
	if connect == nil {
		connect = sdbus.NewWithContext
	}
	conn, err := connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot reach systemd over D-Bus to check %s: %w", strings.Join(names, ", "), err)
	}
	defer conn.Close()
	statuses, err := conn.ListUnitsByNamesContext(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("ask systemd for the state of %s: %w", strings.Join(names, ", "), err)
	}
	byName := make(map[string]sdbus.UnitStatus, len(statuses))
	for _, s := range statuses {
		byName[s.Name] = s
	}
	out := make([]UnitState, 0, len(names))
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			out = append(out, UnitState{Name: n, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"})
			continue
		}
		out = append(out, UnitState{Name: n, LoadState: s.LoadState, ActiveState: s.ActiveState, SubState: s.SubState})
	}
	return out, nil
}

// RequireActive checks that every named unit is active and otherwise
// returns an error that names the units to start and why they are needed.
func RequireActive(ctx context.Context, units Units, why string, names ...string) error {
	states, err := units.States(ctx, names...)
	if err != nil {
		return err
	}
	var down, start []string
	for _, s := range states {
		if !s.Active() {
			down = append(down, s.String())
			start = append(start, s.Name)
		}
	}
	if len(down) == 0 {
		return nil
	}
	verb, pronoun := "are not active", "them"
	if len(down) == 1 {
		verb, pronoun = "is not active", "it"
	}
	return fmt.Errorf("%s needs %s running, but %s %s: start %s first (systemctl start %s)",
		why, strings.Join(names, " and "), strings.Join(down, ", "), verb, pronoun, strings.Join(start, " "))
}
