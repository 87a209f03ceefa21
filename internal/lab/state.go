package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/cinder-multiattach/cinder.multiattach/internal/atomicfile"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// State is what a lab directory records about its lab (lab.json). The
// processes themselves are known by their pid files.
type State struct {
	PortBase       int      `json:"port_base"`
	Image          string   `json:"image"`
	MemoryMiB      int      `json:"memory_mib"`
	Accel          string   `json:"accel"`
	Executable     string   `json:"executable"`
	Nodes          []Node   `json:"nodes"`
	Volumes        []Volume `json:"volumes"`
	InstanceConfig string   `json:"instance_config,omitempty"`
}

// Node is one VM of the lab.
type Node struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
}

// Volume is a shared volume and the nodes it is attached to.
type Volume struct {
	ID       string   `json:"id"`
	SizeMiB  int      `json:"size_mib"`
	Slot     int      `json:"slot"`
	Attached []string `json:"attached"`
}

// Volume PCI slots: after the fixed devices (slots 3 to 6), below 32.
const (
	firstVolumeSlot = 0x10
	lastVolumeSlot  = 0x1f
)

// freeSlot is the lowest volume slot no volume of the lab has.
func (s *State) freeSlot() (int, error) {
	for slot := firstVolumeSlot; slot <= lastVolumeSlot; slot++ {
		used := false
		for _, v := range s.Volumes {
			used = used || v.Slot == slot
		}
		if !used {
			return slot, nil
		}
	}
	return 0, fmt.Errorf("a lab has at most %d volumes: delete one first", lastVolumeSlot-firstVolumeSlot+1)
}

// ClusterSubnet holds the nodes' addresses on the private cluster link.
const ClusterSubnet = "192.168.100.0/24"

// ClusterAddress is node index's address on the cluster link.
func ClusterAddress(index int) string { return fmt.Sprintf("192.168.100.%d", 10+index) }

// NodeName is the name (and hostname) of node index.
func NodeName(index int) string { return fmt.Sprintf("node%d", index) }

// MaxNodes bounds a lab: node ports are PortBase+index, below the next
// lab's block of 100.
const MaxNodes = 60

// SSHPort is the host port forwarded to node's SSH.
func (s *State) SSHPort(n Node) int { return s.PortBase + n.Index }

// OpenStackPort is where the lab serves its fake OpenStack.
func (s *State) OpenStackPort() int { return s.PortBase + 99 }

// DefaultPortBase spreads labs over blocks of 100 ports between 20000 and
// 59900 by their directory, so that labs side by side get different ports
// without being told.
func DefaultPortBase(dir string) int {
	h := fnv.New32a()
	h.Write([]byte(dir))
	return 20000 + int(h.Sum32()%400)*100
}

// Node returns the node called name (or numbered name: "2" is node2).
func (s *State) Node(name string) (Node, error) {
	for _, n := range s.Nodes {
		if n.Name == name || fmt.Sprint(n.Index) == name {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("no node %q in this lab (nodes: %v)", name, s.nodeNames())
}

func (s *State) nodeNames() []string {
	names := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		names[i] = n.Name
	}
	return names
}

// Volume returns the volume with id, or nil.
func (s *State) Volume(id string) *Volume {
	for i := range s.Volumes {
		if s.Volumes[i].ID == id {
			return &s.Volumes[i]
		}
	}
	return nil
}

// VolumesOf lists the volumes attached to node, in the order they were made.
func (s *State) VolumesOf(node string) []Volume {
	var vols []Volume
	for _, v := range s.Volumes {
		if contains(v.Attached, node) {
			vols = append(vols, v)
		}
	}
	return vols
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

var volumeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateVolumeID refuses ids that cannot be a device serial, and ids
// whose first 20 characters (what the guest sees) clash with another
// volume's.
func (s *State) ValidateVolumeID(id string) error {
	if !volumeIDPattern.MatchString(id) || len(id) > 64 {
		return fmt.Errorf("volume id %q: use letters, digits, '.', '_' and '-' only (at most 64)", id)
	}
	for _, v := range s.Volumes {
		if v.ID != id && volume.Serial(v.ID) == volume.Serial(id) {
			return fmt.Errorf("volume id %q: its first 20 characters are those of volume %s, and the guest would see both as %s", id, v.ID, volume.ByIDPath(id))
		}
	}
	return nil
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab state %s is damaged (%v): run `lab down` to reset the lab", path, err)
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Index < s.Nodes[j].Index })
	return &s, nil
}

func saveState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
