package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
)

// PowerOptions are the settings of the lab's compute host, named after
// Nova's.
type PowerOptions struct {
	// ShutdownTimeout is how long os-stop waits for the guest to power off
	// after the ACPI power button before it pulls the plug (Nova's
	// [DEFAULT] shutdown_timeout).
	ShutdownTimeout time.Duration
	// ShutdownRetryInterval is how often os-stop presses the power button
	// again meanwhile (Nova's [compute] shutdown_retry_interval): a guest
	// still booting misses the first press.
	ShutdownRetryInterval time.Duration
	// SoftRebootTimeout is how long a soft reboot waits for the guest to
	// power off before it becomes a hard reboot (Nova's [libvirt]
	// wait_soft_reboot_seconds).
	SoftRebootTimeout time.Duration

	poll time.Duration // how often a VM is looked at while waiting
}

// Nova's defaults.
const (
	DefaultShutdownTimeout       = 60 * time.Second
	DefaultShutdownRetryInterval = 10 * time.Second
	DefaultSoftRebootTimeout     = 120 * time.Second
)

func (o PowerOptions) withDefaults() PowerOptions {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.ShutdownRetryInterval <= 0 {
		o.ShutdownRetryInterval = DefaultShutdownRetryInterval
	}
	if o.SoftRebootTimeout <= 0 {
		o.SoftRebootTimeout = DefaultSoftRebootTimeout
	}
	if o.poll <= 0 {
		o.poll = 200 * time.Millisecond
	}
	return o
}

// domain is one node's VM as the compute host drives it: libvirt's part
// in Nova.
type domain interface {
	// Running reports whether the VM's qemu is alive (frozen or not).
	Running() bool
	// Shutdown presses the ACPI power button; the guest may ignore it.
	Shutdown(ctx context.Context) error
	// Destroy pulls the plug: it returns once the qemu is gone and has
	// let go of the node's disk. A VM that is off is left as it is.
	Destroy(ctx context.Context) error
	// Launch boots the VM with the node's disk and every volume attached
	// to it, and returns once the new qemu runs.
	Launch(ctx context.Context) error
}

// Power runs one Nova power action on d as Nova's libvirt driver does.
// A hard reboot destroys the VM and launches it again (volumes included,
// as Nova's re-attach on hard reboot), and so does os-start (libvirt's
// power_on is its hard reboot). A soft reboot powers the guest off
// cleanly and launches it again, or becomes a hard reboot when the guest
// has not powered off within SoftRebootTimeout. os-stop powers it off
// cleanly, pressing the button again every ShutdownRetryInterval, and
// destroys it after ShutdownTimeout.
func (o PowerOptions) Power(ctx context.Context, action fakeopenstack.PowerAction, d domain) error {
	o = o.withDefaults()
	switch action {
	case fakeopenstack.HardReboot, fakeopenstack.PowerOn:
		return hardReboot(ctx, d)
	case fakeopenstack.SoftReboot:
		if !d.Running() {
			return hardReboot(ctx, d)
		}
		off, err := o.cleanShutdown(ctx, d, o.SoftRebootTimeout, 0)
		if err != nil {
			return err
		}
		if off {
			return d.Launch(ctx)
		}
		return hardReboot(ctx, d)
	case fakeopenstack.PowerOff:
		off, err := o.cleanShutdown(ctx, d, o.ShutdownTimeout, o.ShutdownRetryInterval)
		if err != nil || off {
			return err
		}
		return d.Destroy(ctx)
	}
	return fmt.Errorf("the lab's compute host has no power action %q", action)
}

func hardReboot(ctx context.Context, d domain) error {
	if err := d.Destroy(ctx); err != nil {
		return err
	}
	return d.Launch(ctx)
}

// cleanShutdown presses d's power button (again every retry, if not 0)
// until the VM is off or timeout passes, and reports whether it is off.
// The button's errors are ignored as Nova ignores them: the VM may be
// going away, or frozen, and the timeout decides.
func (o PowerOptions) cleanShutdown(ctx context.Context, d domain, timeout, retry time.Duration) (bool, error) {
	start := time.Now()
	var pressed time.Time
	for {
		if !d.Running() {
			return true, nil
		}
		now := time.Now()
		if now.Sub(start) >= timeout {
			return false, nil
		}
		if pressed.IsZero() || retry > 0 && now.Sub(pressed) >= retry {
			pressed = now
			_ = d.Shutdown(ctx)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(min(o.poll, timeout-time.Since(start))):
		}
	}
}

// nodeDomain is a lab node's VM.
type nodeDomain struct {
	l    *lab.Lab
	name string
}

func (d nodeDomain) Running() bool                      { return d.l.Running(lab.Node{Name: d.name}) }
func (d nodeDomain) Shutdown(ctx context.Context) error { return d.l.PressPowerButton(ctx, d.name) }
func (d nodeDomain) Destroy(ctx context.Context) error  { return d.l.Destroy(ctx, d.name) }
func (d nodeDomain) Launch(ctx context.Context) error   { return d.l.Launch(ctx, d.name) }

// errNoNode is the Power callback's answer for a server the lab has no
// node for.
var errNoNode = errors.New("the lab has no node for this server")

// power is the Power callback of the lab's Nova.
func power(ctx context.Context, l *lab.Lab, o PowerOptions, p fakeopenstack.PowerRequest) error {
	st, err := l.RequireState()
	if err != nil {
		return err
	}
	if _, err := st.Node(p.ServerName); err != nil {
		return fmt.Errorf("%w: %s", errNoNode, p.ServerName)
	}
	t0 := time.Now()
	logf(l, "%s: %s (request %s)", p.ServerName, p.Action, p.RequestID)
	err = o.Power(ctx, p.Action, nodeDomain{l: l, name: p.ServerName})
	proc.Reap() // a VM that powered off
	if err != nil {
		logf(l, "%s: %s failed after %.1f s: %v", p.ServerName, p.Action, time.Since(t0).Seconds(), err)
		return err
	}
	state := "running"
	if !l.Running(lab.Node{Name: p.ServerName}) {
		state = "off"
	}
	logf(l, "%s: %s done in %.1f s, VM %s", p.ServerName, p.Action, time.Since(t0).Seconds(), state)
	return nil
}
