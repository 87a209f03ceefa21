package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/atomicfile"
)

// MoleculeConfig is the part of a scenario's molecule.yml that decides what
// Molecule runs and the inventory it generates.
type MoleculeConfig struct {
	Driver struct {
		Name    string `yaml:"name"`
		Options struct {
			AnsibleConnectionOptions map[string]any `yaml:"ansible_connection_options"`
		} `yaml:"options"`
		SSHConnectionOptions []string `yaml:"ssh_connection_options"`
	} `yaml:"driver"`
	Dependency struct {
		Name    string `yaml:"name"`
		Enabled *bool  `yaml:"enabled"`
	} `yaml:"dependency"`
	Platforms []struct {
		Name     string   `yaml:"name"`
		Groups   []string `yaml:"groups"`
		Children []string `yaml:"children"`
	} `yaml:"platforms"`
	Provisioner struct {
		Env               map[string]string         `yaml:"env"`
		Options           map[string]any            `yaml:"options"`
		AnsibleArgs       []string                  `yaml:"ansible_args"`
		ConfigOptions     map[string]map[string]any `yaml:"config_options"`
		ConnectionOptions map[string]any            `yaml:"connection_options"`
		Inventory         struct {
			Hosts     map[string]any            `yaml:"hosts"`
			HostVars  map[string]map[string]any `yaml:"host_vars"`
			GroupVars map[string]map[string]any `yaml:"group_vars"`
			Links     map[string]string         `yaml:"links"`
		} `yaml:"inventory"`
		Playbooks map[string]string `yaml:"playbooks"`
	} `yaml:"provisioner"`
	Verifier struct {
		Name string            `yaml:"name"`
		Env  map[string]string `yaml:"env"`
	} `yaml:"verifier"`
	Scenario struct {
		TestSequence []string `yaml:"test_sequence"`
	} `yaml:"scenario"`
}

// MoleculeTestSequence is Molecule 6's default `molecule test` sequence.
var MoleculeTestSequence = []string{"dependency", "cleanup", "destroy", "syntax", "create", "prepare",
	"converge", "idempotence", "side_effect", "verify", "cleanup", "destroy"}

// moleculeSSHOptions are the ssh options Molecule's default driver gives
// Ansible for instances with an identity file.
var moleculeSSHOptions = []string{
	"-o UserKnownHostsFile=/dev/null", "-o ControlMaster=auto", "-o ControlPersist=60s",
	"-o ForwardX11=no", "-o LogLevel=ERROR", "-o IdentitiesOnly=yes", "-o StrictHostKeyChecking=no",
}

// moleculeVars are the variables Molecule puts on every group.
var moleculeVars = map[string]any{
	"molecule_file":                "{{ lookup('env', 'MOLECULE_FILE') }}",
	"molecule_ephemeral_directory": "{{ lookup('env', 'MOLECULE_EPHEMERAL_DIRECTORY') }}",
	"molecule_scenario_directory":  "{{ lookup('env', 'MOLECULE_SCENARIO_DIRECTORY') }}",
	"molecule_yml":                 "{{ lookup('file', molecule_file) | from_yaml }}",
	"molecule_instance_config":     "{{ lookup('env', 'MOLECULE_INSTANCE_CONFIG') }}",
	"molecule_no_log":              "{{ lookup('env', 'MOLECULE_NO_LOG') or not molecule_yml.provisioner.log|default(False) | bool }}",
}

// connectionOptions are the Ansible variables Molecule's default driver
// derives from one instance's entry in the instance config (nil: the
// instance is not created yet).
func (c *MoleculeConfig) connectionOptions(instance map[string]any) map[string]any {
	d := map[string]any{}
	if instance != nil {
		for _, p := range []struct {
			key string
			def any
		}{{"become_pass", nil}, {"become_method", false}, {"shell_type", nil}, {"connection", "smart"}} {
			v, ok := instance[p.key]
			if !ok || v == nil {
				v = p.def
			}
			if truthy(v) {
				d["ansible_"+p.key] = v
			}
		}
		d["ansible_user"] = instance["user"]
		d["ansible_host"] = instance["address"]
		d["ansible_port"] = instance["port"]
		if truthy(instance["identity_file"]) {
			d["ansible_private_key_file"] = instance["identity_file"]
			opts := c.Driver.SSHConnectionOptions
			if len(opts) == 0 {
				opts = append([]string(nil), moleculeSSHOptions...)
				if extra, ok := c.Driver.Options.AnsibleConnectionOptions["ansible_ssh_common_args"].(string); ok && extra != "" {
					opts = append(opts, extra)
				}
			}
			d["ansible_ssh_common_args"] = strings.Join(opts, " ")
		}
		if truthy(instance["password"]) {
			d["ansible_password"] = instance["password"]
			d["ansible_ssh_pass"] = instance["password"]
		}
	}
	for k, v := range c.Provisioner.ConnectionOptions {
		d[k] = v
	}
	return d
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	default:
		return true
	}
}

// MoleculeInventory is the inventory Molecule generates from the platforms
// and the instance config: every platform in all and in its groups (or
// ungrouped), with its connection variables.
func (c *MoleculeConfig) MoleculeInventory(instances []map[string]any) map[string]any {
	byName := map[string]map[string]any{}
	for _, i := range instances {
		if name, ok := i["instance"].(string); ok {
			byName[name] = i
		}
	}
	inv := map[string]map[string]any{}
	group := func(name string) map[string]any {
		if inv[name] == nil {
			inv[name] = map[string]any{}
		}
		return inv[name]
	}
	hostsOf := func(g map[string]any) map[string]any {
		if g["hosts"] == nil {
			g["hosts"] = map[string]any{}
		}
		return g["hosts"].(map[string]any)
	}
	for _, p := range c.Platforms {
		groups := p.Groups
		if len(groups) == 0 {
			groups = []string{"ungrouped"}
		}
		conn := c.connectionOptions(byName[p.Name])
		for _, gname := range groups {
			all := group("all")
			hostsOf(all)[p.Name] = conn
			all["vars"] = moleculeVars
			g := group(gname)
			hostsOf(g)[p.Name] = conn
			g["vars"] = moleculeVars
			group("ungrouped")["vars"] = map[string]any{}
			for _, child := range p.Children {
				if g["children"] == nil {
					g["children"] = map[string]any{}
				}
				children := g["children"].(map[string]any)
				if children[child] == nil {
					children[child] = map[string]any{"hosts": map[string]any{}}
				}
				children[child].(map[string]any)["hosts"].(map[string]any)[p.Name] = conn
			}
		}
	}
	out := map[string]any{}
	for k, v := range inv {
		out[k] = v
	}
	return out
}

// MoleculeRun runs a scenario as `molecule test` would, without Molecule.
type MoleculeRun struct {
	Project  string // the checkout (Molecule's project directory)
	Scenario string
	Out      io.Writer

	dir       string // molecule/<scenario>
	ephemeral string
	config    *MoleculeConfig
	figures   []string
}

// Test runs the scenario's test sequence. Whatever fails, the scenario is
// cleaned up and destroyed at the end (Molecule's --destroy=always).
func (m *MoleculeRun) Test(ctx context.Context) error {
	m.dir = filepath.Join(m.Project, "molecule", m.Scenario)
	b, err := os.ReadFile(filepath.Join(m.dir, "molecule.yml"))
	if err != nil {
		return fmt.Errorf("scenario %s: %w", m.Scenario, err)
	}
	m.config = &MoleculeConfig{}
	if err := yaml.Unmarshal(b, m.config); err != nil {
		return fmt.Errorf("%s/molecule.yml: %w", m.dir, err)
	}
	if len(m.config.Platforms) == 0 {
		return fmt.Errorf("%s/molecule.yml: Instances missing from the 'platform' section", m.dir)
	}
	m.ephemeral = envOr("MOLECULE_EPHEMERAL_DIRECTORY", filepath.Join(m.Project, ".cache", "molecule", m.Scenario))
	if err := m.prepareEphemeral(); err != nil {
		return err
	}
	if m.playbook("converge") == "" {
		return fmt.Errorf("scenario %s has no converge playbook: %s is missing", m.Scenario, filepath.Join(m.dir, "converge.yml"))
	}
	sequence := m.config.Scenario.TestSequence
	if len(sequence) == 0 {
		sequence = MoleculeTestSequence
	}
	t0 := time.Now()
	var failed error
	created := false
	for i, action := range sequence {
		if failed != nil {
			break
		}
		// The last cleanup and destroy run below, whatever happened.
		if created && (action == "cleanup" || action == "destroy") && onlyTeardownLeft(sequence[i:]) {
			break
		}
		failed = m.action(ctx, action)
		if action == "create" {
			created = true
		}
	}
	if created || failed != nil {
		for _, action := range []string{"cleanup", "destroy"} {
			if err := m.action(context.WithoutCancel(ctx), action); err != nil && failed == nil {
				failed = err
			}
		}
	}
	fmt.Fprintf(m.Out, "\n== molecule %s (seconds) ==\n%s\ntotal %.0f\n", m.Scenario, strings.Join(m.figures, "\n"), time.Since(t0).Seconds())
	return failed
}

func onlyTeardownLeft(rest []string) bool {
	for _, a := range rest {
		if a != "cleanup" && a != "destroy" {
			return false
		}
	}
	return true
}

// playbook is the path of an action's playbook, "" when the scenario has
// none.
func (m *MoleculeRun) playbook(action string) string {
	name := m.config.Provisioner.Playbooks[action]
	if name == "" {
		name = action + ".yml"
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(m.dir, name)
	}
	if _, err := os.Stat(name); err != nil {
		return ""
	}
	return name
}

func (m *MoleculeRun) action(ctx context.Context, action string) error {
	t0 := time.Now()
	fmt.Fprintf(m.Out, "\n== molecule %s: %s ==\n", m.Scenario, action)
	var err error
	note := ""
	switch action {
	case "dependency":
		note = "skipped (nothing to install: the driver links this checkout as the collection)"
	case "syntax":
		err = m.playbookRun(ctx, action, m.playbook("converge"), "--syntax-check")
	case "idempotence":
		err = m.idempotence(ctx)
	case "create", "destroy", "cleanup", "prepare", "converge", "side_effect", "verify":
		pb := m.playbook(action)
		if pb == "" {
			note = fmt.Sprintf("SKIPPED: %s is missing", filepath.Join(m.dir, action+".yml"))
			if action == "create" || action == "destroy" {
				err = fmt.Errorf("%s is missing: the default driver needs it", filepath.Join(m.dir, action+".yml"))
			}
			break
		}
		err = m.playbookRun(ctx, action, pb)
	default:
		note = "not run by this driver"
	}
	if note != "" {
		fmt.Fprintf(m.Out, "molecule %s: %s\n", action, note)
	}
	status := "ok"
	switch {
	case err != nil:
		status = "FAILED"
	case note != "":
		status = note
	}
	m.figures = append(m.figures, fmt.Sprintf("%-12s %6.0f  %s", action, time.Since(t0).Seconds(), status))
	if err != nil {
		return fmt.Errorf("molecule %s: %s: %w", m.Scenario, action, err)
	}
	return nil
}

// idempotence runs converge again: any changed task fails it.
func (m *MoleculeRun) idempotence(ctx context.Context) error {
	var out bytes.Buffer
	if err := m.playbookRunTo(ctx, "idempotence", m.playbook("converge"), io.MultiWriter(m.Out, &out)); err != nil {
		return err
	}
	if changed := ChangedTasks(out.String()); len(changed) > 0 {
		return fmt.Errorf("idempotence test failed: the second converge changed %d task(s):\n  %s", len(changed), strings.Join(changed, "\n  "))
	}
	if !regexp.MustCompile(`(?m)changed=0`).MatchString(out.String()) {
		return errors.New("idempotence test: no play recap in the converge output")
	}
	return nil
}

var (
	taskLine    = regexp.MustCompile(`^(TASK|RUNNING HANDLER) \[(.*)\]`)
	changedLine = regexp.MustCompile(`^changed: \[([^\]]+)\]`)
	recapLine   = regexp.MustCompile(`changed=([1-9][0-9]*)`)
)

// ChangedTasks lists "task (host)" for every changed task in an
// ansible-playbook output; a recap with changes but no task line (a
// callback that hides them) is reported too.
func ChangedTasks(output string) []string {
	var changed []string
	task := ""
	for _, line := range strings.Split(output, "\n") {
		if m := taskLine.FindStringSubmatch(line); m != nil {
			task = m[2]
		} else if m := changedLine.FindStringSubmatch(line); m != nil {
			changed = append(changed, fmt.Sprintf("%s (%s)", task, m[1]))
		}
	}
	if len(changed) == 0 && recapLine.MatchString(output) {
		changed = append(changed, "the play recap counts changed tasks")
	}
	return changed
}

func (m *MoleculeRun) playbookRun(ctx context.Context, action, playbook string, extra ...string) error {
	return m.playbookRunTo(ctx, action, playbook, m.Out, extra...)
}

// playbookRunTo runs ansible-playbook as Molecule bakes it: the inventory
// directory, Molecule's skip tags, the provisioner's options and
// ansible_args (not for create and destroy), from the scenario directory.
func (m *MoleculeRun) playbookRunTo(ctx context.Context, action, playbook string, out io.Writer, extra ...string) error {
	if err := m.writeInventory(); err != nil {
		return err
	}
	skip := "molecule-notest,notest"
	if action == "idempotence" {
		skip += ",molecule-idempotence-notest"
	}
	args := []string{"--inventory", filepath.Join(m.ephemeral, "inventory"), "--skip-tags=" + skip}
	args = append(args, extra...)
	if action != "create" && action != "destroy" {
		keys := make([]string, 0, len(m.config.Provisioner.Options))
		for k := range m.config.Provisioner.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := m.config.Provisioner.Options[k].(type) {
			case bool:
				if v {
					args = append(args, "--"+k)
				}
			default:
				args = append(args, fmt.Sprintf("--%s=%v", k, v))
			}
		}
		args = append(args, m.config.Provisioner.AnsibleArgs...)
	}
	args = append(args, playbook)
	cmd := exec.CommandContext(ctx, "ansible-playbook", args...)
	cmd.Dir = m.dir
	cmd.Env = m.env(action == "verify")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ansible-playbook %s: %w", filepath.Base(playbook), err)
	}
	return nil
}

func (m *MoleculeRun) instanceConfigPath() string {
	return filepath.Join(m.ephemeral, "instance_config.yml")
}

// env is Molecule's environment for ansible-playbook.
func (m *MoleculeRun) env(verify bool) []string {
	home, _ := os.UserHomeDir()
	collections := []string{filepath.Join(m.ephemeral, "collections"), filepath.Join(home, ".ansible/collections"),
		"/usr/share/ansible/collections", "/etc/ansible/collections"}
	if v := os.Getenv("ANSIBLE_COLLECTIONS_PATH"); v != "" {
		collections = append(collections, v)
	}
	roles := []string{filepath.Join(m.ephemeral, "roles"), filepath.Dir(m.Project), filepath.Join(home, ".ansible/roles"),
		"/usr/share/ansible/roles", "/etc/ansible/roles"}
	if v := os.Getenv("ANSIBLE_ROLES_PATH"); v != "" {
		roles = append(roles, v)
	}
	env := append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(m.ephemeral, "ansible.cfg"),
		"ANSIBLE_COLLECTIONS_PATH="+strings.Join(collections, ":"),
		"ANSIBLE_ROLES_PATH="+strings.Join(roles, ":"),
		"ANSIBLE_LIBRARY="+strings.Join([]string{filepath.Join(m.ephemeral, "modules"), filepath.Join(m.Project, "library"),
			filepath.Join(home, ".ansible/plugins/modules"), "/usr/share/ansible/plugins/modules"}, ":"),
		"ANSIBLE_FILTER_PLUGINS="+strings.Join([]string{filepath.Join(m.ephemeral, "plugins/filter"), filepath.Join(m.Project, "plugins/filter"),
			filepath.Join(home, ".ansible/plugins/filter"), "/usr/share/ansible/plugins/filter"}, ":"),
		"MOLECULE_FILE="+filepath.Join(m.dir, "molecule.yml"),
		"MOLECULE_ENV_FILE="+filepath.Join(m.Project, ".env.yml"),
		"MOLECULE_STATE_FILE="+filepath.Join(m.ephemeral, "state.yml"),
		"MOLECULE_INVENTORY_FILE="+filepath.Join(m.ephemeral, "inventory", "ansible_inventory.yml"),
		"MOLECULE_EPHEMERAL_DIRECTORY="+m.ephemeral,
		"MOLECULE_SCENARIO_DIRECTORY="+m.dir,
		"MOLECULE_PROJECT_DIRECTORY="+m.Project,
		"MOLECULE_INSTANCE_CONFIG="+m.instanceConfigPath(),
		"MOLECULE_DEPENDENCY_NAME=galaxy",
		"MOLECULE_DRIVER_NAME=default",
		"MOLECULE_PROVISIONER_NAME=ansible",
		"MOLECULE_SCENARIO_NAME="+m.Scenario,
		"MOLECULE_VERIFIER_NAME=ansible",
		"MOLECULE_VERIFIER_TEST_DIRECTORY="+filepath.Join(m.dir, "tests"),
	)
	for k, v := range m.config.Provisioner.Env {
		env = append(env, k+"="+v)
	}
	if verify {
		for k, v := range m.config.Verifier.Env {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// prepareEphemeral makes Molecule's scenario directory: ansible.cfg, and
// this checkout linked as the collection where Molecule looks first (its
// ephemeral collections path), so that cinder.multiattach.* resolves to the
// working tree.
func (m *MoleculeRun) prepareEphemeral() error {
	link := filepath.Join(m.ephemeral, "collections", "ansible_collections", "cinder", "multiattach")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(link), err)
	}
	if target, err := os.Readlink(link); err != nil || target != m.Project {
		os.Remove(link)
		if err := os.Symlink(m.Project, link); err != nil {
			return fmt.Errorf("link the collection: %w", err)
		}
	}
	cfg := map[string]map[string]any{
		"defaults": {
			"ansible_managed": "Ansible managed: Do NOT edit this file manually!", "display_failed_stderr": "True",
			"forks": 50, "retry_files_enabled": "False", "host_key_checking": "False", "nocows": 1,
			"interpreter_python": "auto_silent",
		},
		"ssh_connection": {"scp_if_ssh": "True", "control_path": "%(directory)s/%%h-%%p-%%r"},
	}
	for section, opts := range m.config.Provisioner.ConfigOptions {
		if cfg[section] == nil {
			cfg[section] = map[string]any{}
		}
		for k, v := range opts {
			cfg[section][k] = v
		}
	}
	return os.WriteFile(filepath.Join(m.ephemeral, "ansible.cfg"), []byte(ansibleCfg(cfg)), 0o644)
}

func ansibleCfg(cfg map[string]map[string]any) string {
	var b strings.Builder
	sections := make([]string, 0, len(cfg))
	for s := range cfg {
		sections = append(sections, s)
	}
	sort.Strings(sections)
	for _, s := range sections {
		fmt.Fprintf(&b, "[%s]\n", s)
		keys := make([]string, 0, len(cfg[s]))
		for k := range cfg[s] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %v\n", k, cfg[s][k])
		}
	}
	return b.String()
}

// writeInventory writes the inventory directory as Molecule does before
// each playbook: the generated inventory from the current instance config,
// plus the scenario's extra hosts, host_vars and group_vars, or its links.
func (m *MoleculeRun) writeInventory() error {
	dir := filepath.Join(m.ephemeral, "inventory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var instances []map[string]any
	if b, err := os.ReadFile(m.instanceConfigPath()); err == nil {
		if err := yaml.Unmarshal(b, &instances); err != nil {
			return fmt.Errorf("instance config %s: %w", m.instanceConfigPath(), err)
		}
	}
	if err := writeYAML(filepath.Join(dir, "ansible_inventory.yml"), m.config.MoleculeInventory(instances)); err != nil {
		return err
	}
	for _, name := range []string{"hosts", "host_vars", "group_vars"} {
		os.RemoveAll(filepath.Join(dir, name))
	}
	inv := m.config.Provisioner.Inventory
	if len(inv.Links) > 0 {
		for name, source := range inv.Links {
			src := filepath.Join(m.dir, source)
			if _, err := os.Stat(src); err != nil {
				return fmt.Errorf("the source path '%s' does not exist", src)
			}
			if err := os.Symlink(src, filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("link %s: %w", name, err)
			}
		}
		return nil
	}
	if len(inv.Hosts) > 0 {
		if err := writeYAML(filepath.Join(dir, "hosts"), inv.Hosts); err != nil {
			return err
		}
	}
	for name, vars := range map[string]map[string]map[string]any{"host_vars": inv.HostVars, "group_vars": inv.GroupVars} {
		for target, v := range vars {
			if err := writeYAML(filepath.Join(dir, name, target), v); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.Write(path, b, 0o644)
}
