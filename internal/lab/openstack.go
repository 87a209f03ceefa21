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
// on first attach, as large as the Cinder volume), a detach unplugs it. It
// writes the clouds.yaml once it listens, and runs until ctx ends.
func (l *Lab) ServeOpenStack(ctx context.Context) error {
	st, err := l.requireState()
	if err != nil {
		return err
	}
	var cloud *fakeopenstack.Cloud
	cloud, err = fakeopenstack.New(fakeopenstack.Config{
		Servers:       CloudServers(st),
		AttachLatency: 100 * time.Millisecond,
		DetachLatency: 100 * time.Millisecond,
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
	// Nodes added later become servers too.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	known := map[string]bool{}
	for _, n := range st.Nodes {
		known[n.Name] = true
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := l.State()
		if err != nil || st == nil {
			continue
		}
		for _, s := range CloudServers(st) {
			if !known[s.Name] {
				if _, err := cloud.AddServer(s); err == nil {
					known[s.Name] = true
					l.logf("server %s added", s.Name)
				}
			}
		}
	}
}

// StartOpenStack runs ServeOpenStack in the background (a process of the
// lab, stopped by `down`) unless it runs already, and returns the path of
// the clouds.yaml once the cloud answers.
func (l *Lab) StartOpenStack(ctx context.Context) (string, error) {
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
	cmd := exec.Command(l.Executable, "openstack", "--serve", "--lab", l.marker())
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
	if err := c.parse(args); err != nil {
		return err
	}
	l := c.lab()
	if *serve {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		return l.ServeOpenStack(ctx)
	}
	path, err := l.StartOpenStack(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "lab: OpenStack of the lab in %s: use OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s\n", filepath.Base(l.Dir), path, CloudName)
	fmt.Println(path)
	return nil
}
