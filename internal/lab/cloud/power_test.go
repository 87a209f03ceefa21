package cloud

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

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
	flags := PowerOptions{ShutdownTimeout: 5 * time.Second}.Flags()
	want := []string{"--shutdown-timeout", "5s", "--shutdown-retry-interval", "10s", "--soft-reboot-timeout", "2m0s"}
	if !reflect.DeepEqual(flags, want) {
		t.Errorf("flags = %q, want %q", flags, want)
	}
}

// TestPowerCallbackNodes: the lab's Nova acts only on its nodes, and a
// node that is off is destroyed as a no-op.
func TestPowerCallbackNodes(t *testing.T) {
	l := testLab(t)
	err := power(context.Background(), l, fastPower, fakeopenstack.PowerRequest{Action: fakeopenstack.HardReboot, ServerName: "node9"})
	if !errors.Is(err, errNoNode) {
		t.Errorf("a server with no node: %v", err)
	}
	// node2's VM is off: a stop has nothing to do.
	if err := power(context.Background(), l, fastPower, fakeopenstack.PowerRequest{Action: fakeopenstack.PowerOff, ServerName: "node2"}); err != nil {
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
