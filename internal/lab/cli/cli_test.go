package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
)

// upLab is a lab directory whose state says node1 and node2 are up, with
// no VM running (both read as off).
func upLab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st := lab.State{PortBase: 22000, Image: "/cache/images/debian12-abc", Nodes: []lab.Node{{Index: 1, Name: "node1"}, {Index: 2, Name: "node2"}}}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFaultCommandArguments(t *testing.T) {
	dir := upLab(t)
	notUp := t.TempDir()
	ctx := context.Background()
	for _, c := range []struct {
		cmd  subcommand
		args []string
		err  string
	}{
		{cmdFreeze, []string{"--lab", dir}, "which node? usage: lab freeze NODE"},
		{cmdFreeze, []string{"--lab", dir, "node1", "node2"}, `unexpected arguments ["node2"]: usage: lab freeze NODE`},
		{cmdFreeze, []string{"--lab", dir, "node9"}, `no node "node9" in this lab (nodes: [node1 node2])`},
		{cmdFreeze, []string{"--lab", dir, "node1"}, "cannot freeze node1: it is off"},
		{cmdFreeze, []string{"--lab", notUp, "node1"}, "no lab is up in " + notUp},
		{cmdThaw, []string{"--lab", dir}, "which node? usage: lab thaw NODE"},
		{cmdThaw, []string{"--lab", dir, "2"}, "cannot thaw node2: it is off"},
		{cmdThaw, []string{"--lab", dir, "node9"}, `no node "node9"`},
		{cmdLink, []string{"--lab", dir}, "which node? usage: lab link NODE down|up"},
		{cmdLink, []string{"--lab", dir, "node1"}, "down or up? usage: lab link NODE down|up"},
		{cmdLink, []string{"--lab", dir, "node1", "off"}, `down or up? usage: lab link NODE down|up (got ["off"])`},
		{cmdLink, []string{"--lab", dir, "node1", "down", "now"}, "down or up?"},
		{cmdLink, []string{"--lab", dir, "node9", "down"}, `no node "node9"`},
		{cmdLink, []string{"--lab", dir, "node2", "up"}, "cannot set the cluster link of node2: it is off"},
		{cmdLink, []string{"--lab", notUp, "node1", "up"}, "no lab is up"},
	} {
		err := c.cmd(ctx, "test", c.args)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.args, err, c.err)
		}
	}
}

func TestLinkState(t *testing.T) {
	for args, want := range map[string]bool{"down": false, "up": true} {
		if up, err := linkState([]string{args}); err != nil || up != want {
			t.Errorf("%s: %v, %v", args, up, err)
		}
	}
	for _, args := range [][]string{nil, {"UP"}, {"down", "up"}, {""}} {
		if _, err := linkState(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestRelayArguments(t *testing.T) {
	if addr, err := relayArgs([]string{"--lab", "/w/.lab/x/", "127.0.0.1:22099"}); err != nil || addr != "127.0.0.1:22099" {
		t.Errorf("relayArgs = %q, %v", addr, err)
	}
	for _, args := range [][]string{
		nil,
		{"--lab", "/w/.lab/x/"},
		{"--lab", "/w/.lab/x/", "127.0.0.1:22099", "127.0.0.1:22098"},
		{"--lab", "/w/.lab/x/", "10.0.2.2:22099"},
		{"--lab", "/w/.lab/x/", "localhost:22099"},
		{"--unknown", "127.0.0.1:22099"},
	} {
		if addr, err := relayArgs(args); err == nil {
			t.Errorf("%q accepted: %s", args, addr)
		}
	}
}

// TestStatusJSON: the fields scripts read, for every node.
func TestStatusJSON(t *testing.T) {
	dir := upLab(t)
	out := captureStdout(t, func() error { return cmdStatus(context.Background(), "status", []string{"--lab", dir, "--json"}) })
	var status struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(status.Nodes) != 2 {
		t.Fatalf("nodes: %s", out)
	}
	for i, n := range status.Nodes {
		name := lab.NodeName(i + 1)
		want := map[string]any{"name": name, "power": "off", "pid": float64(0), "cluster_link": "down",
			"server_id": lab.ServerID(dir, name), "running": false}
		for k, v := range want {
			if n[k] != v {
				t.Errorf("%s: %s = %v, want %v", name, k, n[k], v)
			}
		}
	}
	text := captureStdout(t, func() error { return cmdStatus(context.Background(), "status", []string{"--lab", dir}) })
	for _, want := range []string{"POWER", "LINK", "SERVER ID", lab.ServerID(dir, "node2")} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

// TestInventoryServerIDs: `inventory --list` and `--host` give each node
// its server ID without any cloud.
func TestInventoryServerIDs(t *testing.T) {
	dir := upLab(t)
	out := captureStdout(t, func() error { return cmdInventory(context.Background(), "inventory", []string{"--lab", dir, "--list"}) })
	var inv struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, name := range []string{"node1", "node2"} {
		if got := inv.Meta.Hostvars[name]["cluster_server_id"]; got != lab.ServerID(dir, name) {
			t.Errorf("%s: cluster_server_id %v", name, got)
		}
	}
	out = captureStdout(t, func() error {
		return cmdInventory(context.Background(), "inventory", []string{"--lab", dir, "--host", "node2"})
	})
	if !strings.Contains(out, `"cluster_server_id": "`+lab.ServerID(dir, "node2")+`"`) {
		t.Errorf("--host node2:\n%s", out)
	}
}

// captureStdout runs f with os.Stdout going to a pipe and returns what it
// printed; f must succeed.
func captureStdout(t *testing.T, f func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		read <- string(b)
	}()
	err = f()
	os.Stdout = old
	w.Close()
	out := <-read
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}
