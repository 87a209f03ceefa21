package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

// fakeDomain is a VM whose guest powers off after a number of presses of
// the power button (never, when 0), and which records what was done to it.
type fakeDomain struct {
	mu        sync.Mutex
	running   bool
	offAfter  int // presses until the guest powers off; 0: it never does
	presses   int
	calls     []string
	buttonErr error // what a press answers (a frozen qemu times out)
	destroy   error
	launch    error
}

func (d *fakeDomain) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running
}

func (d *fakeDomain) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.presses++
	d.calls = append(d.calls, "shutdown")
	if d.offAfter > 0 && d.presses >= d.offAfter {
		d.running = false
	}
	return d.buttonErr
}

func (d *fakeDomain) Destroy(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "destroy")
	if d.destroy != nil {
		return d.destroy
	}
	d.running = false
	return nil
}

func (d *fakeDomain) Launch(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "launch")
	if d.launch != nil {
		return d.launch
	}
	d.running, d.presses = true, 0
	return nil
}

// steps is the calls with repeated presses counted: "shutdown x3".
func (d *fakeDomain) steps() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for i := 0; i < len(d.calls); {
		j := i
		for j < len(d.calls) && d.calls[j] == d.calls[i] {
			j++
		}
		s := d.calls[i]
		if j-i > 1 {
			s += fmt.Sprintf(" x%d", j-i)
		}
		out = append(out, s)
		i = j
	}
	return strings.Join(out, ", ")
}

// fastPower is the compute host with short timeouts: 300 ms to power off,
// the button pressed every 100 ms.
var fastPower = PowerOptions{ShutdownTimeout: 300 * time.Millisecond, ShutdownRetryInterval: 100 * time.Millisecond,
	SoftRebootTimeout: 300 * time.Millisecond, poll: 5 * time.Millisecond}

func TestPowerActionsOnTheVM(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		action  fakeopenstack.PowerAction
		vm      *fakeDomain
		steps   string
		running bool
		err     error
		min     time.Duration // at least this long (a timeout ran out)
	}{
		{name: "hard reboot: destroyed and launched, not asked",
			action: fakeopenstack.HardReboot, vm: &fakeDomain{running: true, offAfter: 1},
			steps: "destroy, launch", running: true},
		{name: "hard reboot of a VM that is off starts it",
			action: fakeopenstack.HardReboot, vm: &fakeDomain{},
			steps: "destroy, launch", running: true},
		{name: "os-start is libvirt's hard reboot",
			action: fakeopenstack.PowerOn, vm: &fakeDomain{},
			steps: "destroy, launch", running: true},
		{name: "os-stop: the guest powers off at the first press",
			action: fakeopenstack.PowerOff, vm: &fakeDomain{running: true, offAfter: 1},
			steps: "shutdown", running: false},
		{name: "os-stop: a guest still booting misses the first press, takes the second",
			action: fakeopenstack.PowerOff, vm: &fakeDomain{running: true, offAfter: 2},
			steps: "shutdown x2", running: false, min: 100 * time.Millisecond},
		{name: "os-stop: a frozen guest is forced off after the timeout, the button's errors ignored",
			action: fakeopenstack.PowerOff, vm: &fakeDomain{running: true, buttonErr: boom},
			steps: "shutdown x3, destroy", running: false, min: 300 * time.Millisecond},
		{name: "os-stop of a VM that is off does nothing",
			action: fakeopenstack.PowerOff, vm: &fakeDomain{},
			steps: "", running: false},
		{name: "soft reboot: powered off cleanly, launched again",
			action: fakeopenstack.SoftReboot, vm: &fakeDomain{running: true, offAfter: 1},
			steps: "shutdown, launch", running: true},
		{name: "soft reboot: one press only, then hard after the timeout",
			action: fakeopenstack.SoftReboot, vm: &fakeDomain{running: true, offAfter: 2},
			steps: "shutdown, destroy, launch", running: true, min: 300 * time.Millisecond},
		{name: "soft reboot of a VM that is off is a hard reboot",
			action: fakeopenstack.SoftReboot, vm: &fakeDomain{},
			steps: "destroy, launch", running: true},
		{name: "a failed destroy fails, nothing launched",
			action: fakeopenstack.HardReboot, vm: &fakeDomain{running: true, destroy: boom},
			steps: "destroy", running: true, err: boom},
		{name: "a failed launch fails",
			action: fakeopenstack.PowerOn, vm: &fakeDomain{launch: boom},
			steps: "destroy, launch", running: false, err: boom},
		{name: "a failed forced off fails the stop",
			action: fakeopenstack.PowerOff, vm: &fakeDomain{running: true, destroy: boom},
			steps: "shutdown x3, destroy", running: true, err: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := tc.vm
			t0 := time.Now()
			err := fastPower.Power(context.Background(), tc.action, vm)
			took := time.Since(t0)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("error = %v, want %v", err, tc.err)
			}
			// A count of presses depends on timing only by one either way.
			steps := vm.steps()
			if steps != tc.steps && !(strings.Contains(tc.steps, "x3") && strings.Replace(steps, "x4", "x3", 1) == tc.steps) {
				t.Errorf("steps = %q, want %q", steps, tc.steps)
			}
			if vm.Running() != tc.running {
				t.Errorf("running = %v, want %v", vm.Running(), tc.running)
			}
			if took < tc.min {
				t.Errorf("took %v, less than the timeout %v", took, tc.min)
			}
			if took > tc.min+2*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

func TestPowerUnknownActionAndCancel(t *testing.T) {
	vm := &fakeDomain{running: true}
	if err := fastPower.Power(context.Background(), "pause", vm); err == nil || vm.steps() != "" {
		t.Errorf("unknown action: %v, steps %q", err, vm.steps())
	}
	// The cloud closing ends a wait without pulling the plug.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := fastPower.Power(ctx, fakeopenstack.PowerOff, vm); !errors.Is(err, context.DeadlineExceeded) || vm.steps() != "shutdown" {
		t.Errorf("cancelled stop: %v, steps %q", err, vm.steps())
	}
}

func TestPowerOptionsDefaultsAndFlags(t *testing.T) {
	o := PowerOptions{}.withDefaults()
	if o.ShutdownTimeout != 60*time.Second || o.ShutdownRetryInterval != 10*time.Second || o.SoftRebootTimeout != 120*time.Second {
		t.Errorf("defaults = %+v, want Nova's 60 s, 10 s, 120 s", o)
	}
	flags := PowerOptions{ShutdownTimeout: 5 * time.Second}.flags()
	want := []string{"--shutdown-timeout", "5s", "--shutdown-retry-interval", "10s", "--soft-reboot-timeout", "2m0s"}
	if !reflect.DeepEqual(flags, want) {
		t.Errorf("flags = %q, want %q", flags, want)
	}
}

// TestPowerCallbackNodes: the lab's Nova acts only on its nodes, and a
// node that is off is destroyed as a no-op.
func TestPowerCallbackNodes(t *testing.T) {
	dir := t.TempDir()
	l := &Lab{Dir: dir}
	if err := saveState(l.statePath(), testState()); err != nil {
		t.Fatal(err)
	}
	err := l.power(context.Background(), fastPower, fakeopenstack.PowerRequest{Action: fakeopenstack.HardReboot, ServerName: "node9"})
	if !errors.Is(err, errNoNode) {
		t.Errorf("a server with no node: %v", err)
	}
	// node2's VM is off: a stop has nothing to do.
	if err := l.power(context.Background(), fastPower, fakeopenstack.PowerRequest{Action: fakeopenstack.PowerOff, ServerName: "node2"}); err != nil {
		t.Errorf("stop of a VM that is off: %v", err)
	}
	d := nodeDomain{l: l, name: "node2"}
	if d.Running() {
		t.Error("a node without qemu is running")
	}
	if err := d.Destroy(context.Background()); err != nil {
		t.Errorf("destroy of a VM that is off: %v", err)
	}
}

// TestKillFrozenProcess: SIGKILL ends a process stopped by SIGSTOP, as a
// frozen qemu is.
func TestKillFrozenProcess(t *testing.T) {
	marker := "/lab-test-" + fmt.Sprint(time.Now().UnixNano()) + "/"
	cmd := exec.Command("sh", "-c", "sleep 30", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); !ownedAlive(pid, marker); {
		if time.Now().After(deadline) {
			t.Fatal("own process not recognised")
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); !frozen(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("state %c after SIGSTOP", procState(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ownedAlive(pid, marker) {
		t.Error("a frozen process is not alive")
	}
	if err := killProcess(pid, marker); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("wait = %v, want killed", err)
	}
	if procState(pid) != 0 || frozen(pid) {
		t.Errorf("state after kill and wait: %c", procState(pid))
	}
}

// TestReapChildren: an exited qemu that is this process's child is
// reaped; a running one, and any other child, are left alone.
func TestReapChildren(t *testing.T) {
	qemu := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.Symlink("/bin/sleep", qemu); err != nil {
		t.Fatal(err)
	}
	start := func(path string) int {
		pid, err := syscall.ForkExec(path, []string{path, "30"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	dead, alive, other := start(qemu), start(qemu), start("/bin/sleep")
	defer func() {
		for _, pid := range []int{dead, alive, other} {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", dead))
		if comm, _, _ := parseStat(b); comm == "qemu-system-x86" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran as qemu-system-x86: %s", b)
		}
	}
	syscall.Kill(dead, syscall.SIGKILL)
	syscall.Kill(other, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); procState(dead) != 'Z' || procState(other) != 'Z'; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("killed children in states %c, %c", procState(dead), procState(other))
		}
	}
	reapChildren()
	if procState(dead) != 0 {
		t.Errorf("the exited qemu is not reaped: state %c", procState(dead))
	}
	if procState(alive) == 0 || procState(alive) == 'Z' {
		t.Errorf("the running qemu: state %c", procState(alive))
	}
	if procState(other) != 'Z' {
		t.Errorf("another child was reaped: state %c", procState(other))
	}
}

func TestParseStat(t *testing.T) {
	comm, state, ppid := parseStat([]byte("4242 (a (b) c) S 17 4242 4242 0 -1 4194560"))
	if comm != "a (b) c" || state != 'S' || ppid != 17 {
		t.Errorf("parseStat = %q %c %d", comm, state, ppid)
	}
	if comm, state, ppid := parseStat([]byte("garbage")); comm != "" || state != 0 || ppid != 0 {
		t.Errorf("parseStat(garbage) = %q %c %d", comm, state, ppid)
	}
}

func TestLocksOn(t *testing.T) {
	procLocks := `1: POSIX  ADVISORY  WRITE 11878 fe:00:398607 0 EOF
2: OFDLCK ADVISORY  READ -1 fe:00:5399215 100 101
3: OFDLCK ADVISORY  READ -1 fe:00:5399215 201 201
3: -> OFDLCK ADVISORY  WRITE -1 fe:00:5399215 201 201
4: FLOCK  ADVISORY  WRITE 123 08:11:5399215 0 EOF
`
	dev := unix.Mkdev(0xfe, 0)
	if n := locksOn(procLocks, dev, 5399215); n != 2 {
		t.Errorf("locks on fe:00:5399215 = %d, want 2 (a blocked request holds nothing)", n)
	}
	if n := locksOn(procLocks, unix.Mkdev(8, 0x11), 5399215); n != 1 {
		t.Errorf("locks on 08:11:5399215 = %d, want 1", n)
	}
	if n := locksOn(procLocks, dev, 1); n != 0 {
		t.Errorf("locks on another inode = %d", n)
	}
}

// TestWaitUnlocked takes an OFD lock as QEMU does on its images.
func TestWaitUnlocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.qcow2")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 100, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := waitUnlocked(ctx, path, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still locked") {
		t.Errorf("locked image: %v", err)
	}
	f.Close()
	if err := waitUnlocked(ctx, path, time.Second); err != nil {
		t.Errorf("image closed: %v", err)
	}
	if err := waitUnlocked(ctx, path+".missing", time.Second); err != nil {
		t.Errorf("no image: %v", err)
	}
}

func TestQueryStatus(t *testing.T) {
	path, got := fakeQMP(t, map[string]string{
		"query-status": `{"return": {"status": "running", "singlestep": false, "running": true}}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	<-got
	if s, err := queryStatus(ctx, q); s != "running" || err != nil {
		t.Errorf("queryStatus = %q, %v", s, err)
	}
}
