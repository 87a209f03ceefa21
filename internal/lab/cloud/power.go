package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
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

// nodeDomain is a lab node's VM: its qemu process, QMP socket, disk and
// the volumes the lab's state attaches to it.
type nodeDomain struct {
	l    *Lab
	name string
}

// shutdownQMPTimeout bounds the power button: a frozen qemu accepts the
// QMP connection and never answers.
const shutdownQMPTimeout = 5 * time.Second

func (d nodeDomain) node() Node { return Node{Name: d.name} } // the files need only the name

func (d nodeDomain) Running() bool { return d.l.Running(d.node()) }

func (d nodeDomain) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownQMPTimeout)
	defer cancel()
	q, err := DialQMP(ctx, d.l.qmpSocket(d.node()))
	if err != nil {
		return err
	}
	defer q.Close()
	_, err = q.Execute(ctx, "system_powerdown", nil)
	return err
}

func (d nodeDomain) Destroy(ctx context.Context) error {
	st, unlock, err := d.l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(d.name)
	if err != nil {
		return err
	}
	return d.l.destroy(ctx, n)
}

func (d nodeDomain) Launch(ctx context.Context) error {
	st, unlock, err := d.l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(d.name)
	if err != nil {
		return err
	}
	reapChildren() // a qemu that powered off by itself
	if err := d.l.startNode(ctx, st, n); err != nil {
		return err
	}
	return d.l.checkRunning(ctx, n)
}

// destroy ends node's qemu at once (SIGKILL stops a frozen one too) and
// returns once it is gone, reaped if it is this process's child, and its
// lock on the node's disk released: a new qemu can open it.
func (l *Lab) destroy(ctx context.Context, n Node) error {
	if pid := l.PID(n); pid != 0 {
		if err := killProcess(pid, l.marker()); err != nil {
			return fmt.Errorf("destroy %s's VM: %w", n.Name, err)
		}
		l.logf("%s's VM destroyed (pid %d)", n.Name, pid)
	}
	reapChildren()
	if err := waitUnlocked(ctx, l.overlay(n), 10*time.Second); err != nil {
		return fmt.Errorf("destroy %s's VM: %w", n.Name, err)
	}
	return nil
}

// checkRunning asks node's new qemu whether its VM runs.
func (l *Lab) checkRunning(ctx context.Context, n Node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, l.qmpSocket(n))
	if err != nil {
		return fmt.Errorf("%s's new VM: %w", n.Name, err)
	}
	defer q.Close()
	status, err := queryStatus(ctx, q)
	if err != nil {
		return fmt.Errorf("%s's new VM: %w", n.Name, err)
	}
	if status != "running" {
		return fmt.Errorf("%s's new VM is %s, not running", n.Name, status)
	}
	return nil
}

// errNoNode is the Power callback's answer for a server the lab has no
// node for.
var errNoNode = errors.New("the lab has no node for this server")

// power is the Power callback of the lab's Nova.
func (l *Lab) power(ctx context.Context, o PowerOptions, p fakeopenstack.PowerRequest) error {
	st, err := l.requireState()
	if err != nil {
		return err
	}
	if _, err := st.Node(p.ServerName); err != nil {
		return fmt.Errorf("%w: %s", errNoNode, p.ServerName)
	}
	t0 := time.Now()
	l.logf("%s: %s (request %s)", p.ServerName, p.Action, p.RequestID)
	err = o.Power(ctx, p.Action, nodeDomain{l: l, name: p.ServerName})
	reapChildren() // a VM that powered off
	if err != nil {
		l.logf("%s: %s failed after %.1f s: %v", p.ServerName, p.Action, time.Since(t0).Seconds(), err)
		return err
	}
	state := "running"
	if !l.Running(Node{Name: p.ServerName}) {
		state = "off"
	}
	l.logf("%s: %s done in %.1f s, VM %s", p.ServerName, p.Action, time.Since(t0).Seconds(), state)
	return nil
}
