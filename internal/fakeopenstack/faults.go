package fakeopenstack

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// Fault makes matching requests fail or slow down. A request matches when
// each non-empty field of Service, Method and Path matches.
type Fault struct {
	Service string // identity, compute or volume
	Method  string
	Path    string // a substring of the URL path
	// Skip lets the first Skip matching requests through; Times is how many
	// matching requests after those get the fault (0: all of them).
	Skip  int
	Times int

	// Status answers with this HTTP status and an OpenStack error body
	// whose message is Message ("injected fault: <status text>" if empty).
	Status  int
	Message string
	// Reset closes the connection without an answer.
	Reset bool
	// Delay holds the answer back (a slow response); with neither Status nor
	// Reset the request is then served normally.
	Delay time.Duration
	// After lets the request take effect first and then answers with Status
	// or Reset, as when a response is lost after the server acted.
	After bool
}

type faultState struct {
	Fault
	seen, applied int
}

// InjectFault adds a fault; faults apply in the order they were added, the
// first matching one that is still active wins.
func (c *Cloud) InjectFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &faultState{Fault: f})
}

// ClearFaults removes every fault.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// matchFault returns the fault to apply to this request, if any, and counts
// it as applied.
func (c *Cloud) matchFault(service string, r *http.Request) *Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.faults {
		if f.Service != "" && f.Service != service ||
			f.Method != "" && !strings.EqualFold(f.Method, r.Method) ||
			f.Path != "" && !strings.Contains(r.URL.Path, f.Path) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		if f.Times > 0 && f.applied >= f.Times {
			continue
		}
		f.applied++
		copied := f.Fault
		return &copied
	}
	return nil
}

// resetConnection drops the client's connection with a TCP reset.
func resetConnection(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
	return true
}

// discardWriter lets a request take effect while its answer is thrown away.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
