// Package lab runs a multi-attach cluster of real VMs on one machine: a
// lab directory with its state (lab.json), the nodes' VMs on a private L2,
// shared raw volumes attached to them as Nova attaches a Cinder
// multiattach volume, and the Ansible inventory that points at them. Its
// parts: image (the guest image and its package source), vm (one qemu),
// volume (a volume as VMs see it, hot-plug), qmp, proc (the lab's
// processes), cloud (the lab's OpenStack) and cli (bin/lab).
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// Lab is one lab directory: its VMs, cluster link, volumes and inventory.
// Several labs run side by side, each in its own directory with its own
// block of ports.
type Lab struct {
	Dir        string    // absolute; on a file system with O_DIRECT (not tmpfs)
	CacheDir   string    // the image cache
	Executable string    // this program, run by qemu per package-source connection
	Out        io.Writer // progress and figures
}

func (l *Lab) path(name string) string { return filepath.Join(l.Dir, name) }
func (l *Lab) statePath() string       { return l.path("lab.json") }

// InventoryPath is the Ansible inventory the lab keeps up to date.
func (l *Lab) InventoryPath() string { return l.path("inventory.yml") }

// node files
func (l *Lab) overlay(n Node) string { return l.path(n.Name + ".qcow2") }
func (l *Lab) pidFile(n Node) string { return l.path(n.Name + ".pid") }
func (l *Lab) qmpSocket(n Node) string {
	return l.path(n.Name + ".qmp")
}
func (l *Lab) serialSocket(n Node) string { return l.path(n.Name + ".serial") }

// ConsoleLog is the file that records node's serial console.
func (l *Lab) ConsoleLog(n Node) string { return l.path(n.Name + ".console") }
func (l *Lab) volumePath(id string) string {
	return filepath.Join(l.Dir, "volumes", id+".raw")
}
func (l *Lab) vdeSocket() string  { return l.path("vde.ctl") }
func (l *Lab) vdeMgmt() string    { return l.path("vde.mgmt") }
func (l *Lab) vdePIDFile() string { return l.path("vde.pid") }

func (l *Lab) logf(format string, args ...any) {
	if l.Out != nil {
		fmt.Fprintf(l.Out, "lab: "+format+"\n", args...)
	}
}

// lock serialises the commands that change the lab.
func (l *Lab) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create lab directory: %w", err)
	}
	return proc.LockFile(ctx, l.path(".lock"), l.Out, "another lab command")
}

// State reads the lab's state; nil when the lab is not up.
func (l *Lab) State() (*State, error) { return loadState(l.statePath()) }

// Running reports whether node's VM is alive.
func (l *Lab) Running(n Node) bool { return proc.Alive(proc.ReadPID(l.pidFile(n)), l.Marker()) }

// PID is the pid of node's qemu, 0 when it is not running.
func (l *Lab) PID(n Node) int {
	pid := proc.ReadPID(l.pidFile(n))
	if proc.Alive(pid, l.Marker()) {
		return pid
	}
	return 0
}

// UpOptions say what `up` brings up.
type UpOptions struct {
	Nodes      int
	PortBase   int // 0: derived from the lab directory
	MemoryMiB  int
	Accel      string // auto, tcg or kvm
	Recipe     image.Recipe
	SSHTimeout time.Duration
}

// Up brings the lab up with o.Nodes running VMs reachable over SSH. A lab
// that is already up with the same nodes is left as it is; whatever a
// crashed or stopped lab left behind is cleared first.
func (l *Lab) Up(ctx context.Context, o UpOptions) error {
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return fmt.Errorf("--nodes must be between 1 and %d", MaxNodes)
	}
	if err := l.checkDir(); err != nil {
		return err
	}
	unlock, err := l.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := l.State()
	if err != nil {
		return err
	}
	if st != nil && l.healthy(st) {
		if len(st.Nodes) == o.Nodes {
			l.logf("already up with %d nodes (%s)", len(st.Nodes), l.Dir)
			// An up that was interrupted left VMs that may still boot.
			if err := l.WaitSSH(ctx, st, st.Nodes, o.SSHTimeout); err != nil {
				return err
			}
			return l.WriteInventory(st)
		}
		return fmt.Errorf("the lab in %s is up with %d nodes, not %d: run `lab down` first, or `lab add-node`", l.Dir, len(st.Nodes), o.Nodes)
	}
	if err := l.clear(); err != nil {
		return err
	}

	t0 := time.Now()
	im, built, err := image.Build(ctx, l.CacheDir, o.Recipe, l.Out)
	if err != nil {
		return err
	}
	if built {
		l.logf("image built in %.0f s: %s", time.Since(t0).Seconds(), im.Dir)
	}
	portBase := o.PortBase
	if portBase == 0 {
		portBase = DefaultPortBase(l.Dir)
	}
	st = &State{
		PortBase:   portBase,
		Image:      im.Dir,
		MemoryMiB:  o.MemoryMiB,
		Accel:      vm.ChooseAccel(ctx, o.Accel, l.CacheDir, im, l.Out),
		Executable: l.Executable,
	}
	for i := 1; i <= o.Nodes; i++ {
		st.Nodes = append(st.Nodes, Node{Index: i, Name: NodeName(i)})
	}
	if err := l.checkPorts(st, st.Nodes); err != nil {
		return err
	}
	// Recorded before anything starts: a crash from here on is cleared by
	// the next up or down.
	if err := saveState(l.statePath(), st); err != nil {
		return err
	}
	if err := l.startSwitch(ctx); err != nil {
		return err
	}
	t1 := time.Now()
	for _, n := range st.Nodes {
		if err := l.startNode(ctx, st, n); err != nil {
			return err
		}
	}
	if err := l.WaitSSH(ctx, st, st.Nodes, o.SSHTimeout); err != nil {
		return err
	}
	l.logf("%d nodes up in %.0f s (accel %s, %d MiB each)", len(st.Nodes), time.Since(t1).Seconds(), st.Accel, st.MemoryMiB)
	return l.WriteInventory(st)
}

// checkDir refuses a lab directory whose sockets would not fit a unix
// socket address or whose file system cannot do O_DIRECT.
func (l *Lab) checkDir() error {
	if n := len(l.path("node99.serial")); n > 100 {
		return fmt.Errorf("lab directory %s is too long for unix socket paths (%d > 100 bytes): choose a shorter one", l.Dir, n)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return fmt.Errorf("create lab directory: %w", err)
	}
	probe := l.path(".odirect")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_RDWR|0x4000 /* O_DIRECT */, 0o644)
	if err != nil {
		return fmt.Errorf("lab directory %s cannot open files with O_DIRECT (cache=none needs it; tmpfs cannot): %w", l.Dir, err)
	}
	f.Close()
	return os.Remove(probe)
}

func (l *Lab) checkPorts(st *State, nodes []Node) error {
	for _, n := range nodes {
		port := st.SSHPort(n)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("port %d for %s is taken (another lab?): choose another --port-base: %w", port, n.Name, err)
		}
		ln.Close()
	}
	return nil
}

// healthy: the switch and every node run.
func (l *Lab) healthy(st *State) bool {
	if !proc.Alive(proc.ReadPID(l.vdePIDFile()), l.Marker()) {
		return false
	}
	for _, n := range st.Nodes {
		if !l.Running(n) {
			return false
		}
	}
	return true
}

func (l *Lab) startSwitch(ctx context.Context) error {
	os.RemoveAll(l.vdeSocket())
	os.Remove(l.vdeMgmt())
	if _, err := (command.Exec{}).Run(ctx, "vde_switch", vm.VDESwitchArgs(l.vdeSocket(), l.vdeMgmt(), l.vdePIDFile())...); err != nil {
		return fmt.Errorf("start the cluster switch: %w", err)
	}
	// vde_switch -d returns before it writes its pid file and socket.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if proc.Alive(proc.ReadPID(l.vdePIDFile()), l.Marker()) {
			if _, err := os.Stat(filepath.Join(l.vdeSocket(), "ctl")); err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vde_switch did not come up within 10 s (%s)", l.vdeSocket())
}

// vm is node's qemu configuration with the volumes the lab has attached to
// it (cold plug at start, as Nova does when it starts a server).
func (l *Lab) vm(st *State, n Node) vm.VM {
	v := vm.VM{
		Name:           n.Name,
		Index:          n.Index,
		Image:          image.Image{Dir: st.Image},
		Overlay:        l.overlay(n),
		MemoryMiB:      st.MemoryMiB,
		Accel:          st.Accel,
		SSHPort:        st.SSHPort(n),
		ClusterAddress: ClusterAddress(n.Index) + "/24",
		VDESocket:      l.vdeSocket(),
		QMPSocket:      l.qmpSocket(n),
		SerialSocket:   l.serialSocket(n),
		ConsoleLog:     l.ConsoleLog(n),
		PIDFile:        l.pidFile(n),
	}
	if st.Executable != "" {
		v.RepoCommand = RepoCommand(st.Executable, image.Image{Dir: st.Image}.RepoDir(), l.Marker())
		v.OpenStackCommand = RelayCommand(st.Executable, l.Marker(), st.OpenStackPort())
		v.OpenStackPort = st.OpenStackPort()
	}
	for _, vol := range st.VolumesOf(n.Name) {
		v.Volumes = append(v.Volumes, l.device(vol))
	}
	return v
}

// RepoCommand is what qemu runs for each guest connection to the package
// source. labDir (with its trailing slash: the marker) is in it so that
// `down` finds strays.
func RepoCommand(executable, repoDir, labDir string) string {
	return fmt.Sprintf("%s repo-conn --repo %s --lab %s", executable, repoDir, labDir)
}

// RelayCommand is what qemu runs for each guest connection to the lab's
// OpenStack: a relay to its port on 127.0.0.1. labDir (with its trailing
// slash: the marker) is in it so that `down` finds strays.
func RelayCommand(executable, labDir string, port int) string {
	return fmt.Sprintf("%s relay --lab %s 127.0.0.1:%d", executable, labDir, port)
}

// startNode boots node's VM, making its overlay on first start.
func (l *Lab) startNode(ctx context.Context, st *State, n Node) error {
	if l.Running(n) {
		return nil
	}
	for _, f := range []string{l.qmpSocket(n), l.serialSocket(n), l.pidFile(n), l.linkDownFile(n)} {
		os.Remove(f)
	}
	if _, err := os.Stat(l.overlay(n)); errors.Is(err, os.ErrNotExist) {
		if _, err := (command.Exec{}).Run(ctx, "qemu-img", vm.OverlayArgs(image.Image{Dir: st.Image}.Root(), l.overlay(n))...); err != nil {
			return fmt.Errorf("create %s's disk: %w", n.Name, err)
		}
	}
	os.Truncate(l.ConsoleLog(n), 0)
	if err := vm.Start(ctx, l.vm(st, n)); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	return nil
}

// Down stops every process the lab started, by pid, and removes its disks,
// volumes, sockets and state. The consoles' logs stay for a post-mortem.
func (l *Lab) Down(ctx context.Context) error {
	if _, err := os.Stat(l.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// down is what ends a command that hangs (a reboot waiting for a dead
	// guest, say): it waits for the lock only briefly.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	unlock, err := l.lock(lctx)
	cancel()
	if err != nil {
		l.logf("another lab command holds the lab: stopping its processes anyway")
	} else {
		defer unlock()
	}
	return l.clear()
}

// clear stops the lab's processes and removes everything but console logs.
func (l *Lab) clear() error {
	pidFiles, _ := filepath.Glob(l.path("*.pid"))
	var errs []error
	for _, f := range pidFiles {
		if err := proc.Stop(proc.ReadPID(f), l.Marker(), 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// Guest connections (package source, OpenStack) end with their VM;
	// any left are ours.
	for _, command := range []string{"repo-conn", "relay"} {
		for _, pid := range proc.With(l.Marker(), "\x00"+command+"\x00") {
			if err := proc.Stop(pid, l.Marker(), 2*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return fmt.Errorf("read lab directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".console") || name == ".lock" {
			continue
		}
		if err := os.RemoveAll(l.path(name)); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return nil
}

// Kill stops node's VM at once, as a power cut would. Its disk and its
// attachments stay: `reboot` powers it on again.
func (l *Lab) Kill(ctx context.Context, name string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(name)
	if err != nil {
		return err
	}
	pid := l.PID(n)
	if pid == 0 {
		l.logf("%s is not running", n.Name)
		return nil
	}
	if err := proc.Kill(pid, l.Marker()); err != nil {
		return err
	}
	os.Remove(l.pidFile(n))
	l.logf("%s killed (pid %d)", n.Name, pid)
	return nil
}

// lockState takes the lab's lock and reads its state, which must exist.
func (l *Lab) lockState(ctx context.Context) (*State, func(), error) {
	unlock, err := l.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := l.RequireState()
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}

// RequireState reads the state of a lab that is up; no state is an error
// that says to run `lab up`.
func (l *Lab) RequireState() (*State, error) {
	st, err := l.State()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("no lab is up in %s: run `lab up` first", l.Dir)
	}
	return st, nil
}

// Marker is in the command line of every process the lab starts, and in no
// other lab's (hence the slash: lab "a" is not lab "ab").
func (l *Lab) Marker() string { return l.Dir + "/" }
