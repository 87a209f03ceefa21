// Package vm is one VM of the lab as a qemu process: its command line
// (disk, NICs, serial console, QMP socket, cold-plugged volumes), its
// start, the accelerator it runs with, its serial console and SSH.
package vm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// VM is everything one node's qemu command line is made from.
type VM struct {
	Name           string
	Index          int
	Image          image.Image
	Overlay        string
	MemoryMiB      int
	Accel          string // tcg or kvm
	SSHPort        int
	ClusterAddress string // with prefix length
	VDESocket      string
	RepoCommand    string // the command qemu runs per guest connection to the package source
	// OpenStackCommand is the command qemu runs per guest connection to
	// OpenStackAddress:OpenStackPort, the lab's OpenStack (a relay).
	OpenStackCommand string
	OpenStackPort    int
	QMPSocket        string
	SerialSocket     string
	ConsoleLog       string
	PIDFile          string
	Volumes          []volume.Device // attached at start (cold plug)
}

// OpenStackAddress is where guests reach the lab's OpenStack, on the port
// it has on the host: a guestfwd, as for the package source (the same
// address; a guestfwd is an address and a port), so that nothing listens
// for the guests on the host and restrict=on stays.
const OpenStackAddress = image.RepoAddress

// KernelCommandLine is what the guest kernel boots with: the node's name
// (it must equal `uname -n`) and its cluster address come from here.
func (vm VM) KernelCommandLine() string {
	return fmt.Sprintf("root=LABEL=labroot rw console=ttyS0 quiet systemd.hostname=%s lab.cluster_address=%s", vm.Name, vm.ClusterAddress)
}

// QEMUArgs is the qemu-system-x86_64 command line of vm. QEMU daemonizes
// once the VM runs, so startup errors reach the caller.
func QEMUArgs(vm VM) []string {
	accel := "tcg,tb-size=256"
	cpu := "max"
	if vm.Accel == "kvm" {
		accel, cpu = "kvm", "host"
	}
	mgmt := "user,id=mgmt,restrict=on,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:" + fmt.Sprint(vm.SSHPort) + "-:22"
	// The cmd: form runs the command for each guest connection, with the
	// connection as its stdin and stdout; QEMU's option parser takes ",,"
	// for a literal comma.
	if vm.RepoCommand != "" {
		mgmt += ",guestfwd=tcp:" + image.RepoAddress + ":80-cmd:" + strings.ReplaceAll(vm.RepoCommand, ",", ",,")
	}
	if vm.OpenStackCommand != "" {
		mgmt += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:%s", OpenStackAddress, vm.OpenStackPort, strings.ReplaceAll(vm.OpenStackCommand, ",", ",,"))
	}
	args := []string{
		"-name", "lab-" + vm.Name,
		"-machine", "pc",
		"-accel", accel,
		"-cpu", cpu,
		"-smp", "1",
		"-m", fmt.Sprint(vm.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-kernel", vm.Image.Kernel(),
		"-initrd", vm.Image.Initrd(),
		"-append", vm.KernelCommandLine(),
		"-drive", "file=" + vm.Overlay + ",format=qcow2,if=none,id=root,discard=unmap",
		"-device", "virtio-blk-pci,drive=root,addr=0x5",
		"-netdev", mgmt,
		"-device", "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:02,addr=0x3",
		"-netdev", "vde,id=cluster,sock=" + vm.VDESocket,
		"-device", fmt.Sprintf("virtio-net-pci,id=%s,netdev=cluster,mac=%s,addr=0x4", ClusterNIC, ClusterMAC(vm.Index)),
		"-device", "virtio-rng-pci,addr=0x6",
		"-chardev", "socket,id=serial0,path=" + vm.SerialSocket + ",server=on,wait=off,logfile=" + vm.ConsoleLog,
		"-serial", "chardev:serial0",
		"-qmp", "unix:" + vm.QMPSocket + ",server=on,wait=off",
		"-pidfile", vm.PIDFile,
		"-daemonize",
	}
	for _, v := range vm.Volumes {
		args = append(args,
			"-blockdev", fmt.Sprintf("driver=raw,node-name=%s,cache.direct=on,file.driver=file,file.filename=%s,file.aio=threads,file.cache.direct=on", v.NodeName(), v.Path),
			"-device", fmt.Sprintf("virtio-blk-pci,id=%s,drive=%s,serial=%s,share-rw=on%s", v.DeviceID(), v.NodeName(), v.ID, slotOption(v.Slot)))
	}
	return args
}

// ClusterNIC is the QEMU id of a VM's NIC on the cluster link, the name
// QMP's set_link takes.
const ClusterNIC = "cluster-nic"

// ClusterMAC is the MAC address of node index's NIC on the cluster link.
func ClusterMAC(index int) string {
	return fmt.Sprintf("52:54:00:c1:%02x:%02x", index/256, index%256)
}

// VDESwitchArgs is the vde_switch command line of the lab's cluster link:
// a daemon on unix sockets only, so cluster traffic never touches the
// host's IP stack.
func VDESwitchArgs(ctl, mgmt, pidFile string) []string {
	return []string{"-s", ctl, "-M", mgmt, "-p", pidFile, "-d"}
}

func slotOption(slot int) string {
	if slot == 0 {
		return ""
	}
	return fmt.Sprintf(",addr=0x%x", slot)
}

// OverlayArgs is the qemu-img command line of a node's copy-on-write disk.
func OverlayArgs(base, overlay string) []string {
	return []string{"create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, overlay}
}

// Start runs vm's qemu, which daemonizes once the VM runs, so that startup
// errors reach the caller. The image lock of a qemu that was just killed
// can outlive its pid for a moment: Start tries again for 5 s.
func Start(ctx context.Context, vm VM) error {
	for attempt := 1; ; attempt++ {
		err := run(ctx, QEMUArgs(vm))
		if err != nil && attempt < 10 && strings.Contains(err.Error(), `Failed to get "write" lock`) {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		return err
	}
}

// run runs qemu-system-x86_64 with reaping held off: its exit must be
// waited for here, not reaped as an adopted VM's.
func run(ctx context.Context, args []string) error {
	defer proc.HoldReaping()()
	_, err := command.Exec{}.Run(ctx, "qemu-system-x86_64", args...)
	return err
}
