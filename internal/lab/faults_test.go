package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
)

// TestFakeQEMU is not a test: it is the process that stands for a node's
// qemu in the tests below (the lab's marker in its command line).
func TestFakeQEMU(t *testing.T) {
	if os.Getenv("LAB_TEST_FAKE_QEMU") != "1" {
		t.Skip("the stand-in for a qemu process")
	}
	time.Sleep(time.Minute)
}

// faultLab is a lab whose state has node1, running as a stand-in qemu
// process, and node2, off.
func faultLab(t *testing.T) (*Lab, int) {
	t.Helper()
	l := &Lab{Dir: t.TempDir()}
	st := &State{PortBase: 22000, Nodes: []Node{{1, "node1"}, {2, "node2"}}}
	if err := saveState(l.statePath(), st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFakeQEMU$", "--", l.Marker())
	cmd.Env = append(os.Environ(), "LAB_TEST_FAKE_QEMU=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	pid := cmd.Process.Pid
	// Until it has exec'd, its command line is this test's, without the
	// marker.
	for deadline := time.Now().Add(5 * time.Second); !proc.Alive(pid, l.Marker()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in qemu does not run")
		}
	}
	if err := os.WriteFile(l.pidFile(Node{Name: "node1"}), []byte(fmt.Sprintln(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	return l, pid
}

func statusOf(t *testing.T, l *Lab, name string) NodeStatus {
	t.Helper()
	st, err := l.RequireState()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Status(st) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return NodeStatus{}
}

func TestFreezeThaw(t *testing.T) {
	l, pid := faultLab(t)
	ctx := context.Background()
	if s := statusOf(t, l, "node1"); s.Power != "running" || s.PID != pid || !s.Running {
		t.Errorf("before the freeze: %+v", s)
	}
	for i := 0; i < 2; i++ { // a second freeze changes nothing
		if err := l.Freeze(ctx, "node1"); err != nil {
			t.Fatal(err)
		}
		if !proc.Frozen(pid) {
			t.Fatalf("freeze %d: state %c", i+1, proc.State(pid))
		}
	}
	if s := statusOf(t, l, "node1"); s.Power != "frozen" || s.PID != pid || !s.Running {
		t.Errorf("frozen: %+v", s)
	}
	for i := 0; i < 2; i++ {
		if err := l.Thaw(ctx, "node1"); err != nil {
			t.Fatal(err)
		}
		if proc.Frozen(pid) || !proc.Alive(pid, l.Marker()) {
			t.Fatalf("thaw %d: state %c", i+1, proc.State(pid))
		}
	}
	if s := statusOf(t, l, "node1"); s.Power != "running" {
		t.Errorf("thawed: %+v", s)
	}
	for _, c := range []struct {
		do        func(context.Context, string) error
		node, err string
	}{
		{l.Freeze, "node2", "cannot freeze node2: it is off"},
		{l.Thaw, "node2", "cannot thaw node2: it is off"},
		{l.Freeze, "node9", `no node "node9" in this lab`},
		{l.Thaw, "node9", `no node "node9" in this lab`},
	} {
		if err := c.do(ctx, c.node); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.node, err, c.err)
		}
	}
}

// fakeQMP answers on node's QMP socket as QEMU does, and passes on each
// command with its arguments.
func fakeQMP(t *testing.T, path string) <-chan string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte(`{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}` + "\n"))
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				var req struct {
					Execute   string          `json:"execute"`
					Arguments json.RawMessage `json:"arguments"`
				}
				json.Unmarshal(sc.Bytes(), &req)
				if req.Execute != "qmp_capabilities" {
					got <- req.Execute + " " + string(req.Arguments)
				}
				conn.Write([]byte(`{"return": {}}` + "\n"))
			}
			conn.Close()
		}
	}()
	return got
}

func TestSetClusterLink(t *testing.T) {
	l, pid := faultLab(t)
	ctx := context.Background()
	got := fakeQMP(t, l.qmpSocket(Node{Name: "node1"}))
	if s := statusOf(t, l, "node1"); s.ClusterLink != "up" {
		t.Errorf("before: link %s", s.ClusterLink)
	}
	for _, c := range []struct {
		up   bool
		qmp  string
		link string
	}{
		{false, `set_link {"name":"cluster-nic","up":false}`, "down"},
		{false, `set_link {"name":"cluster-nic","up":false}`, "down"}, // again: the same
		{true, `set_link {"name":"cluster-nic","up":true}`, "up"},
		{true, `set_link {"name":"cluster-nic","up":true}`, "up"},
		{false, `set_link {"name":"cluster-nic","up":false}`, "down"},
	} {
		if err := l.SetClusterLink(ctx, "node1", c.up); err != nil {
			t.Fatal(err)
		}
		select {
		case cmd := <-got:
			if cmd != c.qmp {
				t.Errorf("QMP got %s, want %s", cmd, c.qmp)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no QMP command")
		}
		if s := statusOf(t, l, "node1"); s.ClusterLink != c.link {
			t.Errorf("after up=%v: link %s, want %s", c.up, s.ClusterLink, c.link)
		}
	}
	// A frozen qemu would never answer: refused before QMP is asked.
	if err := l.Freeze(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetClusterLink(ctx, "node1", true); err == nil || !strings.Contains(err.Error(), "node1 is frozen") {
		t.Errorf("link of a frozen node: %v", err)
	}
	if s := statusOf(t, l, "node1"); s.Power != "frozen" || s.ClusterLink != "down" {
		t.Errorf("frozen with its link down: %+v", s)
	}
	if err := l.Thaw(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetClusterLink(ctx, "node2", false); err == nil || !strings.Contains(err.Error(), "it is off") {
		t.Errorf("link of a node that is off: %v", err)
	}
	if s := statusOf(t, l, "node2"); s.ClusterLink != "down" || s.Power != "off" || s.PID != 0 {
		t.Errorf("node2, off: %+v", s)
	}
	// A new qemu of the node starts with its link up: the record names
	// the old one.
	os.WriteFile(l.linkDownFile(Node{Name: "node1"}), []byte(fmt.Sprintln(pid+1)), 0o644)
	if s := statusOf(t, l, "node1"); s.ClusterLink != "up" {
		t.Errorf("a record of another qemu: link %s", s.ClusterLink)
	}
	select {
	case cmd := <-got:
		t.Errorf("unexpected QMP command %s", cmd)
	default:
	}
}

func TestStatusServerID(t *testing.T) {
	l, _ := faultLab(t)
	for _, name := range []string{"node1", "node2"} {
		if s := statusOf(t, l, name); s.ServerID != ServerID(l.Dir, name) {
			t.Errorf("%s: server id %s", name, s.ServerID)
		}
	}
	st, _ := l.RequireState()
	b, err := json.Marshal(l.Status(st))
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	json.Unmarshal(b, &got)
	for _, key := range []string{"name", "power", "pid", "cluster_link", "server_id", "running", "ssh_port", "cluster_address", "volumes"} {
		for _, s := range got {
			if _, ok := s[key]; !ok {
				t.Errorf("status of %v has no %s", s["name"], key)
			}
		}
	}
}
