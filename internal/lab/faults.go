package lab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// The faults a cluster test injects into a node: a freeze (the node looks
// dead and keeps everything it holds) and a cut of its cluster link (its
// peers lose it, SSH and the disk keep working). Each is idempotent and
// refuses a node that is off. Both end with the node's qemu: a VM started
// again (a hard reboot by Nova, say) runs and has its link up.

// linkDownFile records that node's cluster link is down, with the pid of
// the qemu it was set down in.
func (l *Lab) linkDownFile(n Node) string { return l.path(n.Name + ".link-down") }

// faultSettle bounds the wait for a signal to take effect.
const faultSettle = 5 * time.Second

// Freeze stops node name's qemu with SIGSTOP: the VM keeps its disk, its
// memory and its locks, and does nothing (no network, no disk I/O, no
// answer on SSH) until Thaw, as a hung host would. A frozen node is left
// as it is.
func (l *Lab) Freeze(ctx context.Context, name string) error {
	n, pid, unlock, err := l.faultTarget(ctx, name, "freeze")
	if err != nil {
		return err
	}
	defer unlock()
	if proc.Frozen(pid) {
		l.logf("%s is frozen already (qemu %d)", n.Name, pid)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("freeze %s (qemu %d): %w", n.Name, pid, err)
	}
	if err := waitFor(ctx, func() bool { return proc.Frozen(pid) }); err != nil {
		return fmt.Errorf("%s's qemu %d is not stopped %.0f s after SIGSTOP (state %c)", n.Name, pid, faultSettle.Seconds(), proc.State(pid))
	}
	l.logf("%s frozen (qemu %d)", n.Name, pid)
	return nil
}

// Thaw lets node name's frozen qemu run again (SIGCONT). A running node is
// left as it is.
func (l *Lab) Thaw(ctx context.Context, name string) error {
	n, pid, unlock, err := l.faultTarget(ctx, name, "thaw")
	if err != nil {
		return err
	}
	defer unlock()
	if !proc.Frozen(pid) {
		l.logf("%s is running, not frozen (qemu %d)", n.Name, pid)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("thaw %s (qemu %d): %w", n.Name, pid, err)
	}
	if err := waitFor(ctx, func() bool { return !proc.Frozen(pid) }); err != nil {
		return fmt.Errorf("%s's qemu %d is still stopped %.0f s after SIGCONT", n.Name, pid, faultSettle.Seconds())
	}
	l.logf("%s thawed (qemu %d)", n.Name, pid)
	return nil
}

// SetClusterLink sets the link of node name's NIC on the private cluster
// link up or down (QMP set_link): while it is down the guest sees no
// carrier and no frame passes either way, so cluster traffic stops while
// SSH (the management NIC) and the disks keep working. A frozen node's
// qemu cannot answer QMP: it is refused, to be thawed first.
func (l *Lab) SetClusterLink(ctx context.Context, name string, up bool) error {
	n, pid, unlock, err := l.faultTarget(ctx, name, "set the cluster link of")
	if err != nil {
		return err
	}
	defer unlock()
	if proc.Frozen(pid) {
		return fmt.Errorf("%s is frozen: its qemu cannot set a link; `lab thaw %s` first", n.Name, n.Name)
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q, err := qmp.Dial(qctx, l.qmpSocket(n))
	if err != nil {
		return fmt.Errorf("%s's cluster link: %w", n.Name, err)
	}
	defer q.Close()
	if _, err := q.Execute(qctx, "set_link", map[string]any{"name": vm.ClusterNIC, "up": up}); err != nil {
		return fmt.Errorf("%s's cluster link: %w", n.Name, err)
	}
	if up {
		if err := os.Remove(l.linkDownFile(n)); err != nil && !os.IsNotExist(err) {
			return err
		}
		l.logf("%s's cluster link is up", n.Name)
		return nil
	}
	if err := os.WriteFile(l.linkDownFile(n), []byte(fmt.Sprintln(pid)), 0o644); err != nil {
		return err
	}
	l.logf("%s's cluster link is down", n.Name)
	return nil
}

// ClusterLinkUp reports whether node's NIC on the cluster link has its
// link up: false for a VM that is off, or one whose link SetClusterLink
// set down (a later qemu of the node starts with it up).
func (l *Lab) ClusterLinkUp(n Node) bool {
	pid := l.PID(n)
	if pid == 0 {
		return false
	}
	b, err := os.ReadFile(l.linkDownFile(n))
	if err != nil {
		return true
	}
	downIn, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err != nil || downIn != pid
}

// faultTarget takes the lab's lock and finds node name's running qemu; a
// node that is off is an error that says so. The caller releases the lock.
func (l *Lab) faultTarget(ctx context.Context, name, verb string) (Node, int, func(), error) {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return Node{}, 0, nil, err
	}
	n, err := st.Node(name)
	if err != nil {
		unlock()
		return Node{}, 0, nil, err
	}
	pid := l.PID(n)
	if pid == 0 {
		unlock()
		return Node{}, 0, nil, fmt.Errorf("cannot %s %s: it is off (its VM does not run)", verb, n.Name)
	}
	return n, pid, unlock, nil
}

// waitFor polls cond until it holds, for at most faultSettle.
func waitFor(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, faultSettle)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
