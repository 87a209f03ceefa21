package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

// CloudName is the lab's entry in its clouds.yaml.
const CloudName = "lab"

// CloudNetwork is the network name of the nodes' cluster addresses in Nova.
const CloudNetwork = "private"

func (l *Lab) cloudsYAML() string   { return l.path("clouds.yaml") }
func (l *Lab) openstackPID() string { return l.path("openstack.pid") }
func (l *Lab) openstackLog() string { return l.path("openstack.log") }

// CloudServers are the lab's nodes as Nova servers: same names, and their
// cluster addresses on network "private".
func CloudServers(st *State) []fakeopenstack.Server {
	var servers []fakeopenstack.Server
	for _, n := range st.Nodes {
		servers = append(servers, fakeopenstack.Server{
			Name:      n.Name,
			Addresses: map[string][]string{CloudNetwork: {ClusterAddress(n.Index)}},
		})
	}
	return servers
}

// ServeOpenStack serves the fake Keystone/Nova/Cinder on 127.0.0.1 with the
// lab's VMs as servers: an attach hot-plugs the volume into the VM (made
// on first attach, as large as the Cinder volume), a detach unplugs it,
// and Nova's power actions act on the VMs (PowerOptions.Power). Every two
// seconds nodes added since become servers (once their VM runs), and
// Nova's power-state sync stops the server of a VM that died by itself
// (SHUTOFF), or one running while Nova has it stopped. It writes the
// clouds.yaml once it listens, and runs until ctx ends.
func (l *Lab) ServeOpenStack(ctx context.Context, o PowerOptions) error {
	st, err := l.requireState()
	if err != nil {
		return err
	}
	// The VMs this process powers on are its children, reaped when they
	// end.
	if err := becomeSubreaper(); err != nil {
		l.logf("cannot adopt the VMs it starts (%v): a VM that ends stays a zombie until its parent reaps it", err)
	}
	var cloud *fakeopenstack.Cloud
	servers := CloudServers(st)
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
			sizeMiB := DefaultVolumeMiB
			if v, ok := cloud.Volume(a.VolumeID); ok && v.Size > 0 {
				sizeMiB = v.Size * 1024
			}
			return l.Attach(ctx, a.VolumeID, sizeMiB, []string{a.ServerName})
		},
		Detach: func(ctx context.Context, a fakeopenstack.Attachment) error {
			return l.Detach(ctx, a.VolumeID, []string{a.ServerName})
		},
		Power: func(ctx context.Context, p fakeopenstack.PowerRequest) error {
			return l.power(ctx, o, p)
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
	if err := cloud.WriteCloudsYAML(l.cloudsYAML(), CloudName, ""); err != nil {
		return err
	}
	l.logf("OpenStack (Keystone, Nova, Cinder) on %s; clouds.yaml %s", cloud.URL(), l.cloudsYAML())
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
		reapChildren()
		st, err := l.State()
		if err != nil || st == nil {
			continue
		}
		for i, s := range CloudServers(st) {
			n := st.Nodes[i]
			id, known := ids[s.Name]
			switch {
			case !known && l.Running(n):
				// Nova lists a server once it is built: a node whose VM
				// does not run yet would be stopped by the sync below.
				if added, err := cloud.AddServer(s); err == nil {
					ids[s.Name] = added.ID
					l.logf("server %s added", s.Name)
				}
			case known:
				if cloud.SyncPowerState(id, func() bool { return l.Running(n) }) {
					l.logf("power-state sync: %s's VM does not match Nova's state: Nova stops the server", s.Name)
				}
			}
		}
	}
}

// StartOpenStack runs ServeOpenStack in the background (a process of the
// lab, stopped by `down`) unless it runs already, and returns the path of
// the clouds.yaml once the cloud answers.
func (l *Lab) StartOpenStack(ctx context.Context, o PowerOptions) (string, error) {
	if _, err := l.requireState(); err != nil {
		return "", err
	}
	if ownedAlive(readPID(l.openstackPID()), l.marker()) {
		return l.cloudsYAML(), nil
	}
	os.Remove(l.cloudsYAML())
	logf, err := os.Create(l.openstackLog())
	if err != nil {
		return "", fmt.Errorf("create %s: %w", l.openstackLog(), err)
	}
	defer logf.Close()
	// The lab directory with its slash: the marker `down` looks for.
	cmd := exec.Command(l.Executable, append([]string{"openstack", "--serve", "--lab", l.marker()}, o.flags()...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the lab's OpenStack: %w", err)
	}
	if err := os.WriteFile(l.openstackPID(), []byte(fmt.Sprintln(cmd.Process.Pid)), 0o644); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(l.cloudsYAML()); err == nil {
			return l.cloudsYAML(), nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(l.openstackLog())
			return "", fmt.Errorf("the lab's OpenStack exited (%v):\n%s", err, tail(string(b), 20))
		case <-deadline:
			return "", errors.New("the lab's OpenStack did not write its clouds.yaml within 30 s")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func cmdOpenStack(ctx context.Context, name string, args []string) error {
	c := newFlags(name)
	serve := c.fs.Bool("serve", false, "serve in the foreground (what the background process runs)")
	var o PowerOptions
	c.fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout,
		"os-stop: how long the guest has to power off after the ACPI power button, before it is forced off (Nova's shutdown_timeout)")
	c.fs.DurationVar(&o.ShutdownRetryInterval, "shutdown-retry-interval", DefaultShutdownRetryInterval,
		"os-stop: press the power button again this often (Nova's shutdown_retry_interval)")
	c.fs.DurationVar(&o.SoftRebootTimeout, "soft-reboot-timeout", DefaultSoftRebootTimeout,
		"a SOFT reboot becomes HARD if the guest has not powered off by then (Nova's wait_soft_reboot_seconds)")
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	if *serve {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		return l.ServeOpenStack(ctx, o)
	}
	path, err := l.StartOpenStack(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: OpenStack of the lab in %s: use OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s\n", filepath.Base(l.Dir), path, CloudName)
	fmt.Println(path)
	return nil
}

// flags are the openstack command's flags that give o to the background
// process.
func (o PowerOptions) flags() []string {
	o = o.withDefaults()
	return []string{
		"--shutdown-timeout", o.ShutdownTimeout.String(),
		"--shutdown-retry-interval", o.ShutdownRetryInterval.String(),
		"--soft-reboot-timeout", o.SoftRebootTimeout.String(),
	}
}
