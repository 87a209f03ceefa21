package lab

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const moleculeYML = `
driver:
  name: default
platforms:
  - name: node1
    groups: [cluster_nodes]
  - name: node2
    groups: [cluster_nodes]
    children: [spare]
  - name: lonely
provisioner:
  name: ansible
  connection_options:
    ansible_python_interpreter: /usr/bin/python3
`

func TestMoleculeInventory(t *testing.T) {
	var c MoleculeConfig
	if err := yaml.Unmarshal([]byte(moleculeYML), &c); err != nil {
		t.Fatal(err)
	}
	// What create.yml wrote through `lab instance-config`.
	ic, err := InstanceConfigYAML(&State{PortBase: 22000, Image: "/img", Nodes: []Node{{1, "node1"}, {2, "node2"}}})
	if err != nil {
		t.Fatal(err)
	}
	var instances []map[string]any
	if err := yaml.Unmarshal(ic, &instances); err != nil {
		t.Fatal(err)
	}
	inv := c.MoleculeInventory(instances)
	node1 := map[string]any{
		"ansible_host": "127.0.0.1", "ansible_port": "22001", "ansible_user": "root",
		"ansible_connection":         "smart",
		"ansible_private_key_file":   "/img/id_ed25519",
		"ansible_python_interpreter": "/usr/bin/python3",
		"ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o ControlMaster=auto -o ControlPersist=60s " +
			"-o ForwardX11=no -o LogLevel=ERROR -o IdentitiesOnly=yes -o StrictHostKeyChecking=no",
	}
	all := inv["all"].(map[string]any)
	if got := all["hosts"].(map[string]any)["node1"]; !reflect.DeepEqual(got, node1) {
		t.Errorf("node1 = %v\nwant %v", got, node1)
	}
	if !reflect.DeepEqual(all["vars"], moleculeVars) {
		t.Errorf("all vars = %v", all["vars"])
	}
	cluster := inv["cluster_nodes"].(map[string]any)
	if hosts := cluster["hosts"].(map[string]any); len(hosts) != 2 || hosts["node2"].(map[string]any)["ansible_port"] != "22002" {
		t.Errorf("cluster_nodes hosts = %v", hosts)
	}
	spare := cluster["children"].(map[string]any)["spare"].(map[string]any)["hosts"].(map[string]any)
	if _, ok := spare["node2"]; !ok || len(spare) != 1 {
		t.Errorf("children spare = %v", spare)
	}
	// Not created yet: in the inventory, with no connection but the
	// provisioner's options.
	ungrouped := inv["ungrouped"].(map[string]any)
	lonely := ungrouped["hosts"].(map[string]any)["lonely"]
	if !reflect.DeepEqual(lonely, map[string]any{"ansible_python_interpreter": "/usr/bin/python3"}) {
		t.Errorf("lonely = %v", lonely)
	}
	// Molecule sets ungrouped's vars to {} after each platform, its own too.
	if !reflect.DeepEqual(ungrouped["vars"], map[string]any{}) {
		t.Errorf("ungrouped vars = %v", ungrouped["vars"])
	}
}

func TestMoleculeConnectionOptionsPasswordAndCustomSSH(t *testing.T) {
	var c MoleculeConfig
	c.Driver.SSHConnectionOptions = []string{"-o A=1"}
	got := c.connectionOptions(map[string]any{"instance": "x", "address": "h", "user": "u", "port": "2",
		"identity_file": "/k", "password": "p", "become_method": "sudo", "connection": "ssh"})
	want := map[string]any{"ansible_host": "h", "ansible_user": "u", "ansible_port": "2", "ansible_private_key_file": "/k",
		"ansible_ssh_common_args": "-o A=1", "ansible_password": "p", "ansible_ssh_pass": "p",
		"ansible_become_method": "sudo", "ansible_connection": "ssh"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("connection options = %v\nwant %v", got, want)
	}
}

func TestChangedTasks(t *testing.T) {
	out := `
PLAY [Converge] ****
TASK [Gathering Facts] ****
ok: [node1]
ok: [node2]
TASK [cinder.multiattach.gfs2 : Write corosync.conf] ****
ok: [node1]
changed: [node2]
RUNNING HANDLER [cinder.multiattach.gfs2 : Reload corosync] ****
changed: [node1]
PLAY RECAP ****
node1 : ok=3 changed=1 unreachable=0 failed=0
node2 : ok=3 changed=1 unreachable=0 failed=0
`
	got := ChangedTasks(out)
	want := []string{"cinder.multiattach.gfs2 : Write corosync.conf (node2)", "cinder.multiattach.gfs2 : Reload corosync (node1)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChangedTasks = %q, want %q", got, want)
	}
	clean := strings.NewReplacer("changed: [node2]", "ok: [node2]", "changed: [node1]", "ok: [node1]", "changed=1", "changed=0").Replace(out)
	if got := ChangedTasks(clean); len(got) != 0 {
		t.Errorf("an idempotent run reported %q", got)
	}
	if got := ChangedTasks("PLAY RECAP\nnode1 : ok=3 changed=2 failed=0\n"); len(got) != 1 {
		t.Errorf("changes seen only in the recap must count: %q", got)
	}
}

func TestAnsibleCfg(t *testing.T) {
	got := ansibleCfg(map[string]map[string]any{"ssh_connection": {"scp_if_ssh": "True"}, "defaults": {"forks": 50, "nocows": 1}})
	want := "[defaults]\nforks = 50\nnocows = 1\n[ssh_connection]\nscp_if_ssh = True\n"
	if got != want {
		t.Errorf("ansible.cfg = %q, want %q", got, want)
	}
}
