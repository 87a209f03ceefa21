package clusterconf

import (
	"os"
	"reflect"
	"testing"
)

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// roundTrip: whatever parses and passes validation renders to a file that
// parses back to the same nodes.
func roundTrip(t *testing.T, stack Stack, m Membership, render func([]ClusterNode) []byte, parse func([]byte) (Membership, error)) {
	requests := make([]NodeRequest, len(m.Nodes))
	for i, n := range m.Nodes {
		id := n.ID
		requests[i] = NodeRequest{Name: n.Name, Address: n.Address, ID: &id}
	}
	nodes, err := AssignIDs(stack, "knet", requests, nil)
	if err != nil || len(nodes) == 0 {
		return
	}
	again, err := parse(render(nodes))
	if err != nil {
		t.Fatalf("rendered file does not parse: %v", err)
	}
	if !reflect.DeepEqual(again.Nodes, nodes) {
		t.Fatalf("round trip: %+v != %+v", again.Nodes, nodes)
	}
}

func FuzzParseCorosync(f *testing.F) {
	addSeeds(f, "debian-default-corosync.conf", "corosync-knet-2nodes.conf", "corosync-udpu-3nodes.conf")
	f.Add([]byte("nodelist {\n node {\n name: a\n nodeid: 1\n ring0_addr: 10.0.0.1\n }\n}\n"))
	f.Add([]byte("}{\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseCorosync(data)
		if err != nil {
			return
		}
		for _, n := range m.Nodes {
			if n.Name == "" {
				t.Fatal("node without a name accepted")
			}
		}
		roundTrip(t, Corosync, m, func(n []ClusterNode) []byte {
			return RenderCorosync(CorosyncOptions{ClusterName: "c", Transport: "knet"}, n)
		}, ParseCorosync)
	})
}

func FuzzParseO2CB(f *testing.F) {
	addSeeds(f, "ocfs2-tools-example-cluster.conf", "o2cb-2nodes.conf")
	f.Add([]byte("node:\n\tname = a\n\tnumber = 0\n"))
	f.Add([]byte("cluster:\n name=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseO2CB(data)
		if err != nil {
			return
		}
		for _, n := range m.Nodes {
			if n.Name == "" {
				t.Fatal("node without a name accepted")
			}
		}
		roundTrip(t, O2CB, m, func(n []ClusterNode) []byte {
			return RenderO2CB(O2CBOptions{ClusterName: "c", IPPort: 7777}, n)
		}, ParseO2CB)
	})
}
