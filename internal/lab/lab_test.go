package lab

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func testState() *State {
	return &State{
		PortBase:  22000,
		Image:     "/cache/images/debian12-abc",
		MemoryMiB: 1280,
		Accel:     "tcg",
		Nodes:     []Node{{1, "node1"}, {2, "node2"}, {3, "node3"}},
		Volumes: []Volume{
			{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", SizeMiB: 1024, Attached: []string{"node1", "node2"}},
		},
	}
}

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
		Name: "node2", Index: 2, Image: Image{Dir: "/img"}, Overlay: "/lab/node2.qcow2",
		MemoryMiB: 1280, Accel: "tcg", SSHPort: 22002, ClusterAddress: "192.168.100.12/24",
		VDESocket: "/lab/vde.ctl", RepoCommand: "/bin/lab repo-conn --repo /img/repo --lab /lab,x/",
		QMPSocket: "/lab/node2.qmp", SerialSocket: "/lab/node2.serial", ConsoleLog: "/lab/node2.console",
		PIDFile: "/lab/node2.pid",
		Volumes: []VolumeDevice{{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", Path: "/lab/volumes/v.raw", Slot: 0x10}},
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
		"guestfwd=tcp:10.0.2.100:80-cmd:/bin/lab repo-conn --repo /img/repo --lab /lab,,x/"} {
		if !strings.Contains(mgmt, want) {
			t.Errorf("management netdev %q lacks %q", mgmt, want)
		}
	}
	if netdevs[1] != "vde,id=cluster,sock=/lab/vde.ctl" {
		t.Errorf("cluster netdev = %q", netdevs[1])
	}
	devices := strings.Join(argsAfter(args, "-device"), "\n")
	for _, want := range []string{
		"virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:02,addr=0x3",
		"virtio-net-pci,netdev=cluster,mac=52:54:00:c1:00:02,addr=0x4",
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

func TestVolumeDevice(t *testing.T) {
	v := VolumeDevice{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", Path: "/x.raw", Slot: 0x11}
	if got := ByIDPath(v.ID); got != "/dev/disk/by-id/virtio-6d3c1a5e-0b7f-4c2a-9" {
		t.Errorf("ByIDPath = %q", got)
	}
	if got := ByIDPath("short"); got != "/dev/disk/by-id/virtio-short" {
		t.Errorf("ByIDPath(short) = %q", got)
	}
	for _, name := range []string{v.NodeName(), v.DeviceID(), VolumeDevice{ID: "a.b"}.NodeName()} {
		if len(name) > 31 || !regexpQEMUID.MatchString(name) {
			t.Errorf("%q is not a valid QEMU id", name)
		}
	}
	bd := v.BlockdevOptions()
	file := bd["file"].(map[string]any)
	if bd["driver"] != "raw" || file["filename"] != "/x.raw" || file["aio"] != "threads" ||
		!reflect.DeepEqual(file["cache"], map[string]any{"direct": true}) {
		t.Errorf("blockdev options = %v", bd)
	}
	dev := v.DeviceOptions()
	if _, ok := (VolumeDevice{ID: "x"}).DeviceOptions()["addr"]; ok {
		t.Error("a volume without a slot got an address")
	}
	if dev["addr"] != "0x11" || dev["share-rw"] != true || dev["serial"] != v.ID || dev["drive"] != v.NodeName() || dev["driver"] != "virtio-blk-pci" {
		t.Errorf("device options = %v", dev)
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	r := NewRecipe(Platforms["debian12"], "http://mirror.example/")
	args := r.MmdebstrapArgs("/b/rootfs", "/b/customize.sh")
	want := []string{"--mode=root", "--variant=minbase", "--quiet"}
	if !reflect.DeepEqual(args[:3], want) {
		t.Errorf("args start %q", args[:3])
	}
	inc := args[3]
	if !strings.HasPrefix(inc, "--include=") || !strings.Contains(inc, "linux-image-amd64") || !strings.Contains(inc, "openssh-server") ||
		!strings.Contains(inc, "python3-apt") {
		t.Errorf("include = %q", inc)
	}
	for _, p := range ClusterPackages {
		if strings.Contains(inc, p) {
			t.Errorf("cluster package %s must not be in the image: %q", p, inc)
		}
	}
	rest := args[4:]
	wantRest := []string{"--customize-hook=/b/customize.sh", "bookworm", "/b/rootfs",
		"deb http://mirror.example/debian bookworm main",
		"deb http://mirror.example/debian bookworm-updates main",
		"deb http://mirror.example/debian-security bookworm-security main"}
	if !reflect.DeepEqual(rest, wantRest) {
		t.Errorf("args = %q, want %q", rest, wantRest)
	}
	trixie := NewRecipe(Platforms["debian13"], DefaultMirror).MmdebstrapArgs("r", "h")
	if trixie[5] != "trixie" || trixie[len(trixie)-1] != "deb http://deb.debian.org/debian-security trixie-security main" {
		t.Errorf("debian13 args = %q", trixie)
	}
	if _, err := LookupPlatform("debian11"); err == nil || !strings.Contains(err.Error(), "debian12, debian13") {
		t.Errorf("unknown platform error = %v", err)
	}
}

func TestRecipeID(t *testing.T) {
	a := NewRecipe(Platforms["debian12"], DefaultMirror)
	if a.ID() != NewRecipe(Platforms["debian12"], DefaultMirror).ID() {
		t.Error("the same recipe has two ids")
	}
	if !strings.HasPrefix(a.ID(), "debian12-") || len(a.ID()) != len("debian12-")+12 {
		t.Errorf("id = %q", a.ID())
	}
	changed := []func(r *Recipe){
		func(r *Recipe) { r.Packages = append(r.Packages, "vim") },
		func(r *Recipe) { r.RepoPackages = r.RepoPackages[1:] },
		func(r *Recipe) { r.Customize += "\n" },
		func(r *Recipe) { r.SizeMiB++ },
		func(r *Recipe) { r.Sources[0] = "deb http://other/debian bookworm main" },
	}
	for i, change := range changed {
		b := NewRecipe(Platforms["debian12"], DefaultMirror)
		change(&b)
		if b.ID() == a.ID() {
			t.Errorf("change %d kept the image id", i)
		}
	}
	if NewRecipe(Platforms["debian13"], DefaultMirror).ID() == a.ID() {
		t.Error("debian13 and debian12 share an id")
	}
}

func TestCustomizeScriptKeepsClusterServicesOut(t *testing.T) {
	// The image must not start corosync or dlm at boot: they are only
	// downloaded for the package source, never installed.
	if !strings.Contains(customizeScript, "--download-only") || strings.Contains(customizeScript, "chroot \"$root\" apt-get install") {
		t.Error("cluster packages must be downloaded, not installed")
	}
	for _, masked := range []string{"apt-daily.timer", "systemd-networkd-wait-online.service", "e2scrub_reap.service"} {
		if !strings.Contains(customizeScript, masked) {
			t.Errorf("customize hook does not mask %s", masked)
		}
	}
	if !strings.Contains(customizeScript, "deb [trusted=yes] http://"+RepoAddress+"/ ./") {
		t.Error("guest apt source is not the lab's")
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

func TestInventoryYAML(t *testing.T) {
	st := testState()
	b, err := InventoryYAML(st, "/lab")
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		All struct {
			Children map[string]struct {
				Hosts map[string]map[string]any `yaml:"hosts"`
			} `yaml:"children"`
		} `yaml:"all"`
	}
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatalf("inventory is not YAML: %v\n%s", err, b)
	}
	hosts := inv.All.Children["cluster_nodes"].Hosts
	if len(hosts) != 3 {
		t.Fatalf("cluster_nodes hosts = %v", hosts)
	}
	n2 := hosts["node2"]
	want := map[string]any{
		"ansible_host": "127.0.0.1", "ansible_port": 22002, "ansible_user": "root",
		"ansible_ssh_private_key_file": "/cache/images/debian12-abc/id_ed25519",
		"ansible_ssh_common_args":      "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes -o ServerAliveInterval=5 -o ServerAliveCountMax=6",
		"ansible_python_interpreter":   "/usr/bin/python3",
		"cluster_address":              "192.168.100.12",
		"cluster_device":               "/dev/disk/by-id/virtio-6d3c1a5e-0b7f-4c2a-9",
		"cluster_volume_id":            "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10",
	}
	if !reflect.DeepEqual(n2, want) {
		t.Errorf("node2 vars = %v\nwant %v", n2, want)
	}
	if _, ok := hosts["node3"]["cluster_device"]; ok {
		t.Error("node3 has no volume attached, yet a cluster_device")
	}
	if hosts["node3"]["cluster_address"] != "192.168.100.13" {
		t.Errorf("node3 address = %v", hosts["node3"]["cluster_address"])
	}
	if !strings.HasPrefix(string(b), "# Ansible inventory of the lab in /lab") {
		t.Errorf("no header: %s", b)
	}
}

func TestInventoryJSON(t *testing.T) {
	b, err := InventoryJSON(testState())
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
		All          struct{ Children []string } `json:"all"`
		ClusterNodes struct{ Hosts []string }    `json:"cluster_nodes"`
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv.ClusterNodes.Hosts, []string{"node1", "node2", "node3"}) || !reflect.DeepEqual(inv.All.Children, []string{"cluster_nodes"}) {
		t.Errorf("groups = %+v", inv)
	}
	if inv.Meta.Hostvars["node1"]["ansible_port"] != float64(22001) || inv.Meta.Hostvars["node1"]["cluster_device"] == nil {
		t.Errorf("node1 hostvars = %v", inv.Meta.Hostvars["node1"])
	}
	empty, err := InventoryJSON(&State{})
	if err != nil || !strings.Contains(string(empty), `"hosts": []`) {
		t.Errorf("empty inventory = %s, %v", empty, err)
	}
}

func TestInstanceConfigYAML(t *testing.T) {
	b, err := InstanceConfigYAML(testState())
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"instance": "node3", "address": "127.0.0.1", "user": "root", "port": "22003",
		"identity_file": "/cache/images/debian12-abc/id_ed25519"}
	if len(got) != 3 || !reflect.DeepEqual(got[2], want) {
		t.Errorf("instance config = %v", got)
	}
	// Molecule reads the port as a string.
	if !strings.Contains(string(b), `port: "22001"`) {
		t.Errorf("port is not a string:\n%s", b)
	}
	empty, _ := InstanceConfigYAML(&State{})
	if strings.TrimSpace(string(empty)) != "[]" {
		t.Errorf("empty instance config = %q", empty)
	}
}

func TestStateLookups(t *testing.T) {
	st := testState()
	if n, err := st.Node("2"); err != nil || n.Name != "node2" {
		t.Errorf("Node(2) = %v, %v", n, err)
	}
	if _, err := st.Node("node9"); err == nil || !strings.Contains(err.Error(), "node1 node2 node3") {
		t.Errorf("Node(node9) error = %v", err)
	}
	if vols := st.VolumesOf("node3"); len(vols) != 0 {
		t.Errorf("node3 volumes = %v", vols)
	}
	if err := st.ValidateVolumeID("6d3c1a5e-0b7f-4c2a-9eXX"); err == nil || !strings.Contains(err.Error(), "first 20 characters") {
		t.Errorf("clashing serial accepted: %v", err)
	}
	for _, bad := range []string{"", "a,b", "a b", "../x", strings.Repeat("a", 65)} {
		if err := st.ValidateVolumeID(bad); err == nil {
			t.Errorf("volume id %q accepted", bad)
		}
	}
	if err := st.ValidateVolumeID(st.Volumes[0].ID); err != nil {
		t.Errorf("existing id refused: %v", err)
	}
	if st.SSHPort(Node{Index: 4}) != 22004 || st.OpenStackPort() != 22099 {
		t.Error("ports")
	}
}

func TestFreeSlot(t *testing.T) {
	st := &State{}
	for want := 0x10; want <= 0x1f; want++ {
		slot, err := st.freeSlot()
		if err != nil || slot != want {
			t.Fatalf("freeSlot = %#x, %v; want %#x", slot, err, want)
		}
		st.Volumes = append(st.Volumes, Volume{ID: fmt.Sprint(want), Slot: slot})
	}
	if _, err := st.freeSlot(); err == nil || !strings.Contains(err.Error(), "at most 16 volumes") {
		t.Errorf("17th volume: %v", err)
	}
	st.Volumes = append(st.Volumes[:2], st.Volumes[3:]...) // slot 0x12 freed
	if slot, _ := st.freeSlot(); slot != 0x12 {
		t.Errorf("freed slot not reused: %#x", slot)
	}
}

func TestDefaultPortBase(t *testing.T) {
	a, b := DefaultPortBase("/w/.lab/default"), DefaultPortBase("/w/.lab/e2e")
	for _, p := range []int{a, b} {
		if p < 20000 || p > 59900 || p%100 != 0 {
			t.Errorf("port base %d out of range", p)
		}
	}
	if a != DefaultPortBase("/w/.lab/default") {
		t.Error("port base is not deterministic")
	}
	if a == b {
		t.Errorf("two labs share port base %d", a)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.json")
	if st, err := loadState(path); st != nil || err != nil {
		t.Errorf("missing state = %v, %v", st, err)
	}
	st := testState()
	if err := saveState(path, st); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), "lab down") {
		t.Errorf("damaged state error = %v", err)
	}
}

func TestPackagesStanzaAndRelease(t *testing.T) {
	data := []byte("not really a deb")
	sum := sha256.Sum256(data)
	got := PackagesStanza("Package: corosync\nVersion: 3.1.7-1\nArchitecture: amd64\n", "corosync_3.1.7-1_amd64.deb", data)
	want := "Package: corosync\nVersion: 3.1.7-1\nArchitecture: amd64\nFilename: ./corosync_3.1.7-1_amd64.deb\nSize: 16\nSHA256: " +
		hex.EncodeToString(sum[:]) + "\n\n"
	if got != want {
		t.Errorf("stanza = %q\nwant %q", got, want)
	}
	pk := []byte(got)
	psum := sha256.Sum256(pk)
	rel := ReleaseFile(pk, time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC))
	if !strings.Contains(rel, "Date: Tue, 20 May 2025 10:00:00 UTC\n") ||
		!strings.HasSuffix(rel, fmt.Sprintf("SHA256:\n %s %d Packages\n", hex.EncodeToString(psum[:]), len(pk))) {
		t.Errorf("release = %q", rel)
	}
}

func TestServeRepoConn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Packages"), []byte("Package: x\n"), 0o644)
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeRepoConn(server, dir, 5*time.Second) }()
	r := bufio.NewReader(client)
	// apt keeps the connection open for its next request.
	for _, path := range []string{"/Packages", "/Release"} {
		fmt.Fprintf(client, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, RepoAddress)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch path {
		case "/Packages":
			if resp.StatusCode != 200 || string(body) != "Package: x\n" {
				t.Errorf("GET /Packages = %d %q", resp.StatusCode, body)
			}
		case "/Release":
			if resp.StatusCode != 404 {
				t.Errorf("GET /Release = %d, want 404", resp.StatusCode)
			}
		}
	}
	client.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeRepoConn = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeRepoConn did not return once the guest closed the connection")
	}
}

func TestProcessOwnership(t *testing.T) {
	marker := "/lab-test-" + fmt.Sprint(time.Now().UnixNano()) + "/"
	cmd := exec.Command("sh", "-c", "sleep 30", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	pid := cmd.Process.Pid
	// Start returns before the child has exec'd: until then its command
	// line is this test binary's.
	for deadline := time.Now().Add(5 * time.Second); !ownedAlive(pid, marker); {
		if time.Now().After(deadline) {
			t.Fatal("own process not recognised")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ownedAlive(pid, marker+"other") {
		t.Error("a process recognised under another lab's marker")
	}
	if got := processesWith(marker, "sleep 30"); !reflect.DeepEqual(got, []int{pid}) {
		t.Errorf("processesWith = %v, want [%d]", got, pid)
	}
	// Someone else's pid is never signalled.
	if err := stopProcess(pid, marker+"other", time.Second); err != nil {
		t.Fatal(err)
	}
	if !ownedAlive(pid, marker) {
		t.Fatal("stopProcess killed a process that is not the lab's")
	}
	if err := stopProcess(pid, marker, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	<-waited
	if ownedAlive(pid, marker) {
		t.Error("process still alive")
	}
	if readPID(filepath.Join(t.TempDir(), "missing.pid")) != 0 {
		t.Error("missing pid file")
	}
}

func TestCloudServers(t *testing.T) {
	servers := CloudServers(testState())
	if len(servers) != 3 || servers[1].Name != "node2" ||
		!reflect.DeepEqual(servers[1].Addresses, map[string][]string{"private": {"192.168.100.12"}}) {
		t.Errorf("servers = %+v", servers)
	}
}
