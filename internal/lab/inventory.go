package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/atomicfile"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// HostVars are the variables of one node in the lab's inventory: how
// Ansible reaches it, and the cluster contract (docs/DEVELOPING.md).
type HostVars struct {
	AnsibleHost     string `yaml:"ansible_host" json:"ansible_host"`
	AnsiblePort     int    `yaml:"ansible_port" json:"ansible_port"`
	AnsibleUser     string `yaml:"ansible_user" json:"ansible_user"`
	PrivateKeyFile  string `yaml:"ansible_ssh_private_key_file" json:"ansible_ssh_private_key_file"`
	SSHCommonArgs   string `yaml:"ansible_ssh_common_args" json:"ansible_ssh_common_args"`
	PythonInterp    string `yaml:"ansible_python_interpreter" json:"ansible_python_interpreter"`
	ClusterAddress  string `yaml:"cluster_address" json:"cluster_address"`
	ClusterServerID string `yaml:"cluster_server_id" json:"cluster_server_id"`
	ClusterDevice   string `yaml:"cluster_device,omitempty" json:"cluster_device,omitempty"`
	ClusterVolumeID string `yaml:"cluster_volume_id,omitempty" json:"cluster_volume_id,omitempty"`
}

// ClusterGroup is the inventory group of the cluster nodes.
const ClusterGroup = "cluster_nodes"

// SSHCommonArgs are ssh options for Ansible: those of SSHOptions, plus
// keepalives so that a killed node fails its tasks instead of hanging them.
func SSHCommonArgs() string {
	var b []string
	for i := 1; i < len(vm.SSHOptions); i += 2 {
		b = append(b, "-o "+vm.SSHOptions[i])
	}
	b = append(b, "-o ServerAliveInterval=5", "-o ServerAliveCountMax=6")
	return strings.Join(b, " ")
}

// HostVarsOf is the inventory entry of node n of the lab in dir.
// cluster_device is the first volume attached to the node (the shared
// one), absent when it has none; cluster_server_id is its server in the
// lab's Nova (ServerID), known before that Nova runs.
func HostVarsOf(st *State, dir string, n Node) HostVars {
	hv := HostVars{
		AnsibleHost:     "127.0.0.1",
		AnsiblePort:     st.SSHPort(n),
		AnsibleUser:     "root",
		PrivateKeyFile:  image.Image{Dir: st.Image}.Key(),
		SSHCommonArgs:   SSHCommonArgs(),
		PythonInterp:    "/usr/bin/python3",
		ClusterAddress:  ClusterAddress(n.Index),
		ClusterServerID: ServerID(dir, n.Name),
	}
	if vols := st.VolumesOf(n.Name); len(vols) > 0 {
		hv.ClusterDevice = volume.ByIDPath(vols[0].ID)
		hv.ClusterVolumeID = vols[0].ID
	}
	return hv
}

// InventoryYAML is the lab's Ansible inventory: every node in the group
// cluster_nodes, named as its `uname -n`.
func InventoryYAML(st *State, labDir string) ([]byte, error) {
	hosts := map[string]HostVars{}
	for _, n := range st.Nodes {
		hosts[n.Name] = HostVarsOf(st, labDir, n)
	}
	inv := map[string]any{"all": map[string]any{"children": map[string]any{
		ClusterGroup: map[string]any{"hosts": hosts},
	}}}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Ansible inventory of the lab in %s, written by `lab`: do not edit.\n", labDir)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	return b.Bytes(), nil
}

// InventoryJSON is the same inventory in the form Ansible's script
// inventory plugin reads (`--list`).
func InventoryJSON(st *State, labDir string) ([]byte, error) {
	hostvars := map[string]HostVars{}
	names := []string{}
	for _, n := range st.Nodes {
		hostvars[n.Name] = HostVarsOf(st, labDir, n)
		names = append(names, n.Name)
	}
	inv := map[string]any{
		"_meta":      map[string]any{"hostvars": hostvars},
		"all":        map[string]any{"children": []string{ClusterGroup}},
		ClusterGroup: map[string]any{"hosts": names},
	}
	return json.MarshalIndent(inv, "", "  ")
}

// InstanceConfig is one entry of Molecule's instance config, as the
// default (delegated) driver reads it.
type InstanceConfig struct {
	Instance     string `yaml:"instance"`
	Address      string `yaml:"address"`
	User         string `yaml:"user"`
	Port         string `yaml:"port"`
	IdentityFile string `yaml:"identity_file"`
}

// InstanceConfigYAML is Molecule's instance_config.yml for the lab's nodes.
func InstanceConfigYAML(st *State) ([]byte, error) {
	list := []InstanceConfig{}
	for _, n := range st.Nodes {
		list = append(list, InstanceConfig{
			Instance:     n.Name,
			Address:      "127.0.0.1",
			User:         "root",
			Port:         fmt.Sprint(st.SSHPort(n)),
			IdentityFile: image.Image{Dir: st.Image}.Key(),
		})
	}
	b, err := yaml.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("encode instance config: %w", err)
	}
	return b, nil
}

// WriteInventory refreshes the inventory file, and Molecule's instance
// config when one was asked for.
func (l *Lab) WriteInventory(st *State) error {
	b, err := InventoryYAML(st, l.Dir)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(l.InventoryPath(), b, 0o644); err != nil {
		return err
	}
	if st.InstanceConfig == "" {
		return nil
	}
	b, err = InstanceConfigYAML(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(st.InstanceConfig, b, 0o644)
}

// WriteInstanceConfig writes Molecule's instance config to path now and
// after every later change of the lab's nodes.
func (l *Lab) WriteInstanceConfig(ctx context.Context, path string) error {
	st, unlock, err := l.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st.InstanceConfig = absPath(path)
	if err := saveState(l.statePath(), st); err != nil {
		return err
	}
	return l.WriteInventory(st)
}
