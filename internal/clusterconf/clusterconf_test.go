package clusterconf

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func intp(i int) *int { return &i }

var twoNodes = []ClusterNode{
	{Name: "node1", Address: "192.168.100.11", ID: 1},
	{Name: "node2", Address: "192.168.100.12", ID: 2},
}

func TestRenderCorosyncGolden(t *testing.T) {
	golden(t, "corosync-knet-2nodes.conf", RenderCorosync(CorosyncOptions{ClusterName: "gfs2lab", Transport: "knet", Crypto: true}, twoNodes))
	three := append(append([]ClusterNode{}, twoNodes...), ClusterNode{Name: "node3", Address: "192.168.100.13", ID: 3})
	golden(t, "corosync-udpu-3nodes.conf", RenderCorosync(CorosyncOptions{ClusterName: "gfs2lab", Transport: "udpu"}, three))
}

func TestRenderO2CBGolden(t *testing.T) {
	nodes := []ClusterNode{{Name: "node1", Address: "192.168.100.11", ID: 0}, {Name: "node2", Address: "192.168.100.12", ID: 1}}
	golden(t, "o2cb-2nodes.conf", RenderO2CB(O2CBOptions{ClusterName: "ocfs2lab", IPPort: 7777}, nodes))
}

func TestCorosyncQuorumTwoNodeOnlyForTwo(t *testing.T) {
	for n := 1; n <= 4; n++ {
		var nodes []ClusterNode
		for i := 1; i <= n; i++ {
			nodes = append(nodes, ClusterNode{Name: "n" + strconv.Itoa(i), Address: "10.0.0." + strconv.Itoa(i), ID: i})
		}
		got := strings.Contains(string(RenderCorosync(CorosyncOptions{ClusterName: "c", Transport: "knet"}, nodes)), "two_node: 1")
		if got != (n == 2) {
			t.Errorf("%d nodes: two_node present = %v", n, got)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c := RenderCorosync(CorosyncOptions{ClusterName: "gfs2lab", Transport: "knet", Crypto: true}, twoNodes)
	m, err := ParseCorosync(c)
	if err != nil || m.ClusterName != "gfs2lab" || !reflect.DeepEqual(m.Nodes, twoNodes) {
		t.Errorf("corosync round trip: %+v %v", m, err)
	}
	o := RenderO2CB(O2CBOptions{ClusterName: "ocfs2lab", IPPort: 7777}, twoNodes)
	m, err = ParseO2CB(o)
	if err != nil || m.ClusterName != "ocfs2lab" || !reflect.DeepEqual(m.Nodes, twoNodes) {
		t.Errorf("o2cb round trip: %+v %v", m, err)
	}
}

func TestParseDistributionFiles(t *testing.T) {
	data, err := os.ReadFile("testdata/debian-default-corosync.conf")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseCorosync(data)
	want := []ClusterNode{{Name: "node1", Address: "127.0.0.1", ID: 1}}
	if err != nil || m.ClusterName != "debian" || !reflect.DeepEqual(m.Nodes, want) {
		t.Errorf("Debian's corosync.conf: %+v %v", m, err)
	}

	data, err = os.ReadFile("testdata/ocfs2-tools-example-cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	m, err = ParseO2CB(data)
	want = []ClusterNode{
		{Name: "node7", Address: "192.168.0.107", ID: 7},
		{Name: "node6", Address: "192.168.0.106", ID: 6},
		{Name: "node10", Address: "192.168.0.110", ID: 10},
	}
	if err != nil || m.ClusterName != "webcluster" || !reflect.DeepEqual(m.Nodes, want) {
		t.Errorf("ocfs2-tools example: %+v %v", m, err)
	}
}

func TestParseO2CBOtherClusterIgnored(t *testing.T) {
	data := "cluster:\n\tname = a\n\tnode_count = 1\n\nnode:\n\tname = n1\n\tnumber = 0\n\tcluster = a\n\tip_address = 10.0.0.1\n\nnode:\n\tname = x\n\tnumber = 0\n\tcluster = b\n\tip_address = 10.0.0.9\n"
	m, err := ParseO2CB([]byte(data))
	if err != nil || len(m.Nodes) != 1 || m.Nodes[0].Name != "n1" {
		t.Errorf("got %+v %v", m, err)
	}
}

func TestParseErrors(t *testing.T) {
	corosync := map[string]string{
		"unclosed":       "totem {\n version: 2\n",
		"extra brace":    "totem {\n}\n}\n",
		"no colon":       "totem {\n version 2\n}\n",
		"bad header":     "to:tem {\n}\n",
		"no name":        "nodelist {\n node {\n nodeid: 1\n }\n}\n",
		"bad nodeid":     "nodelist {\n node {\n name: a\n nodeid: one\n }\n}\n",
		"missing nodeid": "nodelist {\n node {\n name: a\n }\n}\n",
	}
	for name, data := range corosync {
		if _, err := ParseCorosync([]byte(data)); err == nil {
			t.Errorf("corosync %s: want an error", name)
		}
	}
	o2cb := map[string]string{
		"attribute first": "\tname = a\n",
		"bad header":      "cluster\n",
		"no equals":       "node:\n\tname a\n",
		"no name":         "node:\n\tnumber = 1\n",
		"bad number":      "node:\n\tname = a\n\tnumber = x\n",
		"space in header": "my node:\n",
	}
	for name, data := range o2cb {
		if _, err := ParseO2CB([]byte(data)); err == nil {
			t.Errorf("o2cb %s: want an error", name)
		}
	}
}

func TestAssignIDs(t *testing.T) {
	existing := []ClusterNode{{Name: "node1", Address: "10.0.0.1", ID: 1}, {Name: "node2", Address: "10.0.0.2", ID: 2}}
	cases := []struct {
		name      string
		stack     Stack
		requested []NodeRequest
		existing  []ClusterNode
		want      map[string]int
	}{
		{"fresh corosync starts at 1", Corosync, []NodeRequest{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}, nil, map[string]int{"a": 1, "b": 2}},
		{"fresh o2cb starts at 0", O2CB, []NodeRequest{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.2"}}, nil, map[string]int{"a": 0, "b": 1}},
		{"adding node3 keeps node1 and node2", Corosync, []NodeRequest{{Name: "node3", Address: "10.0.0.3"}, {Name: "node2", Address: "10.0.0.2"}, {Name: "node1", Address: "10.0.0.1"}}, existing, map[string]int{"node1": 1, "node2": 2, "node3": 3}},
		{"new node takes the lowest free id", Corosync, []NodeRequest{{Name: "node2", Address: "10.0.0.2"}, {Name: "node9", Address: "10.0.0.9"}}, existing, map[string]int{"node2": 2, "node9": 1}},
		{"explicit id wins over the file", Corosync, []NodeRequest{{Name: "node1", Address: "10.0.0.1", ID: intp(7)}, {Name: "node2", Address: "10.0.0.2"}}, existing, map[string]int{"node1": 7, "node2": 2}},
		{"explicit id taking a kept one renumbers only that node", Corosync, []NodeRequest{{Name: "node3", Address: "10.0.0.3", ID: intp(2)}, {Name: "node2", Address: "10.0.0.2"}, {Name: "node1", Address: "10.0.0.1"}}, existing, map[string]int{"node1": 1, "node2": 3, "node3": 2}},
		{"address change keeps the id", Corosync, []NodeRequest{{Name: "node1", Address: "10.0.1.1"}, {Name: "node2", Address: "10.0.0.2"}}, existing, map[string]int{"node1": 1, "node2": 2}},
		{"id out of range in the file is not kept", O2CB, []NodeRequest{{Name: "n", Address: "10.0.0.1"}}, []ClusterNode{{Name: "n", ID: 300}}, map[string]int{"n": 0}},
		{"host names are addresses for corosync", Corosync, []NodeRequest{{Name: "a", Address: "node-a.example.org"}}, nil, map[string]int{"a": 1}},
		{"IPv6 for corosync", Corosync, []NodeRequest{{Name: "a", Address: "fd00::1"}}, nil, map[string]int{"a": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nodes, err := AssignIDs(c.stack, "knet", c.requested, c.existing)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for i, n := range nodes {
				got[n.Name] = n.ID
				if i > 0 && nodes[i-1].ID >= n.ID {
					t.Errorf("not ordered by id: %+v", nodes)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("ids = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAssignIDsErrors(t *testing.T) {
	many := make([]NodeRequest, 256)
	for i := range many {
		many[i] = NodeRequest{Name: "n" + strconv.Itoa(i), Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}
	}
	cases := []struct {
		name      string
		stack     Stack
		transport string
		requested []NodeRequest
		want      []string
	}{
		{"duplicate name", Corosync, "knet", []NodeRequest{{Name: "a", Address: "10.0.0.1"}, {Name: "a", Address: "10.0.0.2"}}, []string{"node a is listed twice"}},
		{"duplicate address", Corosync, "knet", []NodeRequest{{Name: "a", Address: "10.0.0.1"}, {Name: "b", Address: "10.0.0.1"}}, []string{"nodes a and b have the same address 10.0.0.1"}},
		{"duplicate address spelled differently", Corosync, "knet", []NodeRequest{{Name: "a", Address: "fd00::1"}, {Name: "b", Address: "fd00:0::1"}}, []string{"nodes a and b have the same address"}},
		{"duplicate id", Corosync, "knet", []NodeRequest{{Name: "a", Address: "10.0.0.1", ID: intp(3)}, {Name: "b", Address: "10.0.0.2", ID: intp(3)}}, []string{"nodes a and b have the same id 3"}},
		{"corosync id 0", Corosync, "knet", []NodeRequest{{Name: "a", Address: "10.0.0.1", ID: intp(0)}}, []string{"node a: id 0 is out of range for corosync (1 to 65535)"}},
		{"knet id too big", Corosync, "knet", []NodeRequest{{Name: "a", Address: "10.0.0.1", ID: intp(70000)}}, []string{"node a: id 70000 is out of range"}},
		{"o2cb id 255", O2CB, "", []NodeRequest{{Name: "a", Address: "10.0.0.1", ID: intp(255)}}, []string{"node a: id 255 is out of range for o2cb (0 to 254)"}},
		{"bad address", Corosync, "knet", []NodeRequest{{Name: "a", Address: "not an address"}}, []string{`node a: address "not an address" is neither an IP address nor a host name`}},
		{"empty address", Corosync, "knet", []NodeRequest{{Name: "a", Address: ""}}, []string{`node a: address ""`}},
		{"o2cb needs IPv4", O2CB, "", []NodeRequest{{Name: "a", Address: "fd00::1"}, {Name: "b", Address: "host.example"}}, []string{"node a: address \"fd00::1\" is not an IPv4 address", "node b: address \"host.example\" is not an IPv4"}},
		{"bad node name", Corosync, "knet", []NodeRequest{{Name: "-x", Address: "10.0.0.1"}, {Name: "", Address: "10.0.0.2"}}, []string{`node "-x": name must start`, "a node has an empty name"}},
		{"o2cb long name", O2CB, "", []NodeRequest{{Name: strings.Repeat("a", 65), Address: "10.0.0.1"}}, []string{"at most 64 characters"}},
		{"o2cb out of ids", O2CB, "", many, []string{"no free id left in 0 to 254"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := AssignIDs(c.stack, c.transport, c.requested, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestClusterNames(t *testing.T) {
	good := map[Stack][]string{
		Corosync: {"a", "gfs2-lab_1", strings.Repeat("x", 32)},
		O2CB:     {"ocfs2", "Lab2", strings.Repeat("x", 16)},
	}
	bad := map[Stack][]string{
		Corosync: {"", "has space", "dot.name", strings.Repeat("x", 33), "colon:"},
		O2CB:     {"", "with-dash", "under_score", strings.Repeat("x", 17)},
	}
	for stack, names := range good {
		for _, n := range names {
			if err := stack.ValidateClusterName(n); err != nil {
				t.Errorf("%s %q: %v", stack, n, err)
			}
		}
	}
	for stack, names := range bad {
		for _, n := range names {
			if err := stack.ValidateClusterName(n); err == nil {
				t.Errorf("%s %q: want an error", stack, n)
			}
		}
	}
}

func TestMembershipChange(t *testing.T) {
	before := []ClusterNode{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	after := []ClusterNode{{Name: "d"}, {Name: "a"}, {Name: "c"}}
	added, removed := MembershipChange(before, after)
	if !reflect.DeepEqual(added, []string{"d"}) || !reflect.DeepEqual(removed, []string{"b"}) {
		t.Errorf("added %v removed %v", added, removed)
	}
}
