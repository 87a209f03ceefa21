// Package clusterconf renders, parses and validates the cluster-membership
// files of the two cluster stacks the collection configures: corosync
// (corosync.conf, for GFS2 with dlm) and o2cb (/etc/ocfs2/cluster.conf, for
// OCFS2). It also implements the cluster_conf module.
package clusterconf

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
)

// Stack names a cluster stack.
type Stack string

// The supported stacks. DLM is dlm_controld's dlm.conf: its fencing of the
// corosync cluster's nodes.
const (
	Corosync Stack = "corosync"
	O2CB     Stack = "o2cb"
	DLM      Stack = "dlm"
)

// ClusterNode is one member of the cluster as written in the file.
type ClusterNode struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	ID      int    `json:"id"`
	// ServerID is the node's Nova server (stack dlm, openstack fencing).
	ServerID string `json:"server_id,omitempty"`
}

// Membership is what a cluster file says about the cluster.
type Membership struct {
	ClusterName string
	Nodes       []ClusterNode
}

// NodeRequest is a node as the user lists it; ID is nil when the module is
// to choose it.
type NodeRequest struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	ID       *int   `json:"id"`
	ServerID string `json:"server_id"`
}

// idRange is the range of node ids a stack accepts. corosync's knet
// transport carries node ids in 16 bits and 0 is reserved; o2cb numbers
// nodes 0..254 (O2NM_MAX_NODES is 255).
func (s Stack) idRange(transport string) (lo, hi int) {
	if s == O2CB {
		return 0, 254
	}
	if transport == "udpu" {
		return 1, 1<<31 - 1
	}
	return 1, 65535
}

var (
	corosyncClusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	o2cbClusterName     = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)
	nodeName            = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	hostLabel           = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// ValidateClusterName applies the rules of the stack: o2cb takes at most 16
// letters or digits; corosync names double as the cluster part of a GFS2 lock
// table, which takes at most 32 letters, digits, '-' or '_'.
func (s Stack) ValidateClusterName(name string) error {
	switch s {
	case O2CB:
		if !o2cbClusterName.MatchString(name) {
			return fmt.Errorf("cluster_name %q is not valid for o2cb: use 1 to 16 letters or digits", name)
		}
	default:
		if !corosyncClusterName.MatchString(name) {
			return fmt.Errorf("cluster_name %q is not valid for corosync and GFS2 lock tables: use 1 to 32 letters, digits, '-' or '_'", name)
		}
	}
	return nil
}

func validHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !hostLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// validateAddress checks a node address: o2cb's kernel network layer speaks
// IPv4 only; corosync takes an IP address or a host name.
func (s Stack) validateAddress(node, addr string) error {
	ip := net.ParseIP(addr)
	if s == O2CB {
		if ip == nil || ip.To4() == nil {
			return fmt.Errorf("node %s: address %q is not an IPv4 address (o2cb needs one)", node, addr)
		}
		return nil
	}
	if ip == nil && !validHostName(addr) {
		return fmt.Errorf("node %s: address %q is neither an IP address nor a host name", node, addr)
	}
	return nil
}

// AssignIDs gives every requested node its id: an explicit id is kept; a node
// already in the existing file keeps its id there; any other node gets the
// lowest id not used by the rest. Adding a node never renumbers the others.
// The result is ordered by id. All problems are reported together.
func AssignIDs(stack Stack, transport string, requested []NodeRequest, existing []ClusterNode) ([]ClusterNode, error) {
	lo, hi := stack.idRange(transport)
	var problems []string
	seenName := map[string]bool{}
	seenAddr := map[string]string{}
	for _, n := range requested {
		switch {
		case n.Name == "":
			problems = append(problems, "a node has an empty name")
			continue
		case !nodeName.MatchString(n.Name):
			problems = append(problems, fmt.Sprintf("node %q: name must start with a letter or digit and hold only letters, digits, '.', '-' or '_'", n.Name))
		case stack == O2CB && len(n.Name) > 64:
			problems = append(problems, fmt.Sprintf("node %s: o2cb node names are at most 64 characters", n.Name))
		}
		if seenName[n.Name] {
			problems = append(problems, fmt.Sprintf("node %s is listed twice", n.Name))
		}
		seenName[n.Name] = true
		if err := stack.validateAddress(n.Name, n.Address); err != nil {
			problems = append(problems, err.Error())
		} else if other, dup := seenAddr[canonicalAddress(n.Address)]; dup {
			problems = append(problems, fmt.Sprintf("nodes %s and %s have the same address %s", other, n.Name, n.Address))
		} else {
			seenAddr[canonicalAddress(n.Address)] = n.Name
		}
		if n.ID != nil && (*n.ID < lo || *n.ID > hi) {
			problems = append(problems, fmt.Sprintf("node %s: id %d is out of range for %s (%d to %d)", n.Name, *n.ID, stack, lo, hi))
		}
	}

	previous := map[string]int{}
	for _, n := range existing {
		previous[n.Name] = n.ID
	}
	// Explicit ids first, then ids kept from the file; a kept id that an
	// explicit one now claims is given up, and that node gets a new id.
	used := map[int]string{}
	ids := make([]int, len(requested))
	for i, n := range requested {
		ids[i] = -1
		if n.ID == nil {
			continue
		}
		if other, dup := used[*n.ID]; dup {
			problems = append(problems, fmt.Sprintf("nodes %s and %s have the same id %d", other, n.Name, *n.ID))
			continue
		}
		used[*n.ID] = n.Name
		ids[i] = *n.ID
	}
	for i, n := range requested {
		if n.ID != nil {
			continue
		}
		if id, ok := previous[n.Name]; ok && id >= lo && id <= hi {
			if _, taken := used[id]; !taken {
				used[id] = n.Name
				ids[i] = id
			}
		}
	}
	next := lo
	for i, n := range requested {
		if ids[i] >= 0 || (n.ID != nil) {
			continue
		}
		for ; next <= hi; next++ {
			if _, taken := used[next]; !taken {
				break
			}
		}
		if next > hi {
			problems = append(problems, fmt.Sprintf("node %s: no free id left in %d to %d", n.Name, lo, hi))
			continue
		}
		used[next] = n.Name
		ids[i] = next
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	nodes := make([]ClusterNode, len(requested))
	for i, n := range requested {
		nodes[i] = ClusterNode{Name: n.Name, Address: n.Address, ID: ids[i], ServerID: n.ServerID}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return nodes, nil
}

func canonicalAddress(a string) string {
	if ip := net.ParseIP(a); ip != nil {
		return ip.String()
	}
	return strings.ToLower(strings.TrimSuffix(a, "."))
}

// MembershipChange lists node names added and removed relative to the
// previous file, each sorted.
func MembershipChange(before, after []ClusterNode) (added, removed []string) {
	old := map[string]bool{}
	for _, n := range before {
		old[n.Name] = true
	}
	now := map[string]bool{}
	for _, n := range after {
		now[n.Name] = true
		if !old[n.Name] {
			added = append(added, n.Name)
		}
	}
	for _, n := range before {
		if !now[n.Name] {
			removed = append(removed, n.Name)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}
