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

// Config is a validated cluster_conf request.
type Config struct {
	Stack       Stack
	Path        string
	ClusterName string
	Nodes       []NodeRequest
	Transport   string
	Crypto      bool
	IPPort      int
	Backup      bool
}

// ConfigFromParams checks the options that depend on each other and on the
// stack. All problems are reported together.
func ConfigFromParams(p module.Params) (Config, error) {
	c := Config{
		Stack:       Stack(p.String("stack")),
		Path:        p.String("path"),
		ClusterName: p.String("cluster_name"),
		Backup:      p.Bool("backup"),
	}
	var opts struct {
		Nodes []NodeRequest `json:"nodes"`
	}
	if err := p.Decode(&opts); err != nil {
		return c, err
	}
	c.Nodes = opts.Nodes
	if c.Path == "" {
		c.Path = DefaultPath[c.Stack]
	}

	var problems []string
	if err := c.Stack.ValidateClusterName(c.ClusterName); err != nil {
		problems = append(problems, err.Error())
	}
	if len(c.Nodes) == 0 {
		problems = append(problems, "nodes must list at least one node")
	}
	switch c.Stack {
	case Corosync:
		if p.IsSet("ip_port") {
			problems = append(problems, "ip_port applies to stack o2cb only")
		}
		c.Transport = p.String("transport")
		if c.Transport == "" {
			c.Transport = "knet"
		}
		c.Crypto = c.Transport == "knet"
		if p.IsSet("crypto") {
			c.Crypto = p.Bool("crypto")
		}
		if c.Crypto && c.Transport == "udpu" {
			problems = append(problems, "crypto is not available with transport udpu: use transport knet, or crypto: false")
		}
	case O2CB:
		for _, name := range []string{"transport", "crypto"} {
			if p.IsSet(name) {
				problems = append(problems, name+" applies to stack corosync only")
			}
		}
		c.IPPort = 7777
		if p.IsSet("ip_port") {
			c.IPPort = p.Int("ip_port")
		}
		if c.IPPort < 1 || c.IPPort > 65535 {
			problems = append(problems, fmt.Sprintf("ip_port %d is not a TCP port (1 to 65535)", c.IPPort))
		}
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

// Plan is what cluster_conf will do, computed without side effects.
type Plan struct {
	Nodes    []ClusterNode
	Added    []string
	Removed  []string
	Before   []byte // current content, nil when the file does not exist
	After    []byte
	Warnings []string
}

// Changed reports whether the file's content differs.
func (p Plan) Changed() bool { return p.Before == nil || !bytes.Equal(p.Before, p.After) }

// MakePlan decides the file's new content from the request and the current
// content (nil when there is no file).
func MakePlan(c Config, current []byte) (Plan, error) {
	plan := Plan{Before: current}
	var previous Membership
	if current != nil {
		var err error
		if c.Stack == O2CB {
			previous, err = ParseO2CB(current)
		} else {
			previous, err = ParseCorosync(current)
		}
		if err != nil {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"%s could not be parsed (%v): node ids were not carried over from it, and it is replaced", c.Path, err))
			previous = Membership{}
		}
	}
	nodes, err := AssignIDs(c.Stack, c.Transport, c.Nodes, previous.Nodes)
	if err != nil {
		return plan, err
	}
	plan.Nodes = nodes
	plan.Added, plan.Removed = MembershipChange(previous.Nodes, nodes)
	if c.Stack == O2CB {
		plan.After = RenderO2CB(O2CBOptions{ClusterName: c.ClusterName, IPPort: c.IPPort}, nodes)
	} else {
		plan.After = RenderCorosync(CorosyncOptions{ClusterName: c.ClusterName, Transport: c.Transport, Crypto: c.Crypto}, nodes)
	}
	return plan, nil
}

// Run is the cluster_conf module.
func Run(_ context.Context, req *module.Request) (*module.Result, error) {
	c, err := ConfigFromParams(req.Params)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	current, err := os.ReadFile(c.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		current = nil
	case err != nil:
		return nil, module.Failf("read %s: %v", c.Path, err)
	}
	plan, err := MakePlan(c, current)
	if err != nil {
		return nil, module.Failf("%v", err)
	}

	res := &module.Result{
		Changed:  plan.Changed(),
		Warnings: plan.Warnings,
		Diff: &module.Diff{
			Before: string(plan.Before), After: string(plan.After),
			BeforeHeader: c.Path + " (before)", AfterHeader: c.Path + " (after)",
		},
		Values: map[string]any{
			"path":    c.Path,
			"nodes":   plan.Nodes,
			"added":   nonNil(plan.Added),
			"removed": nonNil(plan.Removed),
		},
	}
	if !res.Changed || req.CheckMode {
		return res, nil
	}
	if c.Backup && plan.Before != nil {
		backup, err := atomicfile.Backup(c.Path, time.Now())
		if err != nil {
			return nil, module.Failf("%v", err)
		}
		res.Values["backup_file"] = backup
	}
	if err := atomicfile.Write(c.Path, plan.After, 0o644); err != nil {
		return nil, &module.Failure{Msg: fmt.Sprintf("write %s: %v", c.Path, err), Changed: res.Values["backup_file"] != nil, Values: res.Values}
	}
	return res, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
