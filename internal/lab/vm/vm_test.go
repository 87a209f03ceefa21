package vm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// argsAfter returns the arguments that follow each occurrence of flag.
func argsAfter(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestQEMUArgsTCG(t *testing.T) {
	vm := VM{
		Name: "node2", Index: 2, Image: image.Image{Dir: "/img"}, Overlay: "/lab/node2.qcow2",
		MemoryMiB: 1280, Accel: "tcg", SSHPort: 22002, ClusterAddress: "192.168.100.12/24",
		VDESocket: "/lab/vde.ctl", RepoCommand: "/bin/lab repo-conn --repo /img/repo --lab /lab,x/",
		OpenStackCommand: "/bin/lab relay --lab /lab,x/ 127.0.0.1:22099", OpenStackPort: 22099,
		QMPSocket: "/lab/node2.qmp", SerialSocket: "/lab/node2.serial", ConsoleLog: "/lab/node2.console",
		PIDFile: "/lab/node2.pid",
		Volumes: []volume.Device{{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", Path: "/lab/volumes/v.raw", Slot: 0x10}},
	}
	args := QEMUArgs(vm)
	for flag, want := range map[string]string{
		"-accel": "tcg,tb-size=256", "-cpu": "max", "-m": "1280", "-smp": "1", "-machine": "pc",
		"-kernel": "/img/vmlinuz", "-initrd": "/img/initrd.img", "-pidfile": "/lab/node2.pid",
		"-qmp": "unix:/lab/node2.qmp,server=on,wait=off", "-serial": "chardev:serial0",
		"-append": "root=LABEL=labroot rw console=ttyS0 quiet systemd.hostname=node2 lab.cluster_address=192.168.100.12/24",
	} {
		if got := argsAfter(args, flag); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", flag, got, want)
		}
	}
	if args[len(args)-5] != "-daemonize" {
		t.Errorf("-daemonize must come before the cold-plugged volumes: %q", args)
	}
	netdevs := argsAfter(args, "-netdev")
	if len(netdevs) != 2 {
		t.Fatalf("want 2 netdevs, got %q", netdevs)
	}
	mgmt := netdevs[0]
	for _, want := range []string{"user,", "restrict=on", "hostfwd=tcp:127.0.0.1:22002-:22",
		"guestfwd=tcp:10.0.2.100:80-cmd:/bin/lab repo-conn --repo /img/repo --lab /lab,,x/",
		",guestfwd=tcp:10.0.2.100:22099-cmd:/bin/lab relay --lab /lab,,x/ 127.0.0.1:22099"} {
		if !strings.Contains(mgmt, want) {
			t.Errorf("management netdev %q lacks %q", mgmt, want)
		}
	}
	// The guest reaches nothing else: one host forward, bound to
	// 127.0.0.1, and exactly the two per-connection forwards.
	if strings.Count(mgmt, "hostfwd=") != 1 || strings.Count(mgmt, "guestfwd=") != 2 || strings.Count(mgmt, "-cmd:") != 2 {
		t.Errorf("management netdev forwards: %q", mgmt)
	}
	if netdevs[1] != "vde,id=cluster,sock=/lab/vde.ctl" {
		t.Errorf("cluster netdev = %q", netdevs[1])
	}
	devices := strings.Join(argsAfter(args, "-device"), "\n")
	for _, want := range []string{
		"virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:02,addr=0x3",
		"virtio-net-pci,id=cluster-nic,netdev=cluster,mac=52:54:00:c1:00:02,addr=0x4",
		"virtio-blk-pci,drive=root,addr=0x5",
		"virtio-blk-pci,id=d6d3c1a5e-0b7f-4c2a-9,drive=v6d3c1a5e-0b7f-4c2a-9,serial=6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10,share-rw=on,addr=0x10",
	} {
		if !strings.Contains(devices, want) {
			t.Errorf("devices lack %q:\n%s", want, devices)
		}
	}
	blockdevs := argsAfter(args, "-blockdev")
	if len(blockdevs) != 1 || !strings.Contains(blockdevs[0], "cache.direct=on") || !strings.Contains(blockdevs[0], "file.aio=threads") ||
		!strings.Contains(blockdevs[0], "file.filename=/lab/volumes/v.raw") {
		t.Errorf("volume blockdev = %q", blockdevs)
	}
}

func TestQEMUArgsKVMAndNoRepo(t *testing.T) {
	args := QEMUArgs(VM{Name: "node1", Index: 1, Accel: "kvm", SSHPort: 1})
	if got := argsAfter(args, "-accel"); got[0] != "kvm" {
		t.Errorf("-accel = %q", got)
	}
	if got := argsAfter(args, "-cpu"); got[0] != "host" {
		t.Errorf("-cpu = %q", got)
	}
	if strings.Contains(strings.Join(args, " "), "guestfwd") {
		t.Error("no package source command, yet a guestfwd")
	}
	if len(argsAfter(args, "-blockdev")) != 0 {
		t.Error("a VM without volumes got a blockdev")
	}
}

func TestSSHArgs(t *testing.T) {
	got := SSHArgs("/k", 22001, true, "uname -n")
	want := []string{"-i", "/k", "-p", "22001",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
		"root@127.0.0.1", "uname -n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SSHArgs = %q\nwant %q", got, want)
	}
	if inter := SSHArgs("/k", 1, false); inter[len(inter)-1] != "root@127.0.0.1" || strings.Contains(strings.Join(inter, " "), "BatchMode") {
		t.Errorf("interactive SSHArgs = %q", inter)
	}
}
