package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
)

// powerButtonTimeout bounds a press of the power button: a frozen qemu
// accepts the QMP connection and never answers.
const powerButtonTimeout = 5 * time.Second

// PressPowerButton presses the ACPI power button of node name's VM; the
// guest may ignore it.
func (l *Lab) PressPowerButton(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, powerButtonTimeout)
	defer cancel()
	q, err := qmp.Dial(ctx, l.qmpSocket(Node{Name: name}))
	if err != nil {
		return err
	}
	defer q.Close()
	_, err = q.Execute(ctx, "system_powerdown", nil)
	return err
}

// Destroy pulls the plug of node name's VM, as Nova's destroy does: its
// qemu ends at once (SIGKILL ends a frozen one too), and Destroy returns
// once it is gone, reaped if it is this process's child, and its lock on
// the node's disk released, so that a new qemu can open it. A VM that is
// off is left as it is. Its disk and attachments stay.
func (l *Lab) Destroy(ctx context.Context, name string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(name)
	if err != nil {
		return err
	}
	if pid := l.PID(n); pid != 0 {
		if err := proc.Kill(pid, l.Marker()); err != nil {
			return fmt.Errorf("destroy %s's VM: %w", n.Name, err)
		}
		l.logf("%s's VM destroyed (pid %d)", n.Name, pid)
	}
	proc.Reap()
	if err := proc.WaitUnlocked(ctx, l.overlay(n), 10*time.Second); err != nil {
		return fmt.Errorf("destroy %s's VM: %w", n.Name, err)
	}
	return nil
}

// Launch boots node name's VM with its disk and every volume attached to
// it (cold plug, as Nova re-attaches volumes when it creates the domain
// again), and returns once the new qemu runs the VM, before the guest has
// booted. A VM that runs is left as it is.
func (l *Lab) Launch(ctx context.Context, name string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(name)
	if err != nil {
		return err
	}
	proc.Reap() // a qemu that powered off by itself
	if err := l.startNode(ctx, st, n); err != nil {
		return err
	}
	return l.checkRunning(ctx, n)
}

// checkRunning asks node's new qemu whether its VM runs.
func (l *Lab) checkRunning(ctx context.Context, n Node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	q, err := qmp.Dial(ctx, l.qmpSocket(n))
	if err != nil {
		return fmt.Errorf("%s's new VM: %w", n.Name, err)
	}
	defer q.Close()
	status, err := q.Status(ctx)
	if err != nil {
		return fmt.Errorf("%s's new VM: %w", n.Name, err)
	}
	if status != "running" {
		return fmt.Errorf("%s's new VM is %s, not running", n.Name, status)
	}
	return nil
}
