package fakeopenstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"gopkg.in/yaml.v3"
)

type client struct {
	t       *testing.T
	base    string
	token   string
	project string
	mv      string
}

func startFake(t *testing.T, cfg Config) (*Cloud, *client) {
	t.Helper()
	cloud, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() { srv.Close(); _ = cloud.Close() })
	c := &client{t: t, base: srv.URL, mv: "2.60"}
	c.login()
	return cloud, c
}

func passwordAuth(user, password string) map[string]any {
	return map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": user, "domain": map[string]any{"name": "Default"}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"name": "Default"}}},
	}}
}

func (c *client) login() {
	c.t.Helper()
	status, body, hdr := c.raw("POST", "/identity/v3/auth/tokens", passwordAuth("admin", "secret"), nil)
	if status != 201 {
		c.t.Fatalf("login: %d %v", status, body)
	}
	c.token = hdr.Get("X-Subject-Token")
	c.project = body["token"].(map[string]any)["project"].(map[string]any)["id"].(string)
}

func (c *client) raw(method, path string, body any, headers map[string]string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			c.t.Fatalf("%s %s: not JSON: %q", method, path, data)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// call sends an authenticated request with the client's compute
// microversion.
func (c *client) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	h := map[string]string{"X-Auth-Token": c.token}
	if c.mv != "" {
		h["X-OpenStack-Nova-API-Version"] = c.mv
	}
	status, out, _ := c.raw(method, path, body, h)
	return status, out
}

func (c *client) vol(rest string) string { return "/volume/v3/" + c.project + rest }

func (c *client) createVolume(name, typ string) string {
	c.t.Helper()
	status, body := c.call("POST", c.vol("/volumes"), map[string]any{"volume": map[string]any{"size": 1, "name": name, "volume_type": typ}})
	if status != 202 {
		c.t.Fatalf("create volume: %d %v", status, body)
	}
	id := body["volume"].(map[string]any)["id"].(string)
	c.waitStatus(id, "available")
	return id
}

func (c *client) volume(id string) map[string]any {
	c.t.Helper()
	status, body := c.call("GET", c.vol("/volumes/"+id), nil)
	if status != 200 {
		c.t.Fatalf("show volume: %d %v", status, body)
	}
	return body["volume"].(map[string]any)
}

func (c *client) waitStatus(id, want string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := c.volume(id)
		if v["status"] == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("volume %s: status %v, want %s", id, v["status"], want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func attachedServers(v map[string]any) []string {
	var out []string
	for _, a := range v["attachments"].([]any) {
		out = append(out, a.(map[string]any)["server_id"].(string))
	}
	sort.Strings(out)
	return out
}

func (c *client) attach(serverID, volumeID string) (int, map[string]any) {
	return c.call("POST", "/compute/v2.1/servers/"+serverID+"/os-volume_attachments",
		map[string]any{"volumeAttachment": map[string]any{"volumeId": volumeID}})
}

func message(body map[string]any) string {
	for _, v := range body {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["message"].(string); ok {
				return s
			}
		}
	}
	return ""
}

func servers4() []Server {
	return []Server{{ID: "s1-id", Name: "s1"}, {ID: "s2-id", Name: "s2"}, {ID: "s10-id", Name: "s10"}, {ID: "S1-upper", Name: "S1"}}
}

func TestTokenRules(t *testing.T) {
	cloud, c := startFake(t, Config{})
	if status, _, _ := c.raw("POST", "/identity/v3/auth/tokens", passwordAuth("admin", "wrong"), nil); status != 401 {
		t.Errorf("wrong password: %d, want 401", status)
	}
	if status, _, _ := c.raw("GET", "/compute/v2.1/servers", nil, nil); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
	if status, _, _ := c.raw("GET", "/compute/v2.1/", nil, nil); status != 200 {
		t.Errorf("version document without token: %d, want 200", status)
	}
	if status, _ := c.call("GET", "/compute/v2.1/servers", nil); status != 200 {
		t.Errorf("with token: %d", status)
	}
	cloud.ExpireTokens()
	if status, _ := c.call("GET", "/compute/v2.1/servers", nil); status != 401 {
		t.Errorf("expired token: %d, want 401", status)
	}
	// The catalog has compute and block storage in the configured region.
	_, body, _ := c.raw("POST", "/identity/v3/auth/tokens", passwordAuth("admin", "secret"), nil)
	types := map[string]string{}
	for _, e := range body["token"].(map[string]any)["catalog"].([]any) {
		entry := e.(map[string]any)
		ep := entry["endpoints"].([]any)[0].(map[string]any)
		types[entry["type"].(string)] = ep["url"].(string) + " " + ep["region"].(string)
	}
	if !strings.HasSuffix(types["compute"], "/compute/v2.1 RegionOne") || !strings.Contains(types["block-storage"], "/volume/v3/") {
		t.Errorf("catalog: %v", types)
	}
}

func TestApplicationCredential(t *testing.T) {
	_, c := startFake(t, Config{ApplicationCredentials: map[string]string{"ac1": "s3cret"}})
	auth := func(secret string) int {
		status, _, _ := c.raw("POST", "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"application_credential"}, "application_credential": map[string]any{"id": "ac1", "secret": secret}}}}, nil)
		return status
	}
	if s := auth("s3cret"); s != 201 {
		t.Errorf("right secret: %d", s)
	}
	if s := auth("nope"); s != 401 {
		t.Errorf("wrong secret: %d", s)
	}
}

// gophercloud re-authenticates after a 401 only when its provider client
// allows it.
func TestReauthThroughGophercloud(t *testing.T) {
	for _, allow := range []bool{true, false} {
		cloud, c := startFake(t, Config{Servers: servers4()})
		ctx := context.Background()
		provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
			IdentityEndpoint: AuthURL(c.base), Username: "admin", Password: "secret", DomainName: "Default",
			Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}, AllowReauth: allow,
		})
		if err != nil {
			t.Fatal(err)
		}
		compute, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
		if err != nil {
			t.Fatal(err)
		}
		cloud.ExpireTokens()
		_, err = servers.Get(ctx, compute, "s1-id").Extract()
		if allow && err != nil {
			t.Errorf("AllowReauth: %v", err)
		}
		if !allow && !gophercloud.ResponseCodeIs(err, 401) {
			t.Errorf("without AllowReauth: err %v, want a 401", err)
		}
	}
}

func TestMicroversionNegotiation(t *testing.T) {
	_, c := startFake(t, Config{Servers: servers4()})
	volumeID := c.createVolume("shared", "multiattach")
	c.mv = ""
	status, body := c.attach("s1-id", volumeID)
	if status != 400 || message(body) != "Multiattach volumes are only supported starting with compute API version 2.60." {
		t.Errorf("multiattach at 2.1: %d %q", status, message(body))
	}
	c.mv = "2.59"
	if status, _ := c.attach("s1-id", volumeID); status != 400 {
		t.Errorf("multiattach at 2.59: %d", status)
	}
	c.mv = "2.96"
	if status, body := c.call("GET", "/compute/v2.1/servers", nil); status != 406 || !strings.Contains(message(body), "maximum is 2.95") {
		t.Errorf("2.96: %d %q", status, message(body))
	}
	c.mv = "two"
	if status, _ := c.call("GET", "/compute/v2.1/servers", nil); status != 400 {
		t.Errorf("bad version: %d", status)
	}
	c.mv = ""
	status, _, hdr := c.raw("GET", "/compute/v2.1/servers", nil, map[string]string{"X-Auth-Token": c.token, "OpenStack-API-Version": "compute latest"})
	if status != 200 || hdr.Get("OpenStack-API-Version") != "compute 2.95" {
		t.Errorf("latest: %d %q", status, hdr.Get("OpenStack-API-Version"))
	}
	if v := c.volume(volumeID); v["status"] != "available" {
		t.Errorf("refused attaches changed the volume: %v", v["status"])
	}
}

func TestNameFilterIsUnanchoredCaseInsensitiveRegex(t *testing.T) {
	_, c := startFake(t, Config{Servers: servers4()})
	status, body := c.call("GET", "/compute/v2.1/servers?name=s1", nil)
	if status != 200 {
		t.Fatal(status)
	}
	var names []string
	for _, s := range body["servers"].([]any) {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "S1,s1,s10" {
		t.Errorf("name=s1 matched %v", names)
	}
	// No alternatives: Nova escapes "|".
	_, body = c.call("GET", "/compute/v2.1/servers?name="+url.QueryEscape("^(s1|s2)$"), nil)
	if n := len(body["servers"].([]any)); n != 0 {
		t.Errorf("^(s1|s2)$ matched %d servers; Nova escapes the |", n)
	}
	if status, _ := c.call("GET", "/compute/v2.1/servers?name=%28", nil); status != 400 {
		t.Errorf("invalid regex: %d", status)
	}
}

func TestAttachStatusCycleAndReserveRules(t *testing.T) {
	// Latencies long enough for the checks between the steps to see each
	// status even on a loaded machine.
	_, c := startFake(t, Config{Servers: servers4(), AttachLatency: 800 * time.Millisecond, DetachLatency: 400 * time.Millisecond})
	volumeID := c.createVolume("shared", "multiattach")

	status, body := c.attach("s1-id", volumeID)
	if status != 200 || body["volumeAttachment"].(map[string]any)["device"] != "/dev/vdb" {
		t.Fatalf("attach: %d %v", status, body)
	}
	if v := c.volume(volumeID); v["status"] != "reserved" && v["status"] != "attaching" || len(attachedServers(v)) != 0 {
		t.Errorf("right after attach: %v %v", v["status"], attachedServers(v))
	}
	// Cinder refuses a second reserve while reserved or attaching.
	status, body = c.attach("s2-id", volumeID)
	if status != 400 || !strings.Contains(message(body), "status must be available or in-use or downloading to reserve, but the current status is reserved.") {
		t.Errorf("reserve while reserved: %d %q", status, message(body))
	}
	c.waitStatus(volumeID, "attaching")
	if status, _ := c.attach("s2-id", volumeID); status != 400 {
		t.Errorf("reserve while attaching: %d", status)
	}
	if status, body := c.attach("s1-id", volumeID); status != 400 || !strings.Contains(message(body), "already attached") {
		t.Errorf("same server while attaching: %d %q", status, message(body))
	}
	c.waitStatus(volumeID, "in-use")
	if got := attachedServers(c.volume(volumeID)); strings.Join(got, ",") != "s1-id" {
		t.Errorf("attachments after in-use: %v", got)
	}
	if status, body := c.attach("s1-id", volumeID); status != 400 || !strings.Contains(message(body), "already attached") {
		t.Errorf("same server twice: %d %q", status, message(body))
	}

	// A multiattach volume in use takes another server; its status cycles again.
	if status, _ := c.attach("s2-id", volumeID); status != 200 {
		t.Fatalf("second server: %d", status)
	}
	if v := c.volume(volumeID); v["status"] != "reserved" && v["status"] != "attaching" {
		t.Errorf("second attach: status %v", v["status"])
	}
	c.waitStatus(volumeID, "in-use")
	if got := attachedServers(c.volume(volumeID)); strings.Join(got, ",") != "s1-id,s2-id" {
		t.Errorf("attachments: %v", got)
	}

	// Detach: refused unless in-use; recomputes the status afterwards.
	if status, _ := c.call("DELETE", "/compute/v2.1/servers/s10-id/os-volume_attachments/"+volumeID, nil); status != 404 {
		t.Errorf("detach a server without the volume: %d", status)
	}
	if status, _ := c.call("DELETE", "/compute/v2.1/servers/s1-id/os-volume_attachments/"+volumeID, nil); status != 202 {
		t.Fatalf("detach: %d", status)
	}
	if v := c.volume(volumeID); v["status"] != "detaching" {
		t.Errorf("detaching: %v", v["status"])
	}
	if status, _ := c.attach("s10-id", volumeID); status != 400 {
		t.Errorf("reserve while detaching: %d", status)
	}
	if status, _ := c.call("DELETE", "/compute/v2.1/servers/s2-id/os-volume_attachments/"+volumeID, nil); status != 400 {
		t.Errorf("second detach while detaching: %d", status)
	}
	c.waitStatus(volumeID, "in-use")
	if got := attachedServers(c.volume(volumeID)); strings.Join(got, ",") != "s2-id" {
		t.Errorf("after one detach: %v", got)
	}
	if status, body := c.call("DELETE", c.vol("/volumes/"+volumeID), nil); status != 400 || !strings.Contains(message(body), "attached") {
		t.Errorf("delete in-use volume: %d %q", status, message(body))
	}
	if status, _ := c.call("DELETE", "/compute/v2.1/servers/s2-id/os-volume_attachments/"+volumeID, nil); status != 202 {
		t.Fatalf("last detach: %d", status)
	}
	c.waitStatus(volumeID, "available")
	if status, _ := c.call("DELETE", c.vol("/volumes/"+volumeID), nil); status != 202 {
		t.Errorf("delete: %d", status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, _ := c.call("GET", c.vol("/volumes/"+volumeID), nil)
		if status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("volume not deleted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNonMultiattachVolumeAndDevices(t *testing.T) {
	_, c := startFake(t, Config{Servers: servers4()})
	plain := c.createVolume("plain", "")
	if v := c.volume(plain); v["multiattach"] != false || v["volume_type"] != "standard" {
		t.Errorf("default type: %v %v", v["multiattach"], v["volume_type"])
	}
	c.mv = "2.1" // a plain volume needs no 2.60
	if status, _ := c.attach("s1-id", plain); status != 200 {
		t.Fatalf("attach plain: %d", status)
	}
	c.waitStatus(plain, "in-use")
	status, body := c.attach("s2-id", plain)
	if status != 400 || !strings.Contains(message(body), "is already attached to instances: s1-id") {
		t.Errorf("plain volume to a second server: %d %q", status, message(body))
	}
	// Devices are per server: s1 already has vdb.
	c.mv = "2.60"
	shared := c.createVolume("shared", "multiattach")
	if _, body := c.attach("s1-id", shared); body["volumeAttachment"].(map[string]any)["device"] != "/dev/vdc" {
		t.Errorf("second volume on s1: %v", body)
	}
	c.waitStatus(shared, "in-use")
	if _, body := c.attach("s2-id", shared); body["volumeAttachment"].(map[string]any)["device"] != "/dev/vdb" {
		t.Errorf("first volume on s2: %v", body)
	}
}

func TestVolumeNameFilterIsExact(t *testing.T) {
	_, c := startFake(t, Config{})
	c.createVolume("data", "")
	c.createVolume("data2", "")
	_, body := c.call("GET", c.vol("/volumes/detail?name=data"), nil)
	if n := len(body["volumes"].([]any)); n != 1 {
		t.Errorf("name=data matched %d volumes", n)
	}
	if status, body := c.call("POST", c.vol("/volumes"), map[string]any{"volume": map[string]any{"size": 1, "volume_type": "gold"}}); status != 404 {
		t.Errorf("unknown type: %d %v", status, body)
	}
	if status, _ := c.call("POST", c.vol("/volumes"), map[string]any{"volume": map[string]any{"name": "nosize"}}); status != 400 {
		t.Errorf("no size: %d", status)
	}
	if status, body := c.call("GET", c.vol("/types/default"), nil); status != 200 || body["volume_type"].(map[string]any)["name"] != "standard" {
		t.Errorf("default type: %d %v", status, body)
	}
}

func TestCallbackFailureLooksLikeNova(t *testing.T) {
	var calls atomic.Int32
	_, c := startFake(t, Config{Servers: servers4(), AttachLatency: 20 * time.Millisecond,
		Attach: func(ctx context.Context, a Attachment) error {
			calls.Add(1)
			if a.ServerName == "s2" {
				return errors.New("QMP device_add failed: Duplicate ID")
			}
			return nil
		}})
	volumeID := c.createVolume("shared", "multiattach")
	c.attach("s1-id", volumeID)
	c.waitStatus(volumeID, "in-use")
	status, _ := c.attach("s2-id", volumeID)
	if status != 200 {
		t.Fatalf("the API accepts the attach: %d", status)
	}
	var action map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := c.call("GET", "/compute/v2.1/servers/s2-id/os-instance-actions", nil)
		action = body["instanceActions"].([]any)[0].(map[string]any)
		if action["message"] == "Error" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	v := c.volume(volumeID)
	if v["status"] != "in-use" || strings.Join(attachedServers(v), ",") != "s1-id" {
		t.Errorf("after a failed attach: %v %v", v["status"], attachedServers(v))
	}
	if status, _ := c.call("GET", "/compute/v2.1/servers/s2-id/os-volume_attachments/"+volumeID, nil); status != 404 {
		t.Errorf("failed attach left a Nova attachment: %d", status)
	}
	if action["action"] != "attach_volume" || action["message"] != "Error" {
		t.Fatalf("instance action: %v", action)
	}
	c.mv = "2.84"
	_, body := c.call("GET", "/compute/v2.1/servers/s2-id/os-instance-actions/"+action["request_id"].(string), nil)
	ev := body["instanceAction"].(map[string]any)["events"].([]any)[0].(map[string]any)
	if ev["result"] != "Error" || ev["details"] != "QMP device_add failed: Duplicate ID" {
		t.Errorf("event: %v", ev)
	}
	if calls.Load() != 2 {
		t.Errorf("callback calls: %d", calls.Load())
	}
}

func TestFaults(t *testing.T) {
	cloud, c := startFake(t, Config{Servers: servers4()})
	cloud.InjectFault(Fault{Service: "compute", Method: "GET", Status: 503, Skip: 1, Times: 2})
	var got []int
	for i := 0; i < 4; i++ {
		status, _ := c.call("GET", "/compute/v2.1/servers", nil)
		got = append(got, status)
	}
	if want := []int{200, 503, 503, 200}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	cloud.ClearFaults()

	cloud.InjectFault(Fault{Service: "identity", Status: 500, Times: 1})
	if status, _, _ := c.raw("POST", "/identity/v3/auth/tokens", passwordAuth("admin", "secret"), nil); status != 500 {
		t.Errorf("keystone fault: %d", status)
	}

	cloud.InjectFault(Fault{Path: "/servers/s1-id", Reset: true, Times: 1})
	req, _ := http.NewRequest("GET", c.base+"/compute/v2.1/servers/s1-id", nil)
	req.Header.Set("X-Auth-Token", c.token)
	// A fresh connection: Go's transport silently retries a GET whose
	// reused connection was reset.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Error("reset: the request succeeded")
	}

	cloud.InjectFault(Fault{Path: "/volumes/detail", Delay: 150 * time.Millisecond, Times: 1})
	start := time.Now()
	c.call("GET", c.vol("/volumes/detail"), nil)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("delay: answered in %v", d)
	}

	// After: the attach takes effect, the client sees a 500.
	volumeID := c.createVolume("shared", "multiattach")
	cloud.InjectFault(Fault{Method: "POST", Path: "/os-volume_attachments", Status: 500, After: true, Times: 1})
	if status, _ := c.attach("s1-id", volumeID); status != 500 {
		t.Errorf("after-fault status: %d", status)
	}
	c.waitStatus(volumeID, "in-use")
	if got := attachedServers(c.volume(volumeID)); len(got) != 1 {
		t.Errorf("after-fault: the attach did not take effect: %v", got)
	}
	var failed int
	for _, r := range cloud.Requests() {
		if r.Status >= 500 {
			failed++
		}
	}
	if failed != 4 {
		t.Errorf("recorded %d answers >= 500, want 4", failed)
	}
}

func TestHangAttachments(t *testing.T) {
	cloud, c := startFake(t, Config{Servers: servers4()})
	volumeID := c.createVolume("shared", "multiattach")
	cloud.HangAttachments(true)
	c.attach("s1-id", volumeID)
	time.Sleep(50 * time.Millisecond)
	if v := c.volume(volumeID); v["status"] != "attaching" {
		t.Errorf("hung attach: %v", v["status"])
	}
	cloud.HangAttachments(false)
	c.waitStatus(volumeID, "in-use")
}

func TestCloudsYAMLServesThroughListener(t *testing.T) {
	cloud, err := New(Config{Servers: []Server{{Name: "node1", Addresses: map[string][]string{"private": {"192.168.100.11"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cloud.Start(l)
	defer cloud.Close()
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := cloud.WriteCloudsYAML(path, "lab", ""); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	data, _ := os.ReadFile(path)
	var doc struct {
		Clouds map[string]struct {
			Auth   map[string]string `yaml:"auth"`
			Region string            `yaml:"region_name"`
		} `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	entry := doc.Clouds["lab"]
	if entry.Auth["auth_url"] != AuthURL(cloud.URL()) || entry.Auth["password"] != "secret" || entry.Region != "RegionOne" {
		t.Fatalf("clouds.yaml: %s", data)
	}
	c := &client{t: t, base: cloud.URL()}
	c.login()
	_, body := c.call("GET", "/compute/v2.1/servers/detail", nil)
	s := body["servers"].([]any)[0].(map[string]any)
	addr := s["addresses"].(map[string]any)["private"].([]any)[0].(map[string]any)["addr"]
	if addr != "192.168.100.11" {
		t.Errorf("address: %v", addr)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
