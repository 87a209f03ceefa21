package clusterconf

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// CorosyncOptions are the settings of corosync.conf beyond the node list.
type CorosyncOptions struct {
	ClusterName string
	Transport   string // knet or udpu
	Crypto      bool   // aes256/sha256; knet only
}

// header marks the files this collection manages.
const header = "# Managed by Ansible (cinder.multiattach.cluster_conf): local changes will be overwritten.\n"

// RenderCorosync renders corosync.conf for corosync 3. two_node is set exactly
// when the cluster has two nodes: it lets one node keep quorum when the other
// fails (and implies wait_for_all at start).
func RenderCorosync(o CorosyncOptions, nodes []ClusterNode) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("totem {\n")
	b.WriteString("    version: 2\n")
	fmt.Fprintf(&b, "    cluster_name: %s\n", o.ClusterName)
	fmt.Fprintf(&b, "    transport: %s\n", o.Transport)
	if o.Crypto {
		b.WriteString("    crypto_cipher: aes256\n    crypto_hash: sha256\n")
	} else {
		b.WriteString("    crypto_cipher: none\n    crypto_hash: none\n")
	}
	b.WriteString("}\n\nnodelist {\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "    node {\n        ring0_addr: %s\n        name: %s\n        nodeid: %d\n    }\n", n.Address, n.Name, n.ID)
	}
	b.WriteString("}\n\nquorum {\n    provider: corosync_votequorum\n")
	if len(nodes) == 2 {
		b.WriteString("    two_node: 1\n")
	}
	b.WriteString("}\n\nlogging {\n    to_syslog: yes\n    to_stderr: no\n    timestamp: on\n}\n")
	return b.Bytes()
}

// corosyncSection is one { } block of corosync.conf.
type corosyncSection struct {
	name     string
	values   map[string]string
	sections []*corosyncSection
}

// parseCorosyncTree reads corosync.conf's nested "name {", "key: value", "}"
// syntax. Comments are whole lines starting with '#'.
func parseCorosyncTree(data []byte) (*corosyncSection, error) {
	root := &corosyncSection{values: map[string]string{}}
	stack := []*corosyncSection{root}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cur := stack[len(stack)-1]
		switch {
		case strings.HasSuffix(text, "{"):
			name := strings.TrimSpace(strings.TrimSuffix(text, "{"))
			if name == "" || strings.ContainsAny(name, "{}:") {
				return nil, fmt.Errorf("line %d: bad section header %q", line, text)
			}
			s := &corosyncSection{name: name, values: map[string]string{}}
			cur.sections = append(cur.sections, s)
			stack = append(stack, s)
		case text == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("line %d: '}' without an open section", line)
			}
			stack = stack[:len(stack)-1]
		default:
			key, value, ok := strings.Cut(text, ":")
			key = strings.TrimSpace(key)
			if !ok || key == "" || strings.ContainsAny(key, "{} \t") {
				return nil, fmt.Errorf("line %d: expected 'key: value', got %q", line, text)
			}
			cur.values[key] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("section %q is not closed", stack[len(stack)-1].name)
	}
	return root, nil
}

// ParseCorosync reads the cluster name and node list of a corosync.conf.
// Every node needs a name and a nodeid: those are what keep ids stable.
func ParseCorosync(data []byte) (Membership, error) {
	root, err := parseCorosyncTree(data)
	if err != nil {
		return Membership{}, err
	}
	var m Membership
	for _, s := range root.sections {
		switch s.name {
		case "totem":
			m.ClusterName = s.values["cluster_name"]
		case "nodelist":
			for _, n := range s.sections {
				if n.name != "node" {
					continue
				}
				name := n.values["name"]
				if name == "" {
					return Membership{}, fmt.Errorf("a node in nodelist has no name")
				}
				id, err := strconv.Atoi(n.values["nodeid"])
				if err != nil {
					return Membership{}, fmt.Errorf("node %s: nodeid %q is not a number", name, n.values["nodeid"])
				}
				m.Nodes = append(m.Nodes, ClusterNode{Name: name, Address: n.values["ring0_addr"], ID: id})
			}
		}
	}
	return m, nil
}
