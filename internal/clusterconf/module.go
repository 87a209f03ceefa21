package clusterconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/atomicfile"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Spec is the cluster_conf module's argument spec.
var Spec = module.Spec{
	"stack":        {Required: true, Choices: []any{string(Corosync), string(O2CB), string(DLM)}},
	"path":         {Type: module.Path},
	"cluster_name": {Required: true},
	"nodes": {Type: module.List, Elements: module.Dict, Required: true, Options: module.Spec{
		"name":      {Required: true},
		"address":   {Required: true},
		"id":        {Type: module.Int},
		"server_id": {},
	}},
	"transport": {Choices: []any{"knet", "udpu"}},
	"crypto":    {Type: module.Bool},
	"ip_port":   {Type: module.Int},
	"dlm": {Type: module.Dict, Options: module.Spec{
		"fencing":           {Default: string(FencingDLM), Choices: []any{string(FencingOff), string(FencingDLM), string(FencingOpenStack)}},
		"fence_agent":       {Type: module.Path, Default: "/usr/local/sbin/fence_nova"},
		"fence_cloud":       {Default: "fence"},
		"fence_clouds_yaml": {Type: module.Path, Default: "/etc/cinder-multiattach/fence-clouds.yaml"},
		"fence_action":      {Default: "reboot", Choices: []any{"reboot", "off"}},
		"fence_timeout":     {Type: module.Int, Default: 180},
		"fence_delay":       {Type: module.Int, Default: 15},
		"options":           {Type: module.Dict},
		"extra_lines":       {Type: module.List, Elements: module.Str},
		"members":           {Type: module.List, Elements: module.Str},
	}},
	"backup": {Type: module.Bool, Default: false},
}

// DefaultPath is where each stack reads its file.
var DefaultPath = map[Stack]string{
	Corosync: "/etc/corosync/corosync.conf",
	O2CB:     "/etc/ocfs2/cluster.conf",
	DLM:      "/etc/dlm/dlm.conf",
}

// Want is the file the task asks for, from its validated options.
type Want struct {
	Stack       Stack
	Path        string
	ClusterName string
	Nodes       []NodeRequest
	Transport   string
	Crypto      bool
	IPPort      int
	DLM         DLMOptions
	Backup      bool
}

// WantFromParams checks the options that depend on each other and on the
// stack. All problems are reported together.
func WantFromParams(p module.Params) (Want, error) {
	w := Want{
		Stack:       Stack(p.String("stack")),
		Path:        p.String("path"),
		ClusterName: p.String("cluster_name"),
		Backup:      p.Bool("backup"),
	}
	var opts struct {
		Nodes []NodeRequest `json:"nodes"`
	}
	if err := p.Decode(&opts); err != nil {
		return w, err
	}
	w.Nodes = opts.Nodes
	if w.Path == "" {
		w.Path = DefaultPath[w.Stack]
	}

	var problems []string
	if err := w.Stack.ValidateClusterName(w.ClusterName); err != nil {
		problems = append(problems, err.Error())
	}
	if len(w.Nodes) == 0 {
		problems = append(problems, "nodes must list at least one node")
	}
	if w.Stack != DLM {
		if p.IsSet("dlm") {
			problems = append(problems, "dlm applies to stack dlm only")
		}
		for _, n := range w.Nodes {
			if n.ServerID != "" {
				problems = append(problems, fmt.Sprintf("node %s: server_id applies to stack dlm only", n.Name))
			}
		}
	}
	switch w.Stack {
	case DLM:
		for _, name := range []string{"transport", "crypto", "ip_port"} {
			if p.IsSet(name) {
				problems = append(problems, name+" does not apply to stack dlm")
			}
		}
		if !p.IsSet("dlm") {
			problems = append(problems, "stack dlm needs option dlm (its fencing, at least dlm: {})")
			break
		}
		w.DLM = dlmFromParams(p.Dict("dlm"))
		problems = append(problems, validateDLM(w.DLM, w.Nodes)...)
	case Corosync:
		if p.IsSet("ip_port") {
			problems = append(problems, "ip_port applies to stack o2cb only")
		}
		w.Transport = p.String("transport")
		if w.Transport == "" {
			w.Transport = "knet"
		}
		w.Crypto = w.Transport == "knet"
		if p.IsSet("crypto") {
			w.Crypto = p.Bool("crypto")
		}
		if w.Crypto && w.Transport == "udpu" {
			problems = append(problems, "crypto is not available with transport udpu: use transport knet, or crypto: false")
		}
	case O2CB:
		for _, name := range []string{"transport", "crypto"} {
			if p.IsSet(name) {
				problems = append(problems, name+" applies to stack corosync only")
			}
		}
		w.IPPort = 7777
		if p.IsSet("ip_port") {
			w.IPPort = p.Int("ip_port")
		}
		if w.IPPort < 1 || w.IPPort > 65535 {
			problems = append(problems, fmt.Sprintf("ip_port %d is not a TCP port (1 to 65535)", w.IPPort))
		}
	}
	if len(problems) > 0 {
		return w, errors.New(strings.Join(problems, "; "))
	}
	return w, nil
}

func dlmFromParams(p module.Params) DLMOptions {
	o := DLMOptions{
		Fencing:    Fencing(p.String("fencing")),
		Agent:      p.String("fence_agent"),
		Cloud:      p.String("fence_cloud"),
		CloudsYAML: p.String("fence_clouds_yaml"),
		Action:     p.String("fence_action"),
		Timeout:    p.Int("fence_timeout"),
		Delay:      p.Int("fence_delay"),
		Settings:   map[string]string{},
		ExtraLines: p.Strings("extra_lines"),
		Members:    p.Strings("members"),
	}
	for k, v := range p.Dict("options") {
		o.Settings[k] = fmt.Sprint(v)
	}
	return o
}

// Have is the file as it is.
type Have struct {
	Content []byte // nil when the file does not exist
}

// Read reads the file the task writes.
func Read(w Want) (Have, error) {
	content, err := os.ReadFile(w.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Have{}, nil
	case err != nil:
		return Have{}, fmt.Errorf("read %s: %v", w.Path, err)
	}
	return Have{Content: content}, nil
}

// Plan is what cluster_conf will do, computed without side effects.
type Plan struct {
	Path     string
	Nodes    []ClusterNode
	Added    []string
	Removed  []string
	Before   []byte // current content, nil when the file does not exist
	After    []byte
	Backup   bool // copy the current file aside before writing
	Warnings []string
	// Restart (stack dlm) is what a running dlm_controld needs to apply the
	// new file, and why.
	Restart        Restart
	RestartReasons []string
}

// Changed reports whether the file's content differs.
func (p Plan) Changed() bool { return p.Before == nil || !bytes.Equal(p.Before, p.After) }

// PlanFile decides the file's new content from its current content and the
// request, with no I/O.
func PlanFile(h Have, w Want) (Plan, error) {
	plan := Plan{Path: w.Path, Before: h.Content, Backup: w.Backup && h.Content != nil}
	var previous Membership
	if h.Content != nil {
		var err error
		switch w.Stack {
		case O2CB:
			previous, err = ParseO2CB(h.Content)
		case DLM:
			previous = Membership{} // dlm.conf carries no ids of its own: the request's are corosync's
		default:
			previous, err = ParseCorosync(h.Content)
		}
		if err != nil {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"%s could not be parsed (%v): node ids were not carried over from it, and it is replaced", w.Path, err))
			previous = Membership{}
		}
	}
	nodes, err := AssignIDs(w.Stack, w.Transport, w.Nodes, previous.Nodes)
	if err != nil {
		return plan, err
	}
	plan.Nodes = nodes
	plan.Added, plan.Removed = MembershipChange(previous.Nodes, nodes)
	switch w.Stack {
	case O2CB:
		plan.After = RenderO2CB(O2CBOptions{ClusterName: w.ClusterName, IPPort: w.IPPort}, nodes)
	case DLM:
		plan.Added, plan.Removed = []string{}, []string{}
		plan.After = RenderDLM(w.DLM, nodes)
		plan.Restart, plan.RestartReasons = DLMRestart(h.Content, plan.After, memberIDs(nodes, w.DLM.Members))
	default:
		plan.After = RenderCorosync(CorosyncOptions{ClusterName: w.ClusterName, Transport: w.Transport, Crypto: w.Crypto}, nodes)
	}
	return plan, nil
}

// memberIDs are the ids of the named nodes.
func memberIDs(nodes []ClusterNode, names []string) []int {
	var ids []int
	for _, n := range nodes {
		for _, m := range names {
			if n.Name == m {
				ids = append(ids, n.ID)
			}
		}
	}
	return ids
}

// Apply writes the planned file, after copying the current one aside when
// the plan says so; backup is the copy's path.
func Apply(p Plan) (backup string, err error) {
	if p.Backup {
		if backup, err = atomicfile.Backup(p.Path, time.Now()); err != nil {
			return "", err
		}
	}
	if err := atomicfile.Write(p.Path, p.After, 0o644); err != nil {
		return backup, fmt.Errorf("write %s: %v", p.Path, err)
	}
	return backup, nil
}

// Run is the cluster_conf module: Params → Want, Read → Have,
// PlanFile(Have, Want) → Plan, and unless in check mode Apply(Plan).
func Run(_ context.Context, req *module.Request) (*module.Result, error) {
	w, err := WantFromParams(req.Params)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	h, err := Read(w)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	plan, err := PlanFile(h, w)
	if err != nil {
		return nil, module.Failf("%v", err)
	}

	res := &module.Result{
		Changed:  plan.Changed(),
		Warnings: plan.Warnings,
		Diff: &module.Diff{
			Before: string(plan.Before), After: string(plan.After),
			BeforeHeader: w.Path + " (before)", AfterHeader: w.Path + " (after)",
		},
		Values: map[string]any{
			"path":    w.Path,
			"nodes":   plan.Nodes,
			"added":   nonNil(plan.Added),
			"removed": nonNil(plan.Removed),
		},
	}
	if w.Stack == DLM {
		res.Values["restart"] = plan.Restart
		res.Values["restart_reasons"] = nonNil(plan.RestartReasons)
	}
	if !res.Changed || req.CheckMode {
		return res, nil
	}
	backup, err := Apply(plan)
	if backup != "" {
		res.Values["backup_file"] = backup
	}
	switch {
	case err == nil:
		return res, nil
	case plan.Backup && backup == "":
		return nil, module.Failf("%v", err) // the backup failed: nothing is written
	}
	return nil, &module.Failure{Msg: err.Error(), Changed: backup != "", Values: res.Values}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
