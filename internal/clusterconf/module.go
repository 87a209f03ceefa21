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
	"stack":        {Required: true, Choices: []any{string(Corosync), string(O2CB)}},
	"path":         {Type: module.Path},
	"cluster_name": {Required: true},
	"nodes": {Type: module.List, Elements: module.Dict, Required: true, Options: module.Spec{
		"name":    {Required: true},
		"address": {Required: true},
		"id":      {Type: module.Int},
	}},
	"transport": {Choices: []any{"knet", "udpu"}},
	"crypto":    {Type: module.Bool},
	"ip_port":   {Type: module.Int},
	"backup":    {Type: module.Bool, Default: false},
}

// DefaultPath is where each stack reads its file.
var DefaultPath = map[Stack]string{
	Corosync: "/etc/corosync/corosync.conf",
	O2CB:     "/etc/ocfs2/cluster.conf",
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
	switch w.Stack {
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
		if w.Stack == O2CB {
			previous, err = ParseO2CB(h.Content)
		} else {
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
	if w.Stack == O2CB {
		plan.After = RenderO2CB(O2CBOptions{ClusterName: w.ClusterName, IPPort: w.IPPort}, nodes)
	} else {
		plan.After = RenderCorosync(CorosyncOptions{ClusterName: w.ClusterName, Transport: w.Transport, Crypto: w.Crypto}, nodes)
	}
	return plan, nil
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
