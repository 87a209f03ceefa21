// Package systemd reads the state of systemd units over systemd's D-Bus API,
// so that a module can check that the services it needs run (dlm for
// gfs2_jadd, o2cb for tunefs.ocfs2) and name the one to start when not.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
	// private socket when the bus cannot be reached and we are root.
	Connect func(ctx context.Context) (*Conn, error)
}

// The system bus's sockets when DBUS_SYSTEM_BUS_ADDRESS does not say, and
// the socket where systemd itself answers root.
var (
	systemBusSockets  = []string{"/var/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket"}
	systemdPrivateBus = "unix:path=/run/systemd/private"
)

// connectSystemd connects to the system bus, or, when that fails and we are
// root, straight to systemd, as systemctl does.
func connectSystemd(ctx context.Context) (*Conn, error) {
	conn, err := connectSystemBus(ctx)
	if err != nil && os.Geteuid() == 0 {
		return Dial(ctx, systemdPrivateBus, false)
	}
	return conn, err
}

func connectSystemBus(ctx context.Context) (*Conn, error) {
	address := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	if address == "" {
		for _, path := range systemBusSockets {
			if _, err := os.Stat(path); err == nil {
				address = "unix:path=" + path
				break
			}
		}
	}
	if address == "" {
		return nil, errors.New("system bus not found")
	}
	return Dial(ctx, address, true)
}

// unitStatus is one element of ListUnitsByNames' answer, a(ssssssouso).
type unitStatus struct {
	Name, Description, LoadState, ActiveState, SubState string
}

// ListUnitsByNames asks systemd's manager for the named units. systemd
// answers for every name, loading a unit to do so, and says "not-found" for
// one it does not know.
func (c *Conn) ListUnitsByNames(ctx context.Context, names []string) ([]unitStatus, error) {
	var body encoder
	start := body.arrayStart()
	for _, n := range names {
		body.string(n)
	}
	body.arrayEnd(start)
	reply, err := c.call(ctx, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		"org.freedesktop.systemd1.Manager", "ListUnitsByNames", "as", body.b)
	if err != nil {
		return nil, err
	}
	if reply.signature != "a(ssssssouso)" {
		return nil, fmt.Errorf("dbus: ListUnitsByNames answered %q, not a(ssssssouso)", reply.signature)
	}
	return decodeUnitStatuses(reply.body)
}

func decodeUnitStatuses(d decoder) ([]unitStatus, error) {
	var out []unitStatus
	d.array(8, func() {
		var u unitStatus
		u.Name, u.Description, u.LoadState, u.ActiveState, u.SubState = d.string(), d.string(), d.string(), d.string(), d.string()
		d.string() // followed unit
		d.string() // unit object path
		d.uint32() // job id
		d.string() // job type
		d.string() // job object path
		out = append(out, u)
	})
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

// States implements Units. It returns one state per name, in order; a unit
// systemd does not know has LoadState "not-found".
func (b Bus) States(ctx context.Context, names ...string) ([]UnitState, error) {
	connect := b.Connect
	if connect == nil {
		connect = connectSystemd
	}
	conn, err := connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot reach systemd over D-Bus to check %s: %w", strings.Join(names, ", "), err)
	}
	defer conn.Close()
	statuses, err := conn.ListUnitsByNames(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("ask systemd for the state of %s: %w", strings.Join(names, ", "), err)
	}
	byName := make(map[string]unitStatus, len(statuses))
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
