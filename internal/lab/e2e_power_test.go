package lab_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/cloud"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// TestE2EPower boots two real VMs, serves the lab's OpenStack, attaches one
// multiattach volume to both through Nova, and powers the VMs through
// Nova's API as a fence agent and an operator would: a HARD reboot (by
// fence_nova) of a node whose qemu is frozen, os-stop and os-start of the
// other, and Nova's power-state sync after a node is killed. The volume is
// there again after every boot. On the way it checks what the roles'
// fencing tests need: the servers' IDs are the inventory's; a node
// reaches the lab's OpenStack at 10.0.2.100 (entry lab-guest) and gets a
// catalog it can reach; fence_nova, installed in node1 as the gfs2 role
// installs it, answers status for node2's server and fences it as
// dlm_controld runs it; bin/lab freeze and thaw (status, SSH), link down
// and up (a ping on the cluster link fails, SSH and the disk work), and a
// fenced node's new qemu with its link up.
func TestE2EPower(t *testing.T) {
	if os.Getenv("LAB_E2E") == "" {
		t.Skip("end-to-end test on real VMs: run it with LAB_E2E=1 (make lab-e2e)")
	}
	checkout, _ := filepath.Abs("../..")
	exe := filepath.Join(checkout, "bin", "lab")
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("%s is missing (make tools builds it): %v", exe, err)
	}
	cache := os.Getenv("LAB_CACHE")
	if cache == "" {
		cache = filepath.Join(checkout, ".cache", "lab")
	}
	dir, err := os.MkdirTemp("/var/tmp", "lab-power-")
	if err != nil {
		t.Fatal(err)
	}
	l := &lab.Lab{Dir: dir, CacheDir: cache, Executable: exe, Out: os.Stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	// The VMs become this process's children, as those the lab's OpenStack
	// starts become its own: a destroyed VM must be reaped, not left a
	// zombie.
	if err := proc.BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}

	var figures []string
	t0 := time.Now()
	figure := func(name string, d time.Duration) {
		figures = append(figures, fmt.Sprintf("%-40s %6.1f s", name, d.Seconds()))
	}
	phase := func(name string, f func() error) {
		t.Helper()
		p0 := time.Now()
		err := f()
		figure(name, time.Since(p0))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	defer func() {
		figure("total", time.Since(t0))
		t.Logf("lab power e2e figures:\n%s", strings.Join(figures, "\n"))
	}()
	serving, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	t.Cleanup(func() {
		stopServing()
		l.Down(context.Background())
		os.RemoveAll(dir)
	})

	recipe := image.NewRecipe(image.Platforms[image.DefaultPlatform], mirror())
	phase("up: 2 nodes to SSH", func() error {
		return l.Up(ctx, lab.UpOptions{Nodes: 2, MemoryMiB: 1280, Accel: "auto", Recipe: recipe, SSHTimeout: 10 * time.Minute})
	})
	st, err := l.State()
	if err != nil || st == nil {
		t.Fatalf("state after up: %v", err)
	}
	n1, n2 := st.Nodes[0], st.Nodes[1]

	power := cloud.PowerOptions{ShutdownTimeout: 45 * time.Second, SoftRebootTimeout: 45 * time.Second}
	go func() { served <- cloud.Serve(serving, l, power) }()
	clouds := cloud.CloudsYAML(l)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(clouds); err == nil {
			break
		}
		select {
		case err := <-served:
			t.Fatalf("the lab's OpenStack ended: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no clouds.yaml after 30 s")
		}
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: fakeopenstack.AuthURL(fmt.Sprintf("http://127.0.0.1:%d", st.OpenStackPort())),
		Username:         "admin", Password: "secret", DomainName: "Default", TenantName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	compute, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	compute.Microversion = "2.60" // multiattach
	blockStorage, err := openstack.NewBlockStorageV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := servers.List(compute, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, s := range all {
		ids[s.Name] = s.ID
	}
	// The inventory knows the servers' IDs without asking the cloud.
	inventory, err := labCLI(ctx, exe, l, "inventory", "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if ids[n.Name] != l.ServerID(n) || !strings.Contains(inventory, `"cluster_server_id": "`+l.ServerID(n)+`"`) {
			t.Errorf("%s: Nova's server ID %s, the lab's %s; inventory:\n%s", n.Name, ids[n.Name], l.ServerID(n), inventory)
		}
	}
	status := func(n lab.Node) string {
		s, err := servers.Get(ctx, compute, ids[n.Name]).Extract()
		if err != nil {
			return "error: " + err.Error()
		}
		return s.Status
	}
	waitStatus := func(n lab.Node, want string, timeout time.Duration) error {
		var got string
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got = status(n); got == want {
				return nil
			}
		}
		return fmt.Errorf("%s is %s after %.0f s, want %s", n.Name, got, timeout.Seconds(), want)
	}
	// lastAction is the server's newest instance action and its events'
	// results.
	lastAction := func(n lab.Node) string {
		pages, err := instanceactions.List(compute, ids[n.Name], nil).AllPages(ctx)
		if err != nil {
			return err.Error()
		}
		list, err := instanceactions.ExtractInstanceActions(pages)
		if err != nil || len(list) == 0 {
			return fmt.Sprintf("no instance actions (%v)", err)
		}
		newest := list[0]
		for _, a := range list {
			if a.StartTime.After(newest.StartTime) {
				newest = a
			}
		}
		d, err := instanceactions.Get(ctx, compute, ids[n.Name], newest.RequestID).Extract()
		if err != nil {
			return err.Error()
		}
		s := d.Action
		if d.Events != nil {
			for _, e := range *d.Events {
				s += " " + e.Event + "=" + e.Result
			}
		}
		return s
	}

	var volumeID string
	phase("volume: create, attach to both", func() error {
		v, err := volumes.Create(ctx, blockStorage, volumes.CreateOpts{Name: "shared", Size: 1, VolumeType: "multiattach"}, nil).Extract()
		if err != nil {
			return err
		}
		volumeID = v.ID
		for deadline := time.Now().Add(30 * time.Second); v.Status != "available"; time.Sleep(100 * time.Millisecond) {
			if v, err = volumes.Get(ctx, blockStorage, volumeID).Extract(); err != nil || time.Now().After(deadline) {
				return fmt.Errorf("volume %s: %v %v", volumeID, v.Status, err)
			}
		}
		for _, n := range []lab.Node{n1, n2} {
			if _, err := volumeattach.Create(ctx, compute, ids[n.Name], volumeattach.CreateOpts{VolumeID: volumeID}).Extract(); err != nil {
				return err
			}
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
				v, err := volumes.Get(ctx, blockStorage, volumeID).Extract()
				if err == nil && v.Status == "in-use" && len(v.Attachments) > 0 && attachedTo(v, ids[n.Name]) {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("volume %s not attached to %s: %v (%s)", volumeID, n.Name, err, lastAction(n))
				}
			}
		}
		return nil
	})
	byID := volume.ByIDPath(volumeID)
	data := make([]byte, 64<<10)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	readBack := func(n lab.Node) error {
		st, _ := l.State()
		out, err := l.RunOn(ctx, st, n, "dd if="+byID+" bs=64k count=1 skip=5 iflag=direct status=none | sha256sum")
		if err != nil {
			return err
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != want {
			return fmt.Errorf("%s read %q from %s, want %s", n.Name, out, byID, want)
		}
		return nil
	}
	phase("write node1, read node2", func() error {
		if _, err := l.RunOnWithInput(ctx, st, n1, "dd of="+byID+" bs=64k count=1 seek=5 oflag=direct iflag=fullblock status=none", string(data)); err != nil {
			return err
		}
		return readBack(n2)
	})

	// The nodes reach the lab's OpenStack, and fence_nova answers there.
	guestBase := cloud.GuestURL(st.OpenStackPort())
	entry, err := guestCloud(clouds)
	if err != nil {
		t.Fatal(err)
	}
	phase("node1: Keystone at "+guestBase, func() error {
		computeURL, err := guestKeystone(ctx, l, st, n1, entry, guestBase)
		t.Logf("node1's catalog: compute %s", computeURL)
		return err
	})
	phase("node1: build, install fence_nova", func() error { return installFenceAgent(ctx, l, st, n1, checkout, entry) })
	phase("node1: fence_nova status of node2", func() error {
		out, err := fenceStatus(ctx, l, st, n1, ids[n2.Name])
		t.Logf("fence_nova --action=status on node1:\n%s", out)
		if err == nil && !strings.Contains(out, "Status: ON") {
			err = fmt.Errorf("no Status: ON")
		}
		return err
	})

	// bin/lab's faults, as Ansible tasks on the controller run them.
	key := image.Image{Dir: st.Image}.Key()
	pid2 := l.PID(n2)
	phase("freeze node2: frozen, no SSH", func() error {
		for i := 0; i < 2; i++ { // idempotent
			if _, err := labCLI(ctx, exe, l, "freeze", n2.Name); err != nil {
				return err
			}
		}
		if !proc.Frozen(pid2) {
			return fmt.Errorf("qemu %d: state %c", pid2, proc.State(pid2))
		}
		if vm.SSHReady(ctx, key, st.SSHPort(n2)) {
			return fmt.Errorf("the frozen node2 answers SSH")
		}
		return wantStatus(ctx, exe, l, n2, "frozen", "up")
	})
	phase("thaw node2: running, SSH", func() error {
		if _, err := labCLI(ctx, exe, l, "thaw", n2.Name); err != nil {
			return err
		}
		if err := wantStatus(ctx, exe, l, n2, "running", "up"); err != nil {
			return err
		}
		if err := l.WaitSSH(ctx, st, []lab.Node{n2}, 2*time.Minute); err != nil {
			return err
		}
		if pid := l.PID(n2); pid != pid2 {
			return fmt.Errorf("node2's qemu is %d after the thaw, was %d", pid, pid2)
		}
		return nil
	})
	ping := "ping -c 2 -W 2 " + lab.ClusterAddress(n2.Index)
	phase("link node2 down: no ping, SSH and disk work", func() error {
		if _, err := l.RunOn(ctx, st, n1, ping); err != nil {
			return fmt.Errorf("before the cut: %w", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := labCLI(ctx, exe, l, "link", n2.Name, "down"); err != nil {
				return err
			}
		}
		if err := wantStatus(ctx, exe, l, n2, "running", "down"); err != nil {
			return err
		}
		if out, err := l.RunOn(ctx, st, n1, ping); err == nil {
			return fmt.Errorf("node1 pings node2 with node2's cluster link down:\n%s", out)
		}
		out, err := l.RunOn(ctx, st, n2, "cat /sys/class/net/*/carrier | tr '\\n' ' '; ip -4 -o addr show | grep -c 192.168.100. || true")
		t.Logf("node2 with its cluster link down: carriers, cluster addresses: %s", strings.TrimSpace(string(out)))
		if err != nil {
			return err
		}
		return readBack(n2)
	})
	phase("link node2 up: ping", func() error {
		if _, err := labCLI(ctx, exe, l, "link", n2.Name, "up"); err != nil {
			return err
		}
		if err := wantStatus(ctx, exe, l, n2, "running", "up"); err != nil {
			return err
		}
		return pingUntil(ctx, l, st, n1, ping, time.Minute)
	})

	// HARD reboot of a frozen node cut off the cluster, by the fence agent
	// on node1 as dlm_controld runs it.
	oldPID := l.PID(n2)
	for _, args := range [][]string{{"link", n2.Name, "down"}, {"freeze", n2.Name}} {
		if _, err := labCLI(ctx, exe, l, args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	if !proc.Frozen(oldPID) {
		t.Fatalf("qemu %d not frozen: state %c", oldPID, proc.State(oldPID))
	}
	if s := l.Status(st)[1]; s.Power != "frozen" || s.PID != oldPID || s.ClusterLink != "down" {
		t.Errorf("status of the frozen node2: %+v", s)
	}
	newPID := make(chan time.Time, 1)
	t1 := time.Now()
	go func() {
		for ctx.Err() == nil {
			if pid := l.PID(n2); pid != 0 && pid != oldPID {
				newPID <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	phase("node1: fence_nova reboot of frozen node2", func() error {
		out, err := fenceAsDLM(ctx, l, st, n1, n2.Index, ids[n2.Name])
		t.Logf("fence_nova on node1, as dlm_controld runs it:\n%s", out)
		return err
	})
	select {
	case at := <-newPID:
		figure("hard reboot of frozen node2: new qemu", at.Sub(t1))
	case <-time.After(10 * time.Second):
		t.Fatal("node2 has no new qemu after the hard reboot")
	}
	if proc.Alive(oldPID, l.Marker()) || proc.State(oldPID) != 0 {
		t.Errorf("the frozen qemu %d is still there (state %c) after the hard reboot", oldPID, proc.State(oldPID))
	}
	if s := status(n2); s != "ACTIVE" {
		t.Errorf("node2 after the hard reboot: %s", s)
	}
	if a := lastAction(n2); a != "reboot compute_reboot_instance=Success" {
		t.Errorf("node2's instance action: %s", a)
	}
	phase("node2 back to SSH", func() error { return l.WaitSSH(ctx, st, []lab.Node{n2}, 10*time.Minute) })
	figure("hard reboot of frozen node2: SSH", time.Since(t1))
	phase("volume back on node2", func() error { return readBack(n2) })
	phase("node2's new qemu: link up, ping", func() error {
		if err := wantStatus(ctx, exe, l, n2, "running", "up"); err != nil {
			return err
		}
		return pingUntil(ctx, l, st, n1, ping, time.Minute)
	})
	phase("a relay: adopted, named, reaped", func() error { return checkRelayProcess(ctx, l, st, n1) })

	// os-stop, then os-start.
	pid1 := l.PID(n1)
	phase("os-stop node1 (clean)", func() error {
		if err := servers.Stop(ctx, compute, ids[n1.Name]).ExtractErr(); err != nil {
			return err
		}
		return waitStatus(n1, "SHUTOFF", 2*time.Minute)
	})
	if l.Running(n1) || proc.State(pid1) != 0 {
		t.Errorf("node1's qemu %d after os-stop: running %v, state %c", pid1, l.Running(n1), proc.State(pid1))
	}
	if s := l.Status(st)[0]; s.Power != "off" {
		t.Errorf("status of the stopped node1: %+v", s)
	}
	if a := lastAction(n1); a != "stop compute_stop_instance=Success" {
		t.Errorf("node1's instance action after os-stop: %s", a)
	}
	if console := vm.ConsoleTail(l.ConsoleLog(n1), 40); !strings.Contains(console, "reboot: Power down") {
		t.Errorf("node1 was not powered off by its guest; console:\n%s", console)
	}
	time.Sleep(3 * time.Second) // a tick of the power-state sync: it must leave a stopped VM alone
	if s := status(n1); s != "SHUTOFF" || l.Running(n1) {
		t.Errorf("node1 after os-stop and a sync: %s, running %v", s, l.Running(n1))
	}
	phase("os-start node1 to ACTIVE", func() error {
		if err := servers.Start(ctx, compute, ids[n1.Name]).ExtractErr(); err != nil {
			return err
		}
		return waitStatus(n1, "ACTIVE", 2*time.Minute)
	})
	if !l.Running(n1) {
		t.Error("node1 ACTIVE, its VM not running")
	}
	if a := lastAction(n1); a != "start compute_start_instance=Success" {
		t.Errorf("node1's instance action after os-start: %s", a)
	}
	phase("node1 back to SSH", func() error { return l.WaitSSH(ctx, st, []lab.Node{n1}, 10*time.Minute) })
	phase("volume back on node1", func() error { return readBack(n1) })

	// A VM that dies by itself: Nova's power-state sync stops its server.
	phase("kill node2: SHUTOFF by the sync", func() error {
		if err := l.Kill(ctx, n2.Name); err != nil {
			return err
		}
		return waitStatus(n2, "SHUTOFF", 30*time.Second)
	})
	if a := lastAction(n2); a != "stop compute_stop_instance=Success" {
		t.Errorf("node2's instance action after the sync: %s", a)
	}

	stopServing()
	if err := <-served; err != nil {
		t.Errorf("the lab's OpenStack: %v", err)
	}
	phase("down", func() error { return l.Down(ctx) })
	if left := proc.With(l.Marker()); len(left) > 0 {
		t.Errorf("processes left after down: %v", left)
	}
}

func attachedTo(v *volumes.Volume, serverID string) bool {
	for _, a := range v.Attachments {
		if a.ServerID == serverID {
			return true
		}
	}
	return false
}

// pingUntil runs ping on n until it succeeds, for at most d: a link that
// comes back needs the guest to configure it again.
func pingUntil(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node, ping string, d time.Duration) error {
	t0 := time.Now()
	for {
		out, err := l.RunOn(ctx, st, n, ping)
		if err == nil {
			return nil
		}
		if time.Since(t0) > d {
			return fmt.Errorf("no ping after %.0f s: %w\n%s", d.Seconds(), err, out)
		}
		time.Sleep(2 * time.Second)
	}
}
