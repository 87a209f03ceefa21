package clusterconf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	server1 = "11111111-1111-4111-8111-111111111111"
	server2 = "22222222-2222-4222-8222-222222222222"
	server3 = "33333333-3333-4333-8333-333333333333"
)

func dlmNodes(n int) []ClusterNode {
	all := []ClusterNode{
		{Name: "node1", Address: "192.168.100.11", ID: 1, ServerID: server1},
		{Name: "node2", Address: "192.168.100.12", ID: 2, ServerID: server2},
		{Name: "node3", Address: "192.168.100.13", ID: 3, ServerID: server3},
	}
	return all[:n]
}

func openstackFencing() DLMOptions {
	return DLMOptions{Fencing: FencingOpenStack, Agent: "/usr/local/sbin/fence_nova", Cloud: "fence",
		CloudsYAML: "/etc/cinder-multiattach/fence-clouds.yaml", Action: "reboot", Timeout: 180, Delay: 15}
}

func TestRenderDLM(t *testing.T) {
	two := string(RenderDLM(openstackFencing(), dlmNodes(2)))
	for _, want := range []string{
		"enable_fencing=1\n",
		"device nova /usr/local/sbin/fence_nova cloud=fence clouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml action=reboot timeout=180\n",
		// of two nodes, the lower id is fenced only after the delay: it wins a split
		"connect nova node=1 plug=" + server1 + " delay=15\n",
		"connect nova node=2 plug=" + server2 + "\n",
	} {
		if !strings.Contains(two, want) {
			t.Errorf("two nodes: no %q in\n%s", want, two)
		}
	}
	three := string(RenderDLM(openstackFencing(), dlmNodes(3)))
	if strings.Contains(three, "delay=") || !strings.Contains(three, "connect nova node=3 plug="+server3+"\n") {
		t.Errorf("three nodes (quorum decides a split, no delay):\n%s", three)
	}
	off := openstackFencing()
	off.Action = "off"
	if got := string(RenderDLM(off, dlmNodes(3))); !strings.Contains(got, " action=off ") || !strings.Contains(got, "Nova stops") {
		t.Errorf("action off:\n%s", got)
	}
	plain := string(RenderDLM(DLMOptions{Fencing: FencingDLM, Settings: map[string]string{"post_join_delay": "10", "log_debug": "1"},
		ExtraLines: []string{"# kept"}}, dlmNodes(3)))
	if !strings.Contains(plain, "enable_fencing=1\nlog_debug=1\npost_join_delay=10\n# kept\n") || strings.Contains(plain, "device nova") {
		t.Errorf("dlm's own fencing with settings:\n%s", plain)
	}
	if got := string(RenderDLM(DLMOptions{Fencing: FencingOff}, dlmNodes(2))); !strings.Contains(got, "enable_fencing=0\n") {
		t.Errorf("fencing off:\n%s", got)
	}
}

func TestDLMRestart(t *testing.T) {
	dlmOnly := RenderDLM(DLMOptions{Fencing: FencingDLM}, dlmNodes(2))
	two := RenderDLM(openstackFencing(), dlmNodes(2))
	three := RenderDLM(openstackFencing(), dlmNodes(3))
	moved := dlmNodes(3)
	moved[1].ServerID = server3
	movedThree := RenderDLM(openstackFencing(), moved)
	withSetting := RenderDLM(DLMOptions{Fencing: FencingDLM, Settings: map[string]string{"post_join_delay": "10"}}, dlmNodes(2))
	off := RenderDLM(DLMOptions{Fencing: FencingOff}, dlmNodes(2))
	for _, tc := range []struct {
		name          string
		before, after []byte
		members       []int
		want          Restart
		reasons       []string
	}{
		{"the same file", three, three, []int{1, 2, 3}, RestartNone, nil},
		{"no file, dlm's own fencing: dlm's defaults", nil, dlmOnly, []int{1, 2}, RestartNone, nil},
		{"no file, openstack fencing", nil, two, []int{1, 2}, RestartRequired, []string{"the fence device changes",
			"the fencing of running node 1 changes", "the fencing of running node 2 changes"}},
		{"dlm's own fencing to openstack on a running cluster", dlmOnly, two, []int{1, 2}, RestartRequired,
			[]string{"the fence device changes", "the fencing of running node 1 changes", "the fencing of running node 2 changes"}},
		{"fencing turned off", dlmOnly, off, []int{1, 2}, RestartRequired, []string{"enable_fencing changes from 1 to 0"}},
		// a new node's connect line is read when it joins; node1 loses its
		// delay, which the running daemons keep until they restart: harmless
		{"a third node joins a two-node cluster", two, three, []int{1, 2}, RestartDeferred,
			[]string{"the fencing delay of running node 1 changes"}},
		{"a fourth node's line, the three running ones unchanged", three, three, []int{1, 2, 3}, RestartNone, nil},
		{"a node not running yet gets its line", RenderDLM(openstackFencing(), dlmNodes(3)[:2]), three, []int{1, 2}, RestartDeferred,
			[]string{"the fencing delay of running node 1 changes"}},
		{"a running node's server changes", three, movedThree, []int{1, 2, 3}, RestartRequired,
			[]string{"the fencing of running node 2 changes"}},
		{"nothing runs: nothing to restart", dlmOnly, two, nil, RestartRequired, []string{"the fence device changes"}},
		{"a setting dlm reads at start", dlmOnly, withSetting, []int{1, 2}, RestartDeferred, []string{"setting post_join_delay changes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reasons := DLMRestart(tc.before, tc.after, tc.members)
			if got != tc.want {
				t.Errorf("restart %s (%q), want %s", got, reasons, tc.want)
			}
			if tc.reasons != nil && !reflect.DeepEqual(reasons, tc.reasons) {
				t.Errorf("reasons %q, want %q", reasons, tc.reasons)
			}
		})
	}
}

// A three-node cluster in which node3 has not joined yet: only node3's line
// is new, and it is read when node3 joins.
func TestDLMRestartNewNodeOnly(t *testing.T) {
	threeNoDelay := RenderDLM(openstackFencing(), dlmNodes(3))
	before := strings.Replace(string(threeNoDelay), "connect nova node=3 plug="+server3+"\n", "", 1)
	got, reasons := DLMRestart([]byte(before), threeNoDelay, []int{1, 2})
	if got != RestartNone {
		t.Errorf("restart %s (%q), want none: node3's line is read when it joins", got, reasons)
	}
}

func dlmArgs(path string, fencing map[string]any, nodes ...map[string]any) map[string]any {
	var list []any
	for _, n := range nodes {
		list = append(list, n)
	}
	return map[string]any{"stack": "dlm", "path": path, "cluster_name": "gfs2lab", "nodes": list, "dlm": fencing}
}

func dlmNode(name string, id int, server string) map[string]any {
	return map[string]any{"name": name, "address": "192.168.100.1" + name[len(name)-1:], "id": id, "server_id": server}
}

func TestModuleDLM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dlm", "dlm.conf")
	fencing := map[string]any{"fencing": "openstack", "members": []any{"node1", "node2"}}
	args := dlmArgs(path, fencing, dlmNode("node1", 1, server1), dlmNode("node2", 2, server2))

	args["_ansible_check_mode"] = true
	res, code := run(t, args)
	if code != 0 || res["changed"] != true || res["restart"] != "required" {
		t.Fatalf("check mode: exit %d, %v", code, res)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("check mode wrote %s", path)
	}
	delete(args, "_ansible_check_mode")
	if res, code = run(t, args); code != 0 || res["changed"] != true {
		t.Fatalf("write: exit %d, %v", code, res)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "connect nova node=2 plug="+server2+"\n") {
		t.Fatalf("written file (%v):\n%s", err, data)
	}
	if res, _ = run(t, args); res["changed"] != false || res["restart"] != "none" || len(res["restart_reasons"].([]any)) != 0 {
		t.Errorf("again: %v", res)
	}
}

func TestModuleDLMRefusesBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dlm.conf")
	for _, tc := range []struct {
		name string
		args map[string]any
		want []string
	}{
		{"openstack fencing without a server id",
			dlmArgs(path, map[string]any{"fencing": "openstack"}, dlmNode("node1", 1, server1), dlmNode("node2", 2, "")),
			[]string{`node node2: fencing openstack needs its Nova server ID (server_id, a UUID), got ""`}},
		{"a name is not a server id",
			dlmArgs(path, map[string]any{"fencing": "openstack"}, dlmNode("node1", 1, "node1")),
			[]string{`got "node1"`}},
		{"no id", dlmArgs(path, map[string]any{}, map[string]any{"name": "node1", "address": "192.168.100.11"}),
			[]string{"node node1: stack dlm needs the node's corosync id"}},
		{"enable_fencing through the options",
			dlmArgs(path, map[string]any{"options": map[string]any{"enable_fencing": 0}}, dlmNode("node1", 1, "")),
			[]string{`dlm.options: "enable_fencing" is not a dlm.conf setting`}},
		{"bad timeout and delay",
			dlmArgs(path, map[string]any{"fencing": "openstack", "fence_timeout": 0, "fence_delay": 601}, dlmNode("node1", 1, server1)),
			[]string{"dlm.fence_timeout must be 1 to 3600 seconds, got 0", "dlm.fence_delay must be 0 to 600 seconds, got 601"}},
		{"no dlm option", map[string]any{"stack": "dlm", "path": path, "cluster_name": "x", "nodes": []any{dlmNode("node1", 1, "")}},
			[]string{"stack dlm needs option dlm"}},
		{"dlm options for corosync",
			map[string]any{"stack": "corosync", "path": path, "cluster_name": "x", "dlm": map[string]any{},
				"nodes": []any{dlmNode("node1", 1, server1)}},
			[]string{"dlm applies to stack dlm only", "node node1: server_id applies to stack dlm only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, code := run(t, tc.args)
			msg, _ := res["msg"].(string)
			if code == 0 || res["changed"] != false {
				t.Fatalf("exit %d: %v", code, res)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("msg %q lacks %q", msg, want)
				}
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s was written", path)
			}
		})
	}
}
