package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
		"cluster_server_id":            ServerID("/lab", "node2"),
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
	b, err := InventoryJSON(testState(), "/work/main/.lab/default")
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
	// Every node has its server ID, before any cloud runs.
	for name, want := range map[string]string{
		"node1": "ed424de8-9f66-5bf0-94aa-979ccaa44fa5", "node2": "2ecd8521-b5ff-5ded-9a8a-2f18dfb6193d",
	} {
		if got := inv.Meta.Hostvars[name]["cluster_server_id"]; got != want {
			t.Errorf("%s cluster_server_id = %v, want %s", name, got, want)
		}
	}
	if id := inv.Meta.Hostvars["node3"]["cluster_server_id"]; id == nil || id == inv.Meta.Hostvars["node1"]["cluster_server_id"] {
		t.Errorf("node3 cluster_server_id = %v", id)
	}
	empty, err := InventoryJSON(&State{}, "/lab")
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

// TestServerID: RFC 9562's name-based UUID (version 5) of
// "file://DIR#NODE" in the URL name space, as Python's uuid.uuid5 makes
// it; one per lab and node, the same every time.
func TestServerID(t *testing.T) {
	for _, c := range []struct{ dir, node, want string }{
		{"/work/main/.lab/default", "node1", "ed424de8-9f66-5bf0-94aa-979ccaa44fa5"},
		{"/work/main/.lab/default", "node2", "2ecd8521-b5ff-5ded-9a8a-2f18dfb6193d"},
		{"/work/main/.lab/other", "node1", "869d8721-1d46-5853-bb59-6e673bd3e71e"},
	} {
		if got := ServerID(c.dir, c.node); got != c.want {
			t.Errorf("ServerID(%s, %s) = %s, want %s", c.dir, c.node, got, c.want)
		}
	}
	l := &Lab{Dir: "/work/main/.lab/default"}
	if got := l.ServerID(Node{Index: 1, Name: "node1"}); got != "ed424de8-9f66-5bf0-94aa-979ccaa44fa5" {
		t.Errorf("Lab.ServerID = %s", got)
	}
	// The name is the directory and the node, not a prefix of either.
	if ServerID("/a", "node12") == ServerID("/a/node1", "2") || ServerID("/lab", "node1") == ServerID("/lab/", "node1") {
		t.Error("two different lab directory and node pairs share a server ID")
	}
}
