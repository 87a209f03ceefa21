// Package cloud is the lab's OpenStack: the in-process Keystone, Nova and
// Cinder of internal/fakeopenstack, served on 127.0.0.1, whose servers are
// the lab's nodes (under IDs the inventory knows, lab.ServerID). A volume
// attachment hot-plugs the volume into the VM, and Nova's power actions
// (reboot, os-stop, os-start) act on the VMs as Nova's libvirt driver
// does. The nodes reach it too, at GuestURL, through a Relay per
// connection.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/atomicfile"
	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
)

// Name is the lab's entry in its clouds.yaml, for the controller (this
// machine); GuestName is the nodes'.
const Name = "lab"

// Network is the network name of the nodes' cluster addresses in Nova.
const Network = "private"

// CloudsYAML is the clouds.yaml of l's OpenStack.
func CloudsYAML(l *lab.Lab) string { return filepath.Join(l.Dir, "clouds.yaml") }
func pidFile(l *lab.Lab) string    { return filepath.Join(l.Dir, "openstack.pid") }
func logFile(l *lab.Lab) string    { return filepath.Join(l.Dir, "openstack.log") }

// Servers are the nodes of the lab in dir as Nova servers: same names,
// IDs from lab.ServerID, and their cluster addresses on network "private".
func Servers(st *lab.State, dir string) []fakeopenstack.Server {
	var servers []fakeopenstack.Server
	for _, n := range st.Nodes {
		servers = append(servers, fakeopenstack.Server{
			ID:        lab.ServerID(dir, n.Name),
			Name:      n.Name,
			Addresses: map[string][]string{Network: {lab.ClusterAddress(n.Index)}},
		})
	}
	return servers
}

// cloudsYAML is the clouds.yaml of the cloud served on port: entry Name
// at 127.0.0.1 for the controller, entry GuestName at GuestURL for the
// nodes, with the same credentials.
func cloudsYAML(c *fakeopenstack.Cloud, port int) ([]byte, error) {
	clouds := map[string]any{}
	for name, base := range map[string]string{Name: fmt.Sprintf("http://127.0.0.1:%d", port), GuestName: GuestURL(port)} {
		b, err := c.CloudsYAML(name, base)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Clouds map[string]any `yaml:"clouds"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil || doc.Clouds[name] == nil {
			return nil, fmt.Errorf("clouds.yaml entry %s: %v", name, err)
		}
		clouds[name] = doc.Clouds[name]
	}
	b, err := yaml.Marshal(map[string]any{"clouds": clouds})
	if err != nil {
		return nil, fmt.Errorf("encode clouds.yaml: %w", err)
	}
	return b, nil
}

// Serve serves the fake Keystone/Nova/Cinder on 127.0.0.1 with the
// lab's VMs as servers: an attach hot-plugs the volume into the VM (made
// on first attach, as large as the Cinder volume), a detach unplugs it,
// and Nova's power actions act on the VMs (PowerOptions.Power). Every two
// seconds nodes added since become servers (once their VM runs), and
// Nova's power-state sync stops the server of a VM that died by itself
// (SHUTOFF), or one running while Nova has it stopped. It writes the
// clouds.yaml once it listens, and runs until ctx ends.
func Serve(ctx context.Context, l *lab.Lab, o PowerOptions) error {
	st, err := l.RequireState()
	if err != nil {
		return err
	}
	// The VMs this process powers on are its children, reaped when they
	// end.
	if err := proc.BecomeSubreaper(); err != nil {
		logf(l, "cannot adopt the VMs it starts (%v): a VM that ends stays a zombie until its parent reaps it", err)
	}
	var cloud *fakeopenstack.Cloud
	servers := Servers(st, l.Dir)
	for i, n := range st.Nodes {
		if !l.Running(n) {
			servers[i].Status = "SHUTOFF"
		}
	}
	cloud, err = fakeopenstack.New(fakeopenstack.Config{
		Servers:       servers,
		AttachLatency: 100 * time.Millisecond,
		DetachLatency: 100 * time.Millisecond,
		PowerLatency:  200 * time.Millisecond,
		Attach: func(ctx context.Context, a fakeopenstack.Attachment) error {
			sizeMiB := lab.DefaultVolumeMiB
			if v, ok := cloud.Volume(a.VolumeID); ok && v.Size > 0 {
				sizeMiB = v.Size * 1024
			}
			return l.Attach(ctx, a.VolumeID, sizeMiB, []string{a.ServerName})
		},
		Detach: func(ctx context.Context, a fakeopenstack.Attachment) error {
			return l.Detach(ctx, a.VolumeID, []string{a.ServerName})
		},
		Power: func(ctx context.Context, p fakeopenstack.PowerRequest) error {
			return power(ctx, l, o, p)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", st.OpenStackPort()))
	if err != nil {
		return fmt.Errorf("serve the lab's OpenStack: %w", err)
	}
	cloud.Start(ln)
	defer cloud.Close()
	clouds, err := cloudsYAML(cloud, st.OpenStackPort())
	if err != nil {
		return err
	}
	// It holds the password: 0600.
	if err := atomicfile.Write(CloudsYAML(l), clouds, 0o600); err != nil {
		return err
	}
	logf(l, "OpenStack (Keystone, Nova, Cinder) on %s, for the nodes on %s; clouds.yaml %s (entries %s, %s)",
		cloud.URL(), GuestURL(st.OpenStackPort()), CloudsYAML(l), Name, GuestName)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	ids := map[string]string{} // node name → server ID
	for _, s := range cloud.Servers() {
		ids[s.Name] = s.ID
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		proc.Reap()
		st, err := l.State()
		if err != nil || st == nil {
			continue
		}
		for i, s := range Servers(st, l.Dir) {
			n := st.Nodes[i]
			id, known := ids[s.Name]
			switch {
			case !known && l.Running(n):
				// Nova lists a server once it is built: a node whose VM
				// does not run yet would be stopped by the sync below.
				if added, err := cloud.AddServer(s); err == nil {
					ids[s.Name] = added.ID
					logf(l, "server %s added", s.Name)
				}
			case known:
				if cloud.SyncPowerState(id, func() bool { return l.Running(n) }) {
					logf(l, "power-state sync: %s's VM does not match Nova's state: Nova stops the server", s.Name)
				}
			}
		}
	}
}

// Start runs Serve in the background (a process of the
// lab, stopped by `down`) unless it runs already, and returns the path of
// the clouds.yaml once the cloud answers.
func Start(ctx context.Context, l *lab.Lab, o PowerOptions) (string, error) {
	if _, err := l.RequireState(); err != nil {
		return "", err
	}
	if proc.Alive(proc.ReadPID(pidFile(l)), l.Marker()) {
		return CloudsYAML(l), nil
	}
	os.Remove(CloudsYAML(l))
	log, err := os.Create(logFile(l))
	if err != nil {
		return "", fmt.Errorf("create %s: %w", logFile(l), err)
	}
	defer log.Close()
	// The lab directory with its slash: the marker `down` looks for.
	cmd := exec.Command(l.Executable, append([]string{"openstack", "--serve", "--lab", l.Marker()}, o.Flags()...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the lab's OpenStack: %w", err)
	}
	if err := os.WriteFile(pidFile(l), []byte(fmt.Sprintln(cmd.Process.Pid)), 0o644); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(CloudsYAML(l)); err == nil {
			return CloudsYAML(l), nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile(l))
			return "", fmt.Errorf("the lab's OpenStack exited (%v):\n%s", err, tail(string(b), 20))
		case <-deadline:
			return "", errors.New("the lab's OpenStack did not write its clouds.yaml within 30 s")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Flags are the command-line flags of `lab openstack` that give o to the
// background process.
func (o PowerOptions) Flags() []string {
	o = o.withDefaults()
	return []string{
		"--shutdown-timeout", o.ShutdownTimeout.String(),
		"--shutdown-retry-interval", o.ShutdownRetryInterval.String(),
		"--soft-reboot-timeout", o.SoftRebootTimeout.String(),
	}
}

func logf(l *lab.Lab, format string, args ...any) {
	if l.Out != nil {
		fmt.Fprintf(l.Out, "lab: "+format+"\n", args...)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
