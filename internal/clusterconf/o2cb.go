package clusterconf

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// O2CBOptions are the settings of /etc/ocfs2/cluster.conf beyond the nodes.
type O2CBOptions struct {
	ClusterName string
	IPPort      int
}

// RenderO2CB renders cluster.conf in the layout ocfs2-tools writes: stanzas
// at column 0, attributes indented by one TAB, a blank line between stanzas.
func RenderO2CB(o O2CBOptions, nodes []ClusterNode) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	fmt.Fprintf(&b, "cluster:\n\tnode_count = %d\n\theartbeat_mode = local\n\tname = %s\n", len(nodes), o.ClusterName)
	for _, n := range nodes {
		fmt.Fprintf(&b, "\nnode:\n\tip_port = %d\n\tip_address = %s\n\tnumber = %d\n\tname = %s\n\tcluster = %s\n",
			o.IPPort, n.Address, n.ID, n.Name, o.ClusterName)
	}
	return b.Bytes()
}

type o2cbStanza struct {
	kind  string
	attrs map[string]string
}

// ParseO2CB reads the cluster and node stanzas of a cluster.conf. A file may
// describe several clusters; only the nodes of the one named in the first
// cluster stanza are read.
func ParseO2CB(data []byte) (Membership, error) {
	var stanzas []*o2cbStanza
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			if !strings.HasSuffix(text, ":") || strings.ContainsAny(strings.TrimSuffix(text, ":"), " \t=:") {
				return Membership{}, fmt.Errorf("line %d: expected a stanza header like 'node:', got %q", line, text)
			}
			stanzas = append(stanzas, &o2cbStanza{kind: strings.TrimSuffix(text, ":"), attrs: map[string]string{}})
			continue
		}
		if len(stanzas) == 0 {
			return Membership{}, fmt.Errorf("line %d: attribute outside a stanza", line)
		}
		key, value, ok := strings.Cut(text, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return Membership{}, fmt.Errorf("line %d: expected 'key = value', got %q", line, text)
		}
		stanzas[len(stanzas)-1].attrs[key] = strings.TrimSpace(value)
	}
	if err := sc.Err(); err != nil {
		return Membership{}, err
	}

	var m Membership
	for _, s := range stanzas {
		if s.kind == "cluster" && m.ClusterName == "" {
			m.ClusterName = s.attrs["name"]
		}
	}
	for _, s := range stanzas {
		if s.kind != "node" || (m.ClusterName != "" && s.attrs["cluster"] != m.ClusterName) {
			continue
		}
		name := s.attrs["name"]
		if name == "" {
			return Membership{}, fmt.Errorf("a node stanza has no name")
		}
		id, err := strconv.Atoi(s.attrs["number"])
		if err != nil {
			return Membership{}, fmt.Errorf("node %s: number %q is not a number", name, s.attrs["number"])
		}
		m.Nodes = append(m.Nodes, ClusterNode{Name: name, Address: s.attrs["ip_address"], ID: id})
	}
	return m, nil
}
