package clusterstate

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command/commandtest"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

const mountinfo = `22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 253:16 / /mnt/gfs2 rw,noatime shared:20 - gfs2 /dev/vdb rw,lockproto=lock_dlm,locktable=lab:gfs2
`

// root is a node's file system: mountinfo, an authkey, o2cb's configfs.
func root(t *testing.T, mounts string, key []byte, registered ...string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(path string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", []byte(mounts), 0o444)
	if key != nil {
		write("etc/corosync/authkey", key, 0o400)
	}
	for _, n := range registered {
		if err := os.MkdirAll(filepath.Join(dir, "sys/kernel/config/cluster/lab/node", n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func systemctl(unit, active, enabled string) []commandtest.Call {
	is := func(verb, answer string) commandtest.Call {
		c := commandtest.Expect("systemctl", verb, unit+".service").Prints(answer + "\n")
		if answer != verb[3:] { // is-active → active, is-enabled → enabled
			c = c.Fails(3, "")
		}
		return c
	}
	return []commandtest.Call{is("is-active", active), is("is-enabled", enabled)}
}

const totem = `totem.cluster_name (str) = lab
totem.crypto_cipher (str) = aes256
totem.transport (str) = knet
totem.version (u32) = 2
`

const nodelist = `nodelist.node.0.name (str) = node1
nodelist.node.0.nodeid (u32) = 1
nodelist.node.0.ring0_addr (str) = 192.168.100.11
nodelist.node.1.name (str) = node2
nodelist.node.1.nodeid (u32) = 2
`

func runModule(t *testing.T, s System, args map[string]any) (map[string]any, int) {
	t.Helper()
	data, _ := json.Marshal(args)
	path := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := module.Execute(context.Background(), "cluster_state", []string{path}, &out, Spec,
		func(ctx context.Context, req *module.Request) (*module.Result, error) { return run(ctx, req, s) })
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	return res, code
}

func owner(kind string, id uint32) string { return "root" }

func TestReadCorosyncRunning(t *testing.T) {
	calls := append(systemctl("corosync", "active", "enabled"), systemctl("dlm", "active", "disabled")...)
	calls = append(calls, commandtest.Expect("corosync-cmapctl", "-b", "totem").Prints(totem),
		commandtest.Expect("corosync-cmapctl", "-b", "nodelist.node").Prints(nodelist))
	s := System{Runner: commandtest.New(t, calls...), Root: root(t, mountinfo, []byte("key")), Owner: owner}
	res, code := runModule(t, s, map[string]any{"stack": "corosync", "mount_point": "/mnt/gfs2/", "cluster_name": "lab",
		"nodes": []any{"node1", "node2", "node3"}, "transport": "knet", "_ansible_check_mode": true})
	if code != 0 {
		t.Fatalf("exit %d: %v", code, res)
	}
	want := map[string]any{
		"changed":  false,
		"services": map[string]any{"corosync": map[string]any{"active": true, "enabled": true}, "dlm": map[string]any{"active": true, "enabled": false}},
		"corosync": map[string]any{"cluster_name": "lab", "transport": "knet", "nodes": []any{"node1", "node2"}},
		"authkey": map[string]any{"sha1": "a62f2225bf70bfaccbc7f1ef2a397836717377de", "mode": "400",
			"owner": "root", "group": "root"},
		"mounted":          "gfs2",
		"corosync_action":  "reload",
		"corosync_reasons": []any{"it gains node(s) node3"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(res[k], v) {
			t.Errorf("%s: %#v, want %#v", k, res[k], v)
		}
	}
}

func TestReadCorosyncStopped(t *testing.T) {
	calls := append(systemctl("corosync", "inactive", "disabled"), systemctl("dlm", "inactive", "disabled")...)
	s := System{Runner: commandtest.New(t, calls...), Root: root(t, "", nil), Owner: owner}
	res, code := runModule(t, s, map[string]any{"stack": "corosync", "mount_point": "/mnt/gfs2", "cluster_name": "lab"})
	if code != 0 || res["corosync_action"] != "start" || res["mounted"] != "" {
		t.Fatalf("exit %d: %v", code, res)
	}
	if k := res["authkey"].(map[string]any); k["sha1"] != "" {
		t.Errorf("no authkey file, yet %v", k)
	}
	if c := res["corosync"].(map[string]any); c["cluster_name"] != "" || len(c["nodes"].([]any)) != 0 {
		t.Errorf("corosync does not run, yet %v", c)
	}
}

func TestReadO2CB(t *testing.T) {
	s := System{Runner: commandtest.New(t, systemctl("o2cb", "active", "enabled")...),
		Root: root(t, strings.ReplaceAll(mountinfo, "gfs2", "ocfs2"), nil, "node2", "node1"), Owner: owner}
	res, code := runModule(t, s, map[string]any{"stack": "o2cb", "mount_point": "/mnt/ocfs2", "cluster_name": "lab"})
	if code != 0 || res["mounted"] != "ocfs2" || !reflect.DeepEqual(res["registered"], []any{"node1", "node2"}) {
		t.Fatalf("exit %d: %v", code, res)
	}
	if _, ok := res["corosync_action"]; ok {
		t.Errorf("o2cb has no corosync action: %v", res)
	}
}

func TestReadFailsWithTheCommand(t *testing.T) {
	s := System{Runner: commandtest.New(t, commandtest.Expect("systemctl", "is-active", "o2cb.service").Missing()),
		Root: root(t, "", nil), Owner: owner}
	res, code := runModule(t, s, map[string]any{"stack": "o2cb", "mount_point": "/mnt/ocfs2", "cluster_name": "lab"})
	if code == 0 || !strings.Contains(res["msg"].(string), "read the state of o2cb: systemctl is-active o2cb.service") {
		t.Fatalf("exit %d: %v", code, res)
	}
}

func TestBadInput(t *testing.T) {
	for _, args := range []map[string]any{
		{"stack": "o2cb", "mount_point": "/mnt", "cluster_name": "lab", "nodes": []any{"a"}},
		{"stack": "o2cb", "mount_point": "/mnt", "cluster_name": "../etc"},
	} {
		res, code := runModule(t, System{Runner: commandtest.New(t), Owner: owner}, args)
		if code == 0 {
			t.Errorf("%v: accepted: %v", args, res)
		}
	}
}

func TestPlanCorosync(t *testing.T) {
	running := func(name, transport string, nodes ...string) Have {
		return Have{Services: map[string]Service{"corosync": {Active: true}},
			Corosync: &Corosync{ClusterName: name, Transport: transport, Nodes: nodes}}
	}
	want := Want{ClusterName: "lab", Transport: "knet", Nodes: []string{"node1", "node2"}}
	for _, tc := range []struct {
		name    string
		have    Have
		want    func(Want) Want
		action  Action
		reasons []string
	}{
		{"not running", Have{Services: map[string]Service{}}, nil, Start, []string{"corosync does not run"}},
		{"as asked", running("lab", "knet", "node1", "node2"), nil, None, []string{}},
		{"Debian's one-node default", running("debian", "knet", "node1"), nil, Restart,
			[]string{`it runs cluster "debian", not "lab"`}},
		{"a new key", running("lab", "knet", "node1", "node2"), func(w Want) Want { w.KeyChanges = true; return w },
			Restart, []string{"its authkey changes"}},
		{"another transport", running("lab", "udpu", "node1", "node2"), nil, Restart,
			[]string{"its transport changes from udpu to knet"}},
		{"a node removed", running("lab", "knet", "node1", "node2", "node3"), nil, Restart,
			[]string{"it would lose node(s) node3"}},
		{"a node added", running("lab", "knet", "node1"), nil, Reload, []string{"it gains node(s) node2"}},
		{"the file changed", running("lab", "knet", "node1", "node2"), func(w Want) Want { w.ConfChanged = true; return w },
			Reload, []string{"corosync.conf changed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := want
			if tc.want != nil {
				w = tc.want(w)
			}
			action, reasons := PlanCorosync(tc.have, w)
			if action != tc.action || !reflect.DeepEqual(reasons, tc.reasons) {
				t.Errorf("%s %q, want %s %q", action, reasons, tc.action, tc.reasons)
			}
		})
	}
}
