package lab

import (
	"crypto/sha1"
	"fmt"
)

// namespaceURL is RFC 9562's name space for URLs.
var namespaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// ServerID is the Nova server ID of node name in the lab in dir: the
// name-based UUID (version 5, RFC 9562) of "file://DIR#NAME" in the URL
// name space. The inventory gives it without asking the lab's cloud, and
// the lab's Nova serves the node under it whenever it runs, nodes added
// later included. Python's uuid.uuid5(uuid.NAMESPACE_URL,
// "file:///work/.lab/default#node1") is the same.
func ServerID(dir, name string) string {
	h := sha1.New()
	h.Write(namespaceURL[:])
	h.Write([]byte("file://" + dir + "#" + name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// ServerID is node's Nova server ID in this lab.
func (l *Lab) ServerID(n Node) string { return ServerID(l.Dir, n.Name) }
