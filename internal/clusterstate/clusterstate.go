// Package clusterstate is the cluster_state module: it reads what a node's
// cluster stack runs (services, corosync's running configuration, the
// authkey, o2cb's registered nodes, what is mounted at the mount point) and,
// for corosync, decides how a new configuration must be applied. Read-only:
// the roles decide restarts, growth and refusals from its typed result
// instead of from shell output.
//
// The steps are the modules' own: Params → Want, Read → Have,
// PlanCorosync(Have, Want) → Action. There is no Apply.
package clusterstate

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Spec is the cluster_state module's argument spec.
var Spec = module.Spec{
	"stack":        {Required: true, Choices: []any{"corosync", "o2cb"}},
	"mount_point":  {Type: module.Path, Required: true},
	"cluster_name": {Required: true},
	"authkey":      {Type: module.Path, Default: "/etc/corosync/authkey"},
	"nodes":        {Type: module.List, Elements: module.Str},
	"transport":    {Choices: []any{"knet", "udpu"}},
	"key_changes":  {Type: module.Bool, Default: false},
	"conf_changed": {Type: module.Bool, Default: false},
}

// Want is what the caller asks about.
type Want struct {
	Stack       string
	MountPoint  string
	ClusterName string
	Authkey     string
	// corosync: the configuration the node is to run, and whether its key
	// or its corosync.conf is (to be) replaced.
	Nodes       []string
	Transport   string
	KeyChanges  bool
	ConfChanged bool
}

// WantFromParams reads the validated options.
func WantFromParams(p module.Params) (Want, error) {
	w := Want{
		Stack:       p.String("stack"),
		MountPoint:  filepath.Clean(p.String("mount_point")),
		ClusterName: p.String("cluster_name"),
		Authkey:     p.String("authkey"),
		Nodes:       p.Strings("nodes"),
		Transport:   p.String("transport"),
		KeyChanges:  p.Bool("key_changes"),
		ConfChanged: p.Bool("conf_changed"),
	}
	if w.Stack == "o2cb" {
		for _, name := range []string{"nodes", "transport"} {
			if p.IsSet(name) {
				return w, fmt.Errorf("%s applies to stack corosync only", name)
			}
		}
	}
	if strings.ContainsAny(w.ClusterName, "/\x00") || w.ClusterName == "." || w.ClusterName == ".." {
		return w, fmt.Errorf("cluster_name %q is not a cluster name", w.ClusterName)
	}
	return w, nil
}

// Service is one systemd unit's state.
type Service struct {
	Active  bool `json:"active"`
	Enabled bool `json:"enabled"`
}

// Corosync is what the running corosync says (empty when it does not run).
type Corosync struct {
	ClusterName string   `json:"cluster_name"`
	Transport   string   `json:"transport"`
	Nodes       []string `json:"nodes"`
}

// Authkey is the corosync authkey file (SHA1 empty when there is none).
type Authkey struct {
	SHA1  string `json:"sha1"`
	Mode  string `json:"mode"` // octal permission bits, e.g. 400
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// Have is the node's state.
type Have struct {
	Services map[string]Service `json:"services"`
	Corosync *Corosync          `json:"corosync,omitempty"`
	Authkey  *Authkey           `json:"authkey,omitempty"`
	// Registered are the nodes o2cb's kernel side knows (configfs).
	Registered []string `json:"registered,omitempty"`
	// Mounted is the type of the file system at the mount point, "" for none.
	Mounted string `json:"mounted"`
}

// System is where Read looks: the command runner and the root of the file
// system (tests point both elsewhere).
type System struct {
	Runner command.Runner
	Root   string
	// Owner names a uid or gid; the real one reads /etc/passwd and /etc/group.
	Owner func(kind string, id uint32) string
}

var stackServices = map[string][]string{"corosync": {"corosync", "dlm"}, "o2cb": {"o2cb"}}

// Read reads the node's state for the stack.
func (s System) Read(ctx context.Context, w Want) (Have, error) {
	h := Have{Services: map[string]Service{}}
	for _, unit := range stackServices[w.Stack] {
		svc, err := s.service(ctx, unit)
		if err != nil {
			return h, err
		}
		h.Services[unit] = svc
	}
	var err error
	if h.Mounted, err = s.mounted(w.MountPoint); err != nil {
		return h, err
	}
	if w.Stack == "o2cb" {
		h.Registered, err = s.registered(w.ClusterName)
		return h, err
	}
	h.Corosync = &Corosync{Nodes: []string{}}
	if h.Services["corosync"].Active {
		if err := s.corosync(ctx, h.Corosync); err != nil {
			return h, err
		}
	}
	h.Authkey, err = s.authkey(w.Authkey)
	return h, err
}

// service asks systemctl: is-active and is-enabled exit non-zero for a unit
// that is not, which is an answer, not a failure.
func (s System) service(ctx context.Context, unit string) (Service, error) {
	var svc Service
	for _, q := range []struct {
		verb string
		yes  string
		set  *bool
	}{{"is-active", "active", &svc.Active}, {"is-enabled", "enabled", &svc.Enabled}} {
		res, err := s.Runner.Run(ctx, "systemctl", q.verb, unit+".service")
		if _, answered := command.ExitCode(err); err != nil && !answered {
			return svc, fmt.Errorf("read the state of %s: %w", unit, err)
		}
		*q.set = strings.TrimSpace(res.Stdout) == q.yes
	}
	return svc, nil
}

// corosync reads the running configuration from corosync's cmap.
func (s System) corosync(ctx context.Context, c *Corosync) error {
	totem, err := s.cmap(ctx, "totem")
	if err != nil {
		return err
	}
	c.ClusterName, c.Transport = totem["totem.cluster_name"], totem["totem.transport"]
	nodes, err := s.cmap(ctx, "nodelist.node")
	if err != nil {
		return err
	}
	for k, v := range nodes {
		if strings.HasSuffix(k, ".name") {
			c.Nodes = append(c.Nodes, v)
		}
	}
	sort.Strings(c.Nodes)
	return nil
}

// cmap returns corosync-cmapctl -b PREFIX as key → value ("key (type) = value" lines).
func (s System) cmap(ctx context.Context, prefix string) (map[string]string, error) {
	res, err := s.Runner.Run(ctx, "corosync-cmapctl", "-b", prefix)
	if err != nil {
		return nil, fmt.Errorf("read corosync's running configuration: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(res.Stdout))
	for sc.Scan() {
		left, value, ok := strings.Cut(sc.Text(), " = ")
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(left, " (")
		out[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return out, nil
}

func (s System) path(p string) string { return filepath.Join(s.Root, p) }

func (s System) authkey(path string) (*Authkey, error) {
	data, err := os.ReadFile(s.path(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Authkey{}, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	fi, err := os.Stat(s.path(path))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sum := sha1.Sum(data)
	k := &Authkey{SHA1: hex.EncodeToString(sum[:]), Mode: fmt.Sprintf("%o", fi.Mode().Perm())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Owner, k.Group = s.Owner("user", st.Uid), s.Owner("group", st.Gid)
	}
	return k, nil
}

func (s System) mounted(mountPoint string) (string, error) {
	f, err := os.Open(s.path("/proc/self/mountinfo"))
	if err != nil {
		return "", fmt.Errorf("read the mounts: %w", err)
	}
	defer f.Close()
	mounts, err := blockdev.ParseMountInfo(f)
	if err != nil {
		return "", fmt.Errorf("read the mounts: %w", err)
	}
	fstype := ""
	for _, m := range mounts {
		if m.MountPoint == mountPoint {
			fstype = m.FSType // the last one mounted there is what is seen
		}
	}
	return fstype, nil
}

// registered lists the nodes o2cb's kernel side has for the cluster.
func (s System) registered(cluster string) ([]string, error) {
	entries, err := os.ReadDir(s.path(filepath.Join("/sys/kernel/config/cluster", cluster, "node")))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read o2cb's registered nodes: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}
