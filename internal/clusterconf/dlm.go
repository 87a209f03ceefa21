package clusterconf

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Fencing is how dlm fences a failed node.
type Fencing string

// The fencing modes.
const (
	// FencingOff: enable_fencing=0. A node that only looks dead can keep
	// writing while the others replay its journal.
	FencingOff Fencing = "off"
	// FencingDLM: dlm's default (enable_fencing=1, no device): it asks
	// Pacemaker's dlm_stonith, and without Pacemaker every node's I/O waits
	// until an operator runs dlm_tool fence_ack.
	FencingDLM Fencing = "dlm"
	// FencingOpenStack: the fence agent fence_nova, with Nova as the power
	// switch of every node's server.
	FencingOpenStack Fencing = "openstack"
)

// DLMOptions are the settings of dlm.conf.
type DLMOptions struct {
	Fencing    Fencing
	Agent      string // the fence agent's path on the nodes
	Cloud      string // its clouds.yaml entry
	CloudsYAML string // and file
	Action     string // reboot or off
	Timeout    int    // seconds, the agent's bound after the delay
	// Delay is given to the node with the lowest id in a two-node cluster:
	// the other waits that long before fencing it, so that of two nodes
	// that lose each other only the first fences.
	Delay int
	// Settings are other key=value lines (dlm.conf(5)); ExtraLines are
	// written as they are.
	Settings   map[string]string
	ExtraLines []string
	// Members are the nodes whose dlm_controld runs now: it read their
	// fencing configuration when they joined, and reads a new node's when
	// that node joins.
	Members []string
}

// Restart is what a running dlm_controld needs to apply a new dlm.conf.
type Restart string

// The restart decisions.
const (
	// RestartNone: nothing a running daemon uses changes (or only the
	// fencing of nodes that have not joined yet, read when they join).
	RestartNone Restart = "none"
	// RestartDeferred: settings dlm reads at its start change; applying
	// them at the next start is safe.
	RestartDeferred Restart = "deferred"
	// RestartRequired: the fencing of a running member changes; until dlm
	// restarts, a failed node would be fenced as before (or not at all).
	RestartRequired Restart = "required"
)

// fenceDevice is the device name in dlm.conf's device and connect lines.
const fenceDevice = "nova"

var dlmSettingKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// dlmReserved are keys the module writes itself or that are not settings.
var dlmReserved = map[string]bool{
	"enable_fencing": true, "device": true, "connect": true, "unfence": true, "fence_all": true, "unfence_all": true,
}

// validateDLM checks the dlm options and the nodes they fence.
func validateDLM(o DLMOptions, nodes []NodeRequest) []string {
	var problems []string
	switch o.Fencing {
	case FencingOff, FencingDLM:
	case FencingOpenStack:
		if !strings.HasPrefix(o.Agent, "/") {
			problems = append(problems, fmt.Sprintf("dlm.fence_agent must be an absolute path, got %q", o.Agent))
		}
		for name, v := range map[string]string{"fence_cloud": o.Cloud, "fence_clouds_yaml": o.CloudsYAML} {
			if v == "" || strings.ContainsAny(v, " \t\n=") {
				problems = append(problems, fmt.Sprintf("dlm.%s must be a word (no spaces or =), got %q", name, v))
			}
		}
		if o.Timeout < 1 || o.Timeout > 3600 {
			problems = append(problems, fmt.Sprintf("dlm.fence_timeout must be 1 to 3600 seconds, got %d", o.Timeout))
		}
		if o.Delay < 0 || o.Delay > 600 {
			problems = append(problems, fmt.Sprintf("dlm.fence_delay must be 0 to 600 seconds, got %d", o.Delay))
		}
		for _, n := range nodes {
			if !uuidPattern.MatchString(n.ServerID) {
				problems = append(problems, fmt.Sprintf("node %s: fencing openstack needs its Nova server ID (server_id, a UUID), got %q",
					n.Name, n.ServerID))
			}
		}
	default:
		problems = append(problems, fmt.Sprintf("dlm.fencing must be off, dlm or openstack, got %q", o.Fencing))
	}
	for k, v := range o.Settings {
		switch {
		case !dlmSettingKey.MatchString(k) || dlmReserved[k]:
			problems = append(problems, fmt.Sprintf("dlm.options: %q is not a dlm.conf setting the options may set "+
				"(fencing has its own options)", k))
		case v == "" || strings.ContainsAny(v, " \t\n#"):
			problems = append(problems, fmt.Sprintf("dlm.options: %s=%q must be one word", k, v))
		}
	}
	for _, l := range o.ExtraLines {
		if strings.ContainsAny(l, "\n\r") {
			problems = append(problems, fmt.Sprintf("dlm.extra_lines: %q holds a line break", l))
		}
	}
	for _, n := range nodes {
		if n.ID == nil {
			problems = append(problems, fmt.Sprintf("node %s: stack dlm needs the node's corosync id", n.Name))
		}
	}
	return problems
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// RenderDLM renders dlm.conf.
func RenderDLM(o DLMOptions, nodes []ClusterNode) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("# dlm_controld reads this file when it starts, and a node's device and\n" +
		"# connect lines also when that node first joins.\n")
	fmt.Fprintf(&b, "enable_fencing=%d\n", map[bool]int{true: 1, false: 0}[o.Fencing != FencingOff])
	keys := make([]string, 0, len(o.Settings))
	for k := range o.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, o.Settings[k])
	}
	for _, l := range o.ExtraLines {
		b.WriteString(l + "\n")
	}
	if o.Fencing != FencingOpenStack {
		return b.Bytes()
	}
	fmt.Fprintf(&b, "# fence_nova: Nova %s a failed node's server; dlm's node ids are corosync's\n",
		map[bool]string{true: "hard-reboots", false: "stops"}[o.Action == "reboot"])
	fmt.Fprintf(&b, "device %s %s cloud=%s clouds_yaml=%s action=%s timeout=%d\n",
		fenceDevice, o.Agent, o.Cloud, o.CloudsYAML, o.Action, o.Timeout)
	lowest := 0
	for _, n := range nodes {
		if lowest == 0 || n.ID < lowest {
			lowest = n.ID
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "connect %s node=%d plug=%s", fenceDevice, n.ID, n.ServerID)
		if len(nodes) == 2 && n.ID == lowest && o.Delay > 0 {
			fmt.Fprintf(&b, " delay=%d", o.Delay)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// dlmFile is what dlm_controld would read from a dlm.conf.
type dlmFile struct {
	settings map[string]string // key=value lines, enable_fencing included
	devices  []string          // device, fence_all and unfence lines, as written
	connects map[int]string    // node id → its connect lines
}

// parseDLM reads dlm.conf the way dlm_controld does: whole-line comments,
// key=value settings, and the fencing lines (device, connect, fence_all,
// unfence, unfence_all).
func parseDLM(data []byte) dlmFile {
	f := dlmFile{settings: map[string]string{}, connects: map[int]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.Join(strings.Fields(sc.Text()), " ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "device", "fence_all", "unfence", "unfence_all":
			f.devices = append(f.devices, line)
		case "connect":
			id := -1
			for _, arg := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(arg, "node="); ok {
					if n, err := strconv.Atoi(v); err == nil {
						id = n
					}
				}
			}
			f.connects[id] += line + "\n"
		default:
			if k, v, ok := strings.Cut(line, "="); ok {
				f.settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	if _, ok := f.settings["enable_fencing"]; !ok {
		f.settings["enable_fencing"] = "1" // dlm's default
	}
	return f
}

func withoutDelay(connect string) string {
	var out []string
	for _, line := range strings.Split(connect, "\n") {
		var kept []string
		for _, f := range strings.Fields(line) {
			if !strings.HasPrefix(f, "delay=") {
				kept = append(kept, f)
			}
		}
		out = append(out, strings.Join(kept, " "))
	}
	return strings.Join(out, "\n")
}

// DLMRestart decides what a running dlm_controld needs to apply after in
// place of before (nil: no file, dlm's defaults), given the ids of the
// nodes whose daemons run now.
func DLMRestart(before, after []byte, members []int) (Restart, []string) {
	b, a := parseDLM(before), parseDLM(after)
	var required, deferred []string
	if b.settings["enable_fencing"] != a.settings["enable_fencing"] {
		required = append(required, fmt.Sprintf("enable_fencing changes from %s to %s",
			b.settings["enable_fencing"], a.settings["enable_fencing"]))
	}
	if strings.Join(b.devices, "\n") != strings.Join(a.devices, "\n") {
		required = append(required, "the fence device changes")
	}
	for _, id := range members {
		switch {
		case withoutDelay(b.connects[id]) != withoutDelay(a.connects[id]):
			required = append(required, fmt.Sprintf("the fencing of running node %d changes", id))
		case b.connects[id] != a.connects[id]:
			// only the delay: the running daemons still fence the node,
			// a little later or sooner, until they restart
			deferred = append(deferred, fmt.Sprintf("the fencing delay of running node %d changes", id))
		}
	}
	keys := map[string]bool{}
	for k := range b.settings {
		keys[k] = true
	}
	for k := range a.settings {
		keys[k] = true
	}
	var changed []string
	for k := range keys {
		if k != "enable_fencing" && b.settings[k] != a.settings[k] {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	for _, k := range changed {
		deferred = append(deferred, fmt.Sprintf("setting %s changes", k))
	}
	switch {
	case len(required) > 0:
		return RestartRequired, append(required, deferred...)
	case len(deferred) > 0:
		return RestartDeferred, deferred
	}
	return RestartNone, []string{}
}
