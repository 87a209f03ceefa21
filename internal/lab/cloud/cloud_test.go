package cloud

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
)

// testLab is a lab directory whose state says three nodes are up, with
// no VM running.
func testLab(t *testing.T) *lab.Lab {
	l := &lab.Lab{Dir: t.TempDir()}
	b, err := json.Marshal(testState())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "lab.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

func testState() *lab.State {
	return &lab.State{
		PortBase:  22000,
		Image:     "/cache/images/debian12-abc",
		MemoryMiB: 1280,
		Accel:     "tcg",
		Nodes:     []lab.Node{{Index: 1, Name: "node1"}, {Index: 2, Name: "node2"}, {Index: 3, Name: "node3"}},
		Volumes: []lab.Volume{
			{ID: "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10", SizeMiB: 1024, Attached: []string{"node1", "node2"}},
		},
	}
}

func TestCloudServers(t *testing.T) {
	servers := Servers(testState(), "/work/main/.lab/default")
	if len(servers) != 3 || servers[1].Name != "node2" ||
		!reflect.DeepEqual(servers[1].Addresses, map[string][]string{"private": {"192.168.100.12"}}) {
		t.Errorf("servers = %+v", servers)
	}
	// The inventory's cluster_server_id.
	for i, s := range servers {
		if want := lab.ServerID("/work/main/.lab/default", s.Name); s.ID != want {
			t.Errorf("server %d: %s has ID %s, want %s", i, s.Name, s.ID, want)
		}
	}
}
