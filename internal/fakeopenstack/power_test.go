package fakeopenstack

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// action posts a server action and returns the status, the body and the
// request ID.
func (c *client) action(serverID string, body any) (int, map[string]any, string) {
	c.t.Helper()
	status, out, hdr := c.raw("POST", "/compute/v2.1/servers/"+serverID+"/action", body,
		map[string]string{"X-Auth-Token": c.token, "X-OpenStack-Nova-API-Version": c.mv})
	return status, out, hdr.Get("X-Openstack-Request-Id")
}

func (c *client) server(id string) map[string]any {
	c.t.Helper()
	status, body := c.call("GET", "/compute/v2.1/servers/"+id, nil)
	if status != 200 {
		c.t.Fatalf("show server %s: %d %v", id, status, body)
	}
	return body["server"].(map[string]any)
}

// serverStates is status, vm_state, task_state ("-" for none) and
// power_state.
func serverStates(s map[string]any) string {
	task, _ := s["OS-EXT-STS:task_state"].(string)
	if task == "" {
		task = "-"
	}
	return fmt.Sprintf("%v %v %s %v", s["status"], s["OS-EXT-STS:vm_state"], task, s["OS-EXT-STS:power_state"])
}

// waitServer polls until the server's states are want, recording every
// distinct state seen on the way.
func (c *client) waitServer(id, want string) []string {
	c.t.Helper()
	var seen []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := serverStates(c.server(id))
		if len(seen) == 0 || seen[len(seen)-1] != got {
			seen = append(seen, got)
		}
		if got == want {
			return seen
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("server %s: states %q, want %q", id, seen, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// inOrder reports whether seen is want with some states left out.
func inOrder(seen, want []string) bool {
	i := 0
	for _, s := range seen {
		for i < len(want) && want[i] != s {
			i++
		}
		if i == len(want) {
			return false
		}
	}
	return true
}

func (c *client) instanceAction(serverID, requestID string) map[string]any {
	c.t.Helper()
	status, body := c.call("GET", "/compute/v2.1/servers/"+serverID+"/os-instance-actions/"+requestID, nil)
	if status != 200 {
		c.t.Fatalf("instance action %s: %d %v", requestID, status, body)
	}
	return body["instanceAction"].(map[string]any)
}

func TestPowerActionTransitionsLikeNova(t *testing.T) {
	var mu sync.Mutex
	var calls []PowerRequest
	_, c := startFake(t, Config{Servers: servers4(), PowerLatency: 400 * time.Millisecond,
		Power: func(ctx context.Context, p PowerRequest) error {
			mu.Lock()
			calls = append(calls, p)
			mu.Unlock()
			return nil
		}})

	status, _, hardID := c.action("s1-id", map[string]any{"reboot": map[string]any{"type": "HARD"}})
	if status != 202 || !strings.HasPrefix(hardID, "req-") {
		t.Fatalf("hard reboot: %d, request ID %q", status, hardID)
	}
	// The API records the action at once; its event starts when the compute
	// host takes it up.
	if a := c.instanceAction("s1-id", hardID); a["action"] != "reboot" || len(a["events"].([]any)) != 0 {
		t.Errorf("queued reboot: %v", a)
	}
	if got := serverStates(c.server("s1-id")); got != "HARD_REBOOT active rebooting_hard 1" {
		t.Errorf("right after the request: %s", got)
	}
	seen := c.waitServer("s1-id", "ACTIVE active - 1")
	want := []string{"HARD_REBOOT active rebooting_hard 1", "HARD_REBOOT active reboot_pending_hard 1",
		"HARD_REBOOT active reboot_started_hard 1", "ACTIVE active - 1"}
	// Polling may miss a short state, never reorder them.
	if !inOrder(seen, want) || len(seen) < 3 {
		t.Errorf("hard reboot states:\n got %q\nwant %q", seen, want)
	}
	ev := c.instanceAction("s1-id", hardID)["events"].([]any)[0].(map[string]any)
	if ev["event"] != "compute_reboot_instance" || ev["result"] != "Success" || ev["finish_time"] == nil {
		t.Errorf("reboot event: %v", ev)
	}

	if status, _, _ := c.action("s2-id", map[string]any{"os-stop": nil}); status != 202 {
		t.Fatalf("os-stop: %d", status)
	}
	seen = c.waitServer("s2-id", "SHUTOFF stopped - 4")
	if seen[0] != "ACTIVE active powering-off 1" {
		t.Errorf("os-stop states: %q", seen)
	}
	// Nova's conflicts: the wrong vm_state, or any task in progress.
	for _, tc := range []struct {
		server string
		body   map[string]any
		msg    string
	}{
		{"s2-id", map[string]any{"os-stop": nil}, "Cannot 'stop' instance s2-id while it is in vm_state stopped"},
		{"s2-id", map[string]any{"reboot": map[string]any{"type": "SOFT"}}, "Cannot 'reboot' instance s2-id while it is in vm_state stopped"},
		{"s1-id", map[string]any{"os-start": nil}, "Cannot 'start' instance s1-id while it is in vm_state active"},
	} {
		status, body, _ := c.action(tc.server, tc.body)
		if status != 409 || body["conflictingRequest"].(map[string]any)["message"] != tc.msg {
			t.Errorf("%v on %s: %d %v, want 409 %q", tc.body, tc.server, status, body, tc.msg)
		}
	}
	if status, _, _ := c.action("s2-id", map[string]any{"os-start": nil}); status != 202 {
		t.Fatalf("os-start: %d", status)
	}
	if status, body, _ := c.action("s2-id", map[string]any{"reboot": map[string]any{"type": "HARD"}}); status != 409 ||
		!strings.Contains(body["conflictingRequest"].(map[string]any)["message"].(string), "while it is in task_state powering-on") {
		t.Errorf("hard reboot while powering on: %d %v", status, body)
	}
	c.waitServer("s2-id", "ACTIVE active - 1")

	// A hard reboot of a stopped server starts it.
	c.action("s10-id", map[string]any{"os-stop": nil})
	c.waitServer("s10-id", "SHUTOFF stopped - 4")
	c.action("s10-id", map[string]any{"reboot": map[string]any{"type": "hard"}})
	if seen := c.waitServer("s10-id", "ACTIVE active - 1"); !strings.HasPrefix(seen[0], "HARD_REBOOT stopped ") {
		t.Errorf("hard reboot of a stopped server: %q", seen)
	}

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, p := range calls {
		got = append(got, string(p.Action)+" "+p.ServerName)
	}
	wantCalls := "hard-reboot s1,stop s2,start s2,stop s10,hard-reboot s10"
	if strings.Join(got, ",") != wantCalls {
		t.Errorf("callbacks: %q, want %q", got, wantCalls)
	}
	if calls[0].RequestID != hardID || calls[0].ServerID != "s1-id" {
		t.Errorf("callback request: %+v", calls[0])
	}
}

func TestPowerBadRequests(t *testing.T) {
	_, c := startFake(t, Config{Servers: servers4()})
	for _, tc := range []struct {
		body   any
		status int
	}{
		{map[string]any{"reboot": map[string]any{"type": "COLD"}}, 400},
		{map[string]any{"reboot": map[string]any{}}, 400},
		{map[string]any{"os-pause-everything": nil}, 400},
		{map[string]any{"os-stop": nil, "os-start": nil}, 400},
	} {
		if status, body, _ := c.action("s1-id", tc.body); status != tc.status {
			t.Errorf("%v: %d %v, want %d", tc.body, status, body, tc.status)
		}
	}
	if status, _, _ := c.action("no-such-server", map[string]any{"os-stop": nil}); status != 404 {
		t.Errorf("unknown server: %d", status)
	}
}

func TestPowerCallbackFailureLooksLikeNova(t *testing.T) {
	_, c := startFake(t, Config{Servers: servers4(), PowerLatency: 20 * time.Millisecond,
		Power: func(ctx context.Context, p PowerRequest) error {
			return errors.New("QMP " + string(p.Action) + " failed: guest not responding")
		}})
	c.mv = "2.84"
	// A failed reboot leaves the instance in ERROR; a failed stop or start
	// reverts the task state only.
	_, _, rebootID := c.action("s1-id", map[string]any{"reboot": map[string]any{"type": "HARD"}})
	c.waitServer("s1-id", "ERROR error - 0")
	_, _, stopID := c.action("s2-id", map[string]any{"os-stop": nil})
	c.waitServer("s2-id", "ACTIVE active - 1")
	for server, id := range map[string]string{"s1-id": rebootID, "s2-id": stopID} {
		var a map[string]any
		deadline := time.Now().Add(5 * time.Second)
		for a = c.instanceAction(server, id); a["message"] != "Error" && time.Now().Before(deadline); a = c.instanceAction(server, id) {
			time.Sleep(2 * time.Millisecond)
		}
		ev := a["events"].([]any)[0].(map[string]any)
		if a["message"] != "Error" || ev["result"] != "Error" || !strings.Contains(ev["details"].(string), "guest not responding") {
			t.Errorf("%s action %s: %v", server, id, a)
		}
	}
}

// TestPowerThroughGophercloud checks the request ID gophercloud hands back
// names the instance action.
func TestPowerThroughGophercloud(t *testing.T) {
	cloud, err := New(Config{Servers: servers4()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() { srv.Close(); _ = cloud.Close() })
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: AuthURL(srv.URL), Username: "admin", Password: "secret", DomainName: "Default",
		TenantName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	compute, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	compute.Microversion = "2.60"
	r := servers.Reboot(ctx, compute, "s1-id", servers.RebootOpts{Type: servers.HardReboot})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	id := r.Header.Get("X-Openstack-Request-Id")
	action, err := instanceactions.Get(ctx, compute, "s1-id", id).Extract()
	if err != nil || action.Action != "reboot" || action.RequestID != id {
		t.Errorf("instance action %s: %+v %v", id, action, err)
	}
	if err := servers.Stop(ctx, compute, "s1-id").ExtractErr(); !gophercloud.ResponseCodeIs(err, 409) {
		// Without latency the reboot may be done already; then stop works.
		if err != nil {
			t.Errorf("stop after reboot: %v", err)
		}
	}
}

// TestSyncPowerStateStopsLikeNova: a VM that died by itself makes its
// server SHUTOFF through a stop Nova records; a stopped server whose VM
// runs is stopped again; a server in a task is left alone.
func TestSyncPowerStateStopsLikeNova(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	gate := make(chan struct{})
	cloud, c := startFake(t, Config{Servers: servers4(), PowerLatency: 40 * time.Millisecond,
		Power: func(ctx context.Context, p PowerRequest) error {
			mu.Lock()
			calls = append(calls, string(p.Action)+" "+p.ServerName)
			mu.Unlock()
			if p.Action == PowerOn {
				<-gate // an os-start that takes its time
			}
			return nil
		}})
	running := func(on bool) func() bool { return func() bool { return on } }

	if cloud.SyncPowerState("s1-id", running(true)) {
		t.Error("a running VM of an active server: stopped")
	}
	if cloud.SyncPowerState("no-such-id", running(false)) {
		t.Error("an unknown server: stopped")
	}
	if !cloud.SyncPowerState("s1-id", running(false)) {
		t.Fatal("an active server whose VM is gone: not stopped")
	}
	if status, _, _ := c.action("s1-id", map[string]any{"os-stop": nil}); status != 409 {
		t.Errorf("os-stop during the sync's stop: %d, want 409", status)
	}
	c.waitServer("s1-id", "SHUTOFF stopped - 4")
	status, body := c.call("GET", "/compute/v2.1/servers/s1-id/os-instance-actions", nil)
	actions := body["instanceActions"].([]any)
	if status != 200 || len(actions) != 1 {
		t.Fatalf("instance actions: %d %v", status, body)
	}
	stop := actions[0].(map[string]any)
	if stop["action"] != "stop" || !strings.HasPrefix(stop["request_id"].(string), "req-") {
		t.Errorf("the sync's instance action: %v", stop)
	}
	ev := c.instanceAction("s1-id", stop["request_id"].(string))["events"].([]any)[0].(map[string]any)
	if ev["event"] != "compute_stop_instance" || ev["result"] != "Success" {
		t.Errorf("the sync's stop event: %v", ev)
	}

	// Stopped, and the VM runs (started behind Nova's back): stopped again.
	if cloud.SyncPowerState("s1-id", running(false)) {
		t.Error("a stopped server without VM: stopped again")
	}
	if !cloud.SyncPowerState("s1-id", running(true)) {
		t.Error("a stopped server whose VM runs: left running")
	}
	c.waitServer("s1-id", "SHUTOFF stopped - 4")

	// A power action in progress (here an os-start in its callback) holds
	// the sync off, whatever the VM looks like.
	c.action("s10-id", map[string]any{"os-stop": nil})
	c.waitServer("s10-id", "SHUTOFF stopped - 4")
	c.action("s10-id", map[string]any{"os-start": nil})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("os-start never reached its callback")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if cloud.SyncPowerState("s10-id", running(true)) || cloud.SyncPowerState("s10-id", running(false)) {
		t.Error("the sync acted during a power action")
	}
	close(gate)
	c.waitServer("s10-id", "ACTIVE active - 1")

	mu.Lock()
	defer mu.Unlock()
	want := "stop s1,stop s1,stop s10,start s10"
	if got := strings.Join(calls, ","); got != want {
		t.Errorf("callbacks: %q, want %q", got, want)
	}
}
