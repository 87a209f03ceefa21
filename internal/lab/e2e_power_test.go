package lab_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
	"github.com/cinder-multiattach/cinder.multiattach/internal/fence"
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
// there again after every boot.
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

	// HARD reboot of a frozen node, by the fence agent.
	oldPID := l.PID(n2)
	if err := syscall.Kill(oldPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !proc.Frozen(oldPID); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("qemu %d not frozen after SIGSTOP: state %c", oldPID, proc.State(oldPID))
		}
	}
	if s := l.Status(st)[1]; s.Power != "frozen" || s.PID != oldPID {
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
	var agentOut bytes.Buffer
	phase("fence_nova reboot of frozen node2", func() error {
		code := fence.Run(ctx, fence.Env{
			Args:   []string{"-o", "reboot", "-n", ids[n2.Name], "--cloud", cloud.Name, "--clouds-yaml", clouds, "--timeout", "300", "-v"},
			Stdout: &agentOut, Stderr: &agentOut,
		})
		t.Logf("fence_nova (exit %d):\n%s", code, agentOut.String())
		if code != fence.ExitOK {
			return fmt.Errorf("fence_nova exited %d", code)
		}
		return nil
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
