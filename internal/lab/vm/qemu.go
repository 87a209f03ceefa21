package lab

import (
	"fmt"
	"regexp"
	"strings"
)

// VM is everything one node's qemu command line is made from.
type VM struct {
	Name           string
	Index          int
	Image          Image
	Overlay        string
	MemoryMiB      int
	Accel          string // tcg or kvm
	SSHPort        int
	ClusterAddress string // with prefix length
	VDESocket      string
	RepoCommand    string // the command qemu runs per guest connection to the package source
	QMPSocket      string
	SerialSocket   string
	ConsoleLog     string
	PIDFile        string
	Volumes        []VolumeDevice // attached at start (cold plug)
}

// VolumeDevice is a shared volume as one VM sees it.
type VolumeDevice struct {
	ID   string // the Cinder volume id: the device's serial
	Path string // the raw file on the host
	Slot int    // its PCI slot, the same on every VM and at every boot
}

// ByIDPath is the path under which a guest sees a volume, as with Nova:
// virtio-blk serials are 20 bytes long.
func ByIDPath(volumeID string) string {
	return "/dev/disk/by-id/virtio-" + serial20(volumeID)
}

func serial20(id string) string {
	if len(id) > 20 {
		return id[:20]
	}
	return id
}

var notNodeNameChar = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// NodeName is the QEMU block node name of a volume; DeviceID its device id.
// Both derive from the serial, which must be unique among a VM's volumes
// anyway.
func (v VolumeDevice) NodeName() string {
	return "v" + notNodeNameChar.ReplaceAllString(serial20(v.ID), "_")
}
func (v VolumeDevice) DeviceID() string {
	return "d" + notNodeNameChar.ReplaceAllString(serial20(v.ID), "_")
}

// BlockdevOptions are the blockdev-add arguments of the volume: raw, opened
// with O_DIRECT (cache=none) and thread-pool I/O, as Nova does for shared
// volumes.
func (v VolumeDevice) BlockdevOptions() map[string]any {
	return map[string]any{
		"driver":    "raw",
		"node-name": v.NodeName(),
		"cache":     map[string]any{"direct": true},
		"file": map[string]any{
			"driver":   "file",
			"filename": v.Path,
			"aio":      "threads",
			"cache":    map[string]any{"direct": true},
		},
	}
}

// DeviceOptions are the device_add arguments: share-rw lets every VM open
// the volume for writing while image locking still refuses an unshared
// opener. The slot is fixed: left to QEMU, a hot-plugged disk takes a slot
// before the root disk's, and after a reboot the guest names it vda.
func (v VolumeDevice) DeviceOptions() map[string]any {
	opts := map[string]any{
		"driver":   "virtio-blk-pci",
		"id":       v.DeviceID(),
		"drive":    v.NodeName(),
		"serial":   v.ID,
		"share-rw": true,
	}
	if v.Slot != 0 { // 0: a volume recorded before slots were pinned
		opts["addr"] = fmt.Sprintf("0x%x", v.Slot)
	}
	return opts
}

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
	if vm.RepoCommand != "" {
		// QEMU's option parser takes ",," for a literal comma.
		mgmt += ",guestfwd=tcp:" + RepoAddress + ":80-cmd:" + strings.ReplaceAll(vm.RepoCommand, ",", ",,")
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
		"-device", fmt.Sprintf("virtio-net-pci,netdev=cluster,mac=%s,addr=0x4", ClusterMAC(vm.Index)),
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
