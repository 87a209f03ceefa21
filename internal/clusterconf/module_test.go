package clusterconf

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

type result map[string]any

// run executes the module as Ansible would: an args file, one JSON object out.
func run(t *testing.T, args map[string]any) (result, int) {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	argsFile := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(argsFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := module.Execute(context.Background(), "cluster_conf", []string{argsFile}, &out, Spec, Run)
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	return res, code
}

func nodesArg(names ...string) []any {
	var out []any
	for i, n := range names {
		out = append(out, map[string]any{"name": n, "address": "192.168.100." + string(rune('1'+i))})
	}
	return out
}

func corosyncArgs(path string, nodes []any) map[string]any {
	return map[string]any{"stack": "corosync", "path": path, "cluster_name": "gfs2lab", "nodes": nodes}
}

func names(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestModuleCreateThenUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corosync", "corosync.conf")
	res, code := run(t, corosyncArgs(path, nodesArg("node1", "node2")))
	if code != 0 || res["changed"] != true {
		t.Fatalf("first run: %v", res)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("new file mode: %v %v", fi, err)
	}
	if got := strings.Join(names(res["added"]), ","); got != "node1,node2" {
		t.Errorf("added = %s", got)
	}
	content, _ := os.ReadFile(path)
	if !strings.Contains(string(content), "two_node: 1") || !strings.Contains(string(content), "crypto_cipher: aes256") {
		t.Errorf("content:\n%s", content)
	}

	nodes := nodesArg("node1", "node2")
	res, code = run(t, corosyncArgs(path, []any{nodes[1], nodes[0]}))
	if code != 0 || res["changed"] != false || len(res["added"].([]any)) != 0 || len(res["removed"].([]any)) != 0 {
		t.Errorf("second run (nodes reordered) must be unchanged: %v", res)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(content, after) {
		t.Error("unchanged run rewrote the file")
	}
}

func TestModuleAddNodeKeepsIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.conf")
	args := map[string]any{"stack": "o2cb", "path": path, "cluster_name": "ocfs2lab", "nodes": nodesArg("node1", "node2")}
	if res, code := run(t, args); code != 0 {
		t.Fatal(res)
	}
	// node3 listed first: the old nodes must keep numbers 0 and 1.
	nodes := nodesArg("node1", "node2", "node3")
	args["nodes"] = []any{nodes[2], nodes[0], nodes[1]}
	res, code := run(t, args)
	if code != 0 || res["changed"] != true {
		t.Fatal(res)
	}
	ids := map[string]float64{}
	for _, n := range res["nodes"].([]any) {
		m := n.(map[string]any)
		ids[m["name"].(string)] = m["id"].(float64)
	}
	if ids["node1"] != 0 || ids["node2"] != 1 || ids["node3"] != 2 {
		t.Errorf("ids = %v", ids)
	}
	if strings.Join(names(res["added"]), ",") != "node3" {
		t.Errorf("added = %v", res["added"])
	}
	content, _ := os.ReadFile(path)
	if !strings.Contains(string(content), "\tnode_count = 3\n") {
		t.Errorf("node_count not updated:\n%s", content)
	}
	if _, err := exec.LookPath("o2cb"); err != nil {
		t.Logf("skipping the check with ocfs2-tools' own parser: o2cb is not installed (%v)", err)
		return
	}
	out, err := exec.Command("o2cb", "--config-file="+path, "list-nodes", "ocfs2lab").CombinedOutput()
	if err != nil || strings.Count(string(out), "node:") != 3 || !strings.Contains(string(out), "name = node3") {
		t.Errorf("o2cb list-nodes rejects the rendered file: %v\n%s", err, out)
	}
}

func TestModuleCheckModeAndDiff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corosync.conf")
	if res, code := run(t, corosyncArgs(path, nodesArg("node1", "node2"))); code != 0 {
		t.Fatal(res)
	}
	before, _ := os.ReadFile(path)
	args := corosyncArgs(path, nodesArg("node1", "node2", "node3"))
	args["_ansible_check_mode"] = true
	args["_ansible_diff"] = true
	res, code := run(t, args)
	if code != 0 || res["changed"] != true {
		t.Fatalf("check mode: %v", res)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("check mode changed the file")
	}
	diff := res["diff"].(map[string]any)
	if diff["before"] != string(before) || !strings.Contains(diff["after"].(string), "name: node3") || strings.Contains(diff["after"].(string), "two_node") {
		t.Errorf("diff = %v", diff)
	}
	if diff["before_header"] != path+" (before)" {
		t.Errorf("before_header = %v", diff["before_header"])
	}

	// Check mode on a missing file: changed, nothing created.
	missing := filepath.Join(t.TempDir(), "new", "corosync.conf")
	args = corosyncArgs(missing, nodesArg("node1"))
	args["_ansible_check_mode"] = true
	res, _ = run(t, args)
	if res["changed"] != true {
		t.Errorf("check mode on a missing file: %v", res)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Error("check mode created the directory")
	}
}

func TestModuleBackupAndOwnership(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corosync.conf")
	if err := os.WriteFile(path, []byte("# hand-made\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 4321, 4322); err != nil {
			t.Fatal(err)
		}
	}
	args := corosyncArgs(path, nodesArg("node1", "node2"))
	args["backup"] = true
	res, code := run(t, args)
	if code != 0 || res["changed"] != true {
		t.Fatal(res)
	}
	backup, _ := res["backup_file"].(string)
	if data, err := os.ReadFile(backup); err != nil || string(data) != "# hand-made\n" {
		t.Errorf("backup %q: %q %v", backup, data, err)
	}
	if !strings.HasPrefix(filepath.Base(backup), "corosync.conf.") || !strings.HasSuffix(backup, "~") {
		t.Errorf("backup name %q", backup)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v", fi.Mode())
	}
	if os.Geteuid() == 0 {
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 4321 || st.Gid != 4322 {
			t.Errorf("owner not kept: %d:%d", st.Uid, st.Gid)
		}
	} else {
		t.Log("not root: owner preservation not checked")
	}
	// Unchanged run: no new backup.
	res, _ = run(t, args)
	if _, ok := res["backup_file"]; ok || res["changed"] != false {
		t.Errorf("unchanged run made a backup: %v", res)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("want the file and one backup, got %d entries", len(entries))
	}
}

func TestModuleUnparseableFileReplacedWithWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corosync.conf")
	if err := os.WriteFile(path, []byte("totem {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, code := run(t, corosyncArgs(path, nodesArg("node1")))
	if code != 0 || res["changed"] != true {
		t.Fatal(res)
	}
	w, _ := res["warnings"].([]any)
	if len(w) != 1 || !strings.Contains(w[0].(string), "could not be parsed") {
		t.Errorf("warnings = %v", w)
	}
}

func TestModuleBadInputLeavesFileUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corosync.conf")
	if res, code := run(t, corosyncArgs(path, nodesArg("node1", "node2"))); code != 0 {
		t.Fatal(res)
	}
	before, _ := os.ReadFile(path)
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"duplicate name", func(a map[string]any) {
			a["nodes"] = append(nodesArg("node1", "node2"), map[string]any{"name": "node1", "address": "10.9.9.9"})
		}, "node node1 is listed twice"},
		{"bad address", func(a map[string]any) {
			a["nodes"] = []any{map[string]any{"name": "node1", "address": "300.1.1.1 x"}}
		}, `node node1: address "300.1.1.1 x"`},
		{"bad cluster name", func(a map[string]any) { a["cluster_name"] = "has space" }, `cluster_name "has space"`},
		{"crypto with udpu", func(a map[string]any) { a["transport"] = "udpu"; a["crypto"] = true }, "crypto is not available with transport udpu"},
		{"o2cb option on corosync", func(a map[string]any) { a["ip_port"] = 7777 }, "ip_port applies to stack o2cb only"},
		{"empty nodes", func(a map[string]any) { a["nodes"] = []any{} }, "nodes must list at least one node"},
		{"unknown option", func(a map[string]any) { a["nodez"] = 1 }, "Unsupported parameters for (cluster_conf) module: nodez"},
		{"unknown node key", func(a map[string]any) {
			a["nodes"] = []any{map[string]any{"name": "node1", "address": "10.0.0.1", "nodeid": 3}}
		}, "nodes[0].nodeid"},
		{"bad stack", func(a map[string]any) { a["stack"] = "pacemaker" }, "value of stack must be one of: corosync, o2cb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := corosyncArgs(path, nodesArg("node1", "node2", "node3"))
			args["backup"] = true
			c.edit(args)
			res, code := run(t, args)
			if code != 1 || res["changed"] != false || !strings.Contains(res["msg"].(string), c.want) {
				t.Errorf("got code %d %v, want msg containing %q", code, res, c.want)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the file changed")
			}
		})
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("failed runs left files behind: %d entries", len(entries))
	}
}

func TestModuleO2CBOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.conf")
	args := map[string]any{"stack": "o2cb", "path": path, "cluster_name": "lab", "nodes": nodesArg("node1"), "ip_port": "7000"}
	if res, code := run(t, args); code != 0 {
		t.Fatal(res)
	}
	content, _ := os.ReadFile(path)
	if !strings.Contains(string(content), "\tip_port = 7000\n") {
		t.Errorf("content:\n%s", content)
	}
	for opt, val := range map[string]any{"transport": "knet", "crypto": false, "ip_port": 70000} {
		a := map[string]any{"stack": "o2cb", "path": path, "cluster_name": "lab", "nodes": nodesArg("node1"), opt: val}
		res, code := run(t, a)
		if code != 1 || !strings.Contains(res["msg"].(string), opt) {
			t.Errorf("%s=%v: %v", opt, val, res)
		}
	}
}

func TestModuleUdpuWithoutCrypto(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corosync.conf")
	args := corosyncArgs(path, nodesArg("node1", "node2", "node3"))
	args["transport"] = "udpu"
	if res, code := run(t, args); code != 0 {
		t.Fatal(res)
	}
	content, _ := os.ReadFile(path)
	if !strings.Contains(string(content), "transport: udpu") || !strings.Contains(string(content), "crypto_cipher: none") {
		t.Errorf("content:\n%s", content)
	}
}

func TestModuleUnreadablePath(t *testing.T) {
	dir := t.TempDir()
	res, code := run(t, corosyncArgs(dir, nodesArg("node1")))
	if code != 1 || !strings.Contains(res["msg"].(string), dir) {
		t.Errorf("a directory as path: %v", res)
	}
}

func TestDefaultPaths(t *testing.T) {
	for stack, want := range map[string]string{"corosync": "/etc/corosync/corosync.conf", "o2cb": "/etc/ocfs2/cluster.conf"} {
		req, err := module.DecodeArgs("cluster_conf", []byte(`{"stack":"`+stack+`","cluster_name":"c","nodes":[{"name":"a","address":"10.0.0.1"}]}`), Spec)
		if err != nil {
			t.Fatal(err)
		}
		c, err := WantFromParams(req.Params)
		if err != nil || c.Path != want {
			t.Errorf("%s: path %q %v", stack, c.Path, err)
		}
	}
}

// The plan alone decides, without I/O, whether a file is backed up: only
// one that exists.
func TestPlanFileBacksUpOnlyAnExistingFile(t *testing.T) {
	w := Want{Stack: Corosync, Path: "/x/corosync.conf", ClusterName: "lab", Transport: "knet", Crypto: true, Backup: true,
		Nodes: []NodeRequest{{Name: "node1", Address: "192.168.100.1"}}}
	p, err := PlanFile(Have{}, w)
	if err != nil || p.Backup || !p.Changed() || p.Path != w.Path {
		t.Errorf("no file: plan %+v, %v", p, err)
	}
	p, err = PlanFile(Have{Content: p.After}, w)
	if err != nil || !p.Backup || p.Changed() {
		t.Errorf("same file: plan %+v, %v", p, err)
	}
	w.Backup = false
	if p, _ = PlanFile(Have{Content: []byte("totem {}\n")}, w); p.Backup {
		t.Error("backup: false backs up")
	}
}
