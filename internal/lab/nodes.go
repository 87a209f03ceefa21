package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// AddNode boots count new nodes, waits for their SSH, and hot-plugs into
// them every volume that all the other nodes share: a node joins the
// cluster's disk as it would in a cloud. It returns the new nodes' names.
func (l *Lab) AddNode(ctx context.Context, count int, sshTimeout time.Duration) ([]string, error) {
	if count < 1 {
		return nil, fmt.Errorf("--count must be at least 1")
	}
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if len(st.Nodes)+count > MaxNodes {
		return nil, fmt.Errorf("a lab has at most %d nodes", MaxNodes)
	}
	var shared []Volume
	for _, v := range st.Volumes {
		all := len(v.Attached) > 0
		for _, n := range st.Nodes {
			all = all && contains(v.Attached, n.Name)
		}
		if all {
			shared = append(shared, v)
		}
	}
	next := 1
	for _, n := range st.Nodes {
		if n.Index >= next {
			next = n.Index + 1
		}
	}
	var added []Node
	for i := 0; i < count; i++ {
		added = append(added, Node{Index: next + i, Name: NodeName(next + i)})
	}
	if err := l.checkPorts(st, added); err != nil {
		return nil, err
	}
	st.Nodes = append(st.Nodes, added...)
	if err := saveState(l.statePath(), st); err != nil {
		return nil, err
	}
	t0 := time.Now()
	for _, n := range added {
		if err := l.startNode(ctx, st, n); err != nil {
			return nil, err
		}
	}
	if err := l.WaitSSH(ctx, st, added, sshTimeout); err != nil {
		return nil, err
	}
	names := make([]string, len(added))
	for i, n := range added {
		names[i] = n.Name
	}
	l.logf("%s up in %.0f s", strings.Join(names, ", "), time.Since(t0).Seconds())
	for _, v := range shared {
		if err := l.attach(ctx, st, v.ID, v.SizeMiB, added); err != nil {
			return nil, err
		}
	}
	return names, l.WriteInventory(st)
}

// RebootOptions say how `reboot` restarts a node.
type RebootOptions struct {
	Hard            bool          // reset the VM instead of asking the guest
	ShutdownTimeout time.Duration // then reset it anyway
	SSHTimeout      time.Duration
}

// Reboot restarts node and returns once it answers SSH with a new boot id.
// A clean reboot (systemctl reboot) that hangs past the shutdown timeout,
// e.g. on a cluster file system that cannot unmount, becomes a reset. A
// node that is not running (killed) is powered on.
func (l *Lab) Reboot(ctx context.Context, name string, o RebootOptions) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := st.Node(name)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if !l.Running(n) {
		l.logf("%s is not running: starting it", n.Name)
		if err := l.startNode(ctx, st, n); err != nil {
			return err
		}
		if err := l.WaitSSH(ctx, st, []Node{n}, o.SSHTimeout); err != nil {
			return err
		}
		l.logf("%s up in %.0f s", n.Name, time.Since(t0).Seconds())
		return nil
	}
	before, err := l.bootID(ctx, st, n)
	if err != nil {
		return fmt.Errorf("%s is running but does not answer SSH (%w): use --hard", n.Name, err)
	}
	if o.Hard {
		if err := l.reset(ctx, n); err != nil {
			return err
		}
	} else {
		// The connection drops as the guest goes down: no answer expected.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		l.RunOn(cctx, st, n, "systemctl reboot")
		cancel()
	}
	resetAt := time.Now().Add(o.ShutdownTimeout)
	deadline := time.Now().Add(o.ShutdownTimeout + o.SSHTimeout)
	reset := o.Hard
	for {
		if !l.Running(n) {
			return fmt.Errorf("%s's VM exited during the reboot; console:\n%s", n.Name, vm.ConsoleTail(l.ConsoleLog(n), 25))
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		id, err := l.bootID(cctx, st, n)
		cancel()
		if err == nil && id != before {
			l.logf("%s rebooted in %.0f s", n.Name, time.Since(t0).Seconds())
			return nil
		}
		if !reset && time.Now().After(resetAt) {
			l.logf("%s did not shut down within %.0f s: resetting it", n.Name, o.ShutdownTimeout.Seconds())
			if err := l.reset(ctx, n); err != nil {
				return err
			}
			reset = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come back within %.0f s; console:\n%s", n.Name, time.Since(t0).Seconds(), vm.ConsoleTail(l.ConsoleLog(n), 25))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (l *Lab) bootID(ctx context.Context, st *State, n Node) (string, error) {
	out, err := l.RunOn(ctx, st, n, "cat /proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(out)), err
}

// reset is the VM's reset button: hot-plugged devices stay.
func (l *Lab) reset(ctx context.Context, n Node) error {
	q, err := qmp.Dial(ctx, l.qmpSocket(n))
	if err != nil {
		return err
	}
	defer q.Close()
	if _, err := q.Execute(ctx, "system_reset", nil); err != nil {
		return fmt.Errorf("reset %s: %w", n.Name, err)
	}
	return nil
}

// NodeStatus is one line of `status`.
type NodeStatus struct {
	Name    string `json:"name"`
	Running bool   `json:"running"` // its qemu is alive (frozen or not)
	Power   string `json:"power"`   // running, frozen (SIGSTOP) or off
	PID     int    `json:"pid"`     // its qemu's, 0 when off
	// ClusterLink is up or down: down when the lab set it down, or the VM
	// is off.
	ClusterLink    string   `json:"cluster_link"`
	ServerID       string   `json:"server_id"` // in the lab's Nova (ServerID)
	SSHPort        int      `json:"ssh_port"`
	ClusterAddress string   `json:"cluster_address"`
	RSSMiB         int      `json:"rss_mib,omitempty"`
	Volumes        []string `json:"volumes"`
}

// Status describes each node.
func (l *Lab) Status(st *State) []NodeStatus {
	var out []NodeStatus
	for _, n := range st.Nodes {
		s := NodeStatus{Name: n.Name, Power: "off", ClusterLink: "down", ServerID: l.ServerID(n),
			SSHPort: st.SSHPort(n), ClusterAddress: ClusterAddress(n.Index), Volumes: []string{}}
		if pid := l.PID(n); pid != 0 {
			s.Running, s.PID, s.RSSMiB, s.Power = true, pid, proc.RSSKiB(pid)/1024, "running"
			if proc.Frozen(pid) {
				s.Power = "frozen"
			}
			if l.ClusterLinkUp(n) {
				s.ClusterLink = "up"
			}
		}
		for _, v := range st.VolumesOf(n.Name) {
			s.Volumes = append(s.Volumes, v.ID)
		}
		out = append(out, s)
	}
	return out
}
