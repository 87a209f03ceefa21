package clusterstate

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Action is how corosync takes a new configuration.
type Action string

// The actions.
const (
	Start   Action = "start"   // corosync does not run
	Restart Action = "restart" // what changes needs a restart
	Reload  Action = "reload"  // corosync-cfgtool -R applies it
	None    Action = "none"
)

// PlanCorosync decides, with no I/O, how the running corosync takes the
// configuration asked for: what it runs decides, not what this run changed.
// A node on another cluster (Debian's one-node default) or with a new key
// restarts, as does one that would lose nodes or change its transport (a
// reload applies neither); one that only gains nodes, or whose file
// changed otherwise, reloads.
func PlanCorosync(h Have, w Want) (Action, []string) {
	if !h.Services["corosync"].Active || h.Corosync == nil {
		return Start, []string{"corosync does not run"}
	}
	c := h.Corosync
	var restart []string
	if c.ClusterName != w.ClusterName {
		restart = append(restart, fmt.Sprintf("it runs cluster %q, not %q", c.ClusterName, w.ClusterName))
	}
	if w.KeyChanges {
		restart = append(restart, "its authkey changes")
	}
	if c.Transport != "" && w.Transport != "" && c.Transport != w.Transport {
		restart = append(restart, fmt.Sprintf("its transport changes from %s to %s", c.Transport, w.Transport))
	}
	if gone := missing(c.Nodes, w.Nodes); len(gone) > 0 {
		restart = append(restart, "it would lose node(s) "+strings.Join(gone, ", "))
	}
	if len(restart) > 0 {
		return Restart, restart
	}
	var reload []string
	if w.ConfChanged {
		reload = append(reload, "corosync.conf changed")
	}
	if added := missing(w.Nodes, c.Nodes); len(added) > 0 {
		reload = append(reload, "it gains node(s) "+strings.Join(added, ", "))
	}
	if len(reload) > 0 {
		return Reload, reload
	}
	return None, []string{}
}

// missing lists what of have is not in want.
func missing(have, want []string) []string {
	out := []string{}
	for _, n := range have {
		if !slices.Contains(want, n) {
			out = append(out, n)
		}
	}
	return out
}

// host is the node the module runs on.
var host = System{Runner: command.Exec{}, Root: "/", Owner: lookupOwner}

// Run is the cluster_state module: Params → Want, Read → Have, and for
// corosync PlanCorosync(Have, Want) → Action. It changes nothing.
func Run(ctx context.Context, req *module.Request) (*module.Result, error) {
	return run(ctx, req, host)
}

func run(ctx context.Context, req *module.Request, s System) (*module.Result, error) {
	w, err := WantFromParams(req.Params)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	h, err := s.Read(ctx, w)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	values := map[string]any{"services": h.Services, "mounted": h.Mounted}
	if w.Stack == "o2cb" {
		values["registered"] = h.Registered
	} else {
		values["corosync"] = h.Corosync
		values["authkey"] = h.Authkey
		action, reasons := PlanCorosync(h, w)
		values["corosync_action"] = action
		values["corosync_reasons"] = reasons
	}
	return &module.Result{Values: values}, nil
}

// lookupOwner names a uid or gid from /etc/passwd or /etc/group, or gives
// the number.
func lookupOwner(kind string, id uint32) string {
	file := map[string]string{"user": "/etc/passwd", "group": "/etc/group"}[kind]
	data, _ := os.ReadFile(file)
	want := strconv.FormatUint(uint64(id), 10)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == want {
			return f[0]
		}
	}
	return want
}
