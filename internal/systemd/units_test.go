package systemd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// busUnitStatus has the D-Bus signature of ListUnitsByNames' elements:
// (ssssssouso).
type busUnitStatus struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

// fakeManager answers org.freedesktop.systemd1.Manager.ListUnitsByNames as
// systemd does: every asked name comes back, unknown ones as not-found.
type fakeManager struct {
	units map[string][3]string // load, active, sub
	mu    sync.Mutex           // godbus calls from its own goroutine
	asked [][]string
}

func (m *fakeManager) ListUnitsByNames(names []string) ([]busUnitStatus, *dbus.Error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, names)
	var out []busUnitStatus
	for _, n := range names {
		st, ok := m.units[n]
		if !ok {
			st = [3]string{"not-found", "inactive", "dead"}
		}
		out = append(out, busUnitStatus{Name: n, LoadState: st[0], ActiveState: st[1], SubState: st[2], Path: "/org/freedesktop/systemd1/unit/x", JobPath: "/"})
	}
	return out, nil
}

// privateBus starts a dbus-daemon on a socket in a temporary directory,
// stopped by its PID when the test ends, and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("skipping: dbus-daemon is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	config := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>`, sock)
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+cfg, "--nofork", "--nopidfile")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dbus-daemon did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "unix:path=" + sock
}

func dial(addr string) func(ctx context.Context) (*Conn, error) {
	return func(ctx context.Context) (*Conn, error) { return Dial(ctx, addr, true) }
}

func TestBusStatesOverDBus(t *testing.T) {
	addr := privateBus(t)
	server, err := dbus.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := server.Hello(); err != nil {
		t.Fatal(err)
	}
	mgr := &fakeManager{units: map[string][3]string{
		"dlm.service":      {"loaded", "active", "running"},
		"corosync.service": {"loaded", "failed", "failed"},
	}}
	if err := server.Export(mgr, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if reply, err := server.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the systemd name: %v %v", reply, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bus := Bus{Connect: dial(addr)}
	states, err := bus.States(ctx, "dlm.service", "corosync.service", "o2cb.service")
	if err != nil {
		t.Fatal(err)
	}
	want := []UnitState{
		{"dlm.service", "loaded", "active", "running"},
		{"corosync.service", "loaded", "failed", "failed"},
		{"o2cb.service", "not-found", "inactive", "dead"},
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states:\n got  %v\n want %v", states, want)
	}
	mgr.mu.Lock()
	if len(mgr.asked) != 1 || strings.Join(mgr.asked[0], ",") != "dlm.service,corosync.service,o2cb.service" {
		t.Errorf("asked %v", mgr.asked)
	}
	mgr.mu.Unlock()

	err = RequireActive(ctx, bus, "adding journals with gfs2_jadd", "dlm.service", "corosync.service")
	if err == nil || err.Error() != "adding journals with gfs2_jadd needs dlm.service and corosync.service running, but corosync.service (failed/failed) is not active: start it first (systemctl start corosync.service)" {
		t.Errorf("RequireActive: %v", err)
	}
	if err := RequireActive(ctx, bus, "x", "dlm.service"); err != nil {
		t.Errorf("active unit: %v", err)
	}
}

func TestBusUnreachable(t *testing.T) {
	bus := Bus{Connect: dial("unix:path=" + filepath.Join(t.TempDir(), "no-such-socket"))}
	_, err := bus.States(context.Background(), "o2cb.service")
	if err == nil || !strings.Contains(err.Error(), "cannot reach systemd over D-Bus to check o2cb.service") {
		t.Errorf("want a clear error, got %v", err)
	}
}

type fakeUnits map[string]UnitState

func (f fakeUnits) States(_ context.Context, names ...string) ([]UnitState, error) {
	var out []UnitState
	for _, n := range names {
		out = append(out, f[n])
	}
	return out, nil
}

func TestRequireActiveMessages(t *testing.T) {
	units := fakeUnits{
		"o2cb.service": {Name: "o2cb.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"},
		"dlm.service":  {Name: "dlm.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"},
	}
	err := RequireActive(context.Background(), units, "changing slots", "o2cb.service", "dlm.service")
	want := "changing slots needs o2cb.service and dlm.service running, but o2cb.service (not installed), dlm.service (inactive/dead) are not active: start them first (systemctl start o2cb.service dlm.service)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
