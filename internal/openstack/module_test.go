package openstack

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// env is a fake cloud served over HTTP with a clouds.yaml entry "test".
type env struct {
	t     testing.TB
	cloud *fakeopenstack.Cloud
	url   string
}

var osVars = []string{"OS_CLOUD", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID",
	"OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_TOKEN",
	"OS_AUTH_TOKEN", "OS_INSECURE", "OS_CACERT", "OS_CERT", "OS_KEY", "OS_IDENTITY_API_VERSION", "OS_AUTH_TYPE",
	"OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_USER_ID", "OS_TENANT_NAME", "OS_TENANT_ID"}

func clearOSEnv(t testing.TB) {
	for _, v := range osVars {
		t.Setenv(v, "")
	}
}

func fastConfig(servers ...fakeopenstack.Server) fakeopenstack.Config {
	return fakeopenstack.Config{Servers: servers, AttachLatency: 20 * time.Millisecond, DetachLatency: 10 * time.Millisecond,
		CreateLatency: 10 * time.Millisecond, DeleteLatency: 10 * time.Millisecond}
}

func cluster() []fakeopenstack.Server {
	return []fakeopenstack.Server{
		{ID: "00000000-0000-4000-8000-000000000001", Name: "s1", Addresses: map[string][]string{"private": {"10.0.0.1"}}},
		{ID: "00000000-0000-4000-8000-000000000002", Name: "s2"},
		{ID: "00000000-0000-4000-8000-000000000003", Name: "s3"},
		{ID: "00000000-0000-4000-8000-000000000004", Name: "s4"},
		{ID: "00000000-0000-4000-8000-000000000010", Name: "s10"},
		{ID: "00000000-0000-4000-8000-0000000000aa", Name: "S1"},
		{ID: "00000000-0000-4000-8000-0000000000d1", Name: "dup"},
		{ID: "00000000-0000-4000-8000-0000000000d2", Name: "dup"},
		{ID: "00000000-0000-4000-8000-0000000000ee", Name: "broken", Status: "ERROR"},
	}
}

func newEnv(t testing.TB, cfg fakeopenstack.Config) *env {
	t.Helper()
	clearOSEnv(t)
	cloud, err := fakeopenstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() { srv.Close(); _ = cloud.Close() })
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := cloud.WriteCloudsYAML(path, "test", srv.URL); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)
	return &env{t: t, cloud: cloud, url: srv.URL}
}

// run executes the module as Ansible would, in process, and returns its
// JSON result.
func (e *env) run(args map[string]any) map[string]any {
	e.t.Helper()
	out, _ := runModule(e.t, args)
	return out
}

func runModule(t testing.TB, args map[string]any) (map[string]any, string) {
	t.Helper()
	data, _ := json.Marshal(args)
	path := filepath.Join(t.TempDir(), "args.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	module.Execute(context.Background(), "multiattach_volume", []string{path}, &buf, Spec, Run)
	var out map[string]any
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("module output is not one JSON object: %q", buf.String())
	}
	return out, buf.String()
}

func args(kv ...any) map[string]any {
	m := map[string]any{"cloud": "test", "_ansible_check_mode": false, "_ansible_diff": false, "_ansible_verbosity": 0}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func mustSucceed(t testing.TB, out map[string]any) {
	t.Helper()
	if out["failed"] == true {
		t.Fatalf("module failed: %v", out["msg"])
	}
}

func mustFail(t *testing.T, out map[string]any, contains ...string) {
	t.Helper()
	if out["failed"] != true {
		t.Fatalf("module succeeded, want a failure: %v", out)
	}
	msg, _ := out["msg"].(string)
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("msg %q does not contain %q", msg, c)
		}
	}
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func (e *env) attachedNames(volume string) []string {
	e.t.Helper()
	v, ok := e.cloud.Volume(volume)
	if !ok {
		return nil
	}
	var out []string
	for _, a := range v.Attachments {
		if a.Attached {
			out = append(out, a.ServerName)
		}
	}
	sort.Strings(out)
	return out
}

// mutations are the requests that change something.
func (e *env) mutations() []string {
	var out []string
	for _, r := range e.cloud.Requests() {
		if r.Method != "GET" && !(r.Method == "POST" && strings.HasSuffix(r.Path, "/auth/tokens")) {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func four() []any { return []any{"s1", "s2", "s3", "s4"} }

func TestCreateAndAttachFourServersThenIdempotent(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	out := e.run(args("volume", "shared", "size", 2, "volume_type", "multiattach", "servers", four()))
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["attached"]), ",") != "s1,s2,s3,s4" {
		t.Fatalf("first run: changed %v attached %v", out["changed"], out["attached"])
	}
	vol := out["volume"].(map[string]any)
	id := vol["id"].(string)
	if vol["multiattach"] != true || vol["size"] != float64(2) || vol["status"] != "in-use" || vol["volume_type"] != "multiattach" {
		t.Errorf("volume: %v", vol)
	}
	if out["device_by_id"] != "/dev/disk/by-id/virtio-"+id[:20] {
		t.Errorf("device_by_id %v for volume %s", out["device_by_id"], id)
	}
	atts := out["attachments"].([]any)
	if len(atts) != 4 {
		t.Fatalf("attachments: %v", atts)
	}
	for i, a := range atts {
		m := a.(map[string]any)
		if m["server_name"] != fmt.Sprintf("s%d", i+1) || m["device"] != "/dev/vdb" || m["attachment_id"] == "" {
			t.Errorf("attachment %d: %v", i, m)
		}
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s1,s2,s3,s4" {
		t.Errorf("cloud state: %v", got)
	}
	servers := out["servers"].([]any)
	if len(servers) != 4 || servers[0].(map[string]any)["addresses"].(map[string]any)["private"] == nil {
		t.Errorf("servers: %v", servers)
	}
	// Every Nova request used microversion 2.60 or asked for the version document.
	for _, r := range e.cloud.Requests() {
		if r.Service == "compute" && r.Path != "/compute/v2.1/" && r.Microversion != "2.60" {
			t.Errorf("%s %s with microversion %q", r.Method, r.Path, r.Microversion)
		}
	}

	e.cloud.ResetRequests()
	out = e.run(args("volume", "shared", "size", 2, "volume_type", "multiattach", "servers", four()))
	mustSucceed(t, out)
	if out["changed"] != false || len(strs(out["attached"])) != 0 || len(out["attachments"].([]any)) != 4 {
		t.Errorf("second run: changed %v attached %v", out["changed"], out["attached"])
	}
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("second run changed things: %v", m)
	}
	// By ID too.
	out = e.run(args("volume", id, "servers", []any{"00000000-0000-4000-8000-000000000001"}))
	mustSucceed(t, out)
	if out["changed"] != false {
		t.Errorf("by ID: changed")
	}
}

func TestNamesMatchExactly(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	out := e.run(args("volume", "v", "size", 1, "volume_type", "multiattach", "servers", []any{"s1"}))
	mustSucceed(t, out)
	atts := out["attachments"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["server_id"] != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("s1 resolved to %v", atts)
	}
	// A name with regex characters is escaped, not interpreted.
	out = e.run(args("volume", "v", "servers", []any{"s.*"}))
	mustFail(t, out, `no server named "s.*"`)
}

func TestCheckModeAndDiff(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	a := args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four())
	a["_ansible_check_mode"] = true
	a["_ansible_diff"] = true
	out := e.run(a)
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["attached"]), ",") != "s1,s2,s3,s4" {
		t.Errorf("check mode: %v %v", out["changed"], out["attached"])
	}
	d := out["diff"].(map[string]any)
	if d["before"].(map[string]any)["volume"] != "absent" || strings.Join(strs(d["after"].(map[string]any)["attached_to"]), ",") != "s1,s2,s3,s4" {
		t.Errorf("diff: %v", d)
	}
	if m := e.mutations(); len(m) != 0 {
		t.Fatalf("check mode changed things: %v", m)
	}
	if _, ok := e.cloud.Volume("shared"); ok {
		t.Fatal("check mode created the volume")
	}

	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four())))
	e.cloud.ResetRequests()
	a = args("volume", "shared", "servers", []any{"s1", "s2", "s3"}, "exclusive", true)
	a["_ansible_check_mode"] = true
	a["_ansible_diff"] = true
	out = e.run(a)
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["detached"]), ",") != "s4" || len(out["attachments"].([]any)) != 3 {
		t.Errorf("check exclusive: %v %v %v", out["changed"], out["detached"], out["attachments"])
	}
	d = out["diff"].(map[string]any)
	if strings.Join(strs(d["before"].(map[string]any)["attached_to"]), ",") != "s1,s2,s3,s4" ||
		strings.Join(strs(d["after"].(map[string]any)["attached_to"]), ",") != "s1,s2,s3" {
		t.Errorf("diff: %v", d)
	}
	if m := e.mutations(); len(m) != 0 || len(e.attachedNames("shared")) != 4 {
		t.Errorf("check mode changed things: %v", m)
	}
	// Without --diff there is no diff.
	out = e.run(args("volume", "shared", "servers", four()))
	if _, ok := out["diff"]; ok {
		t.Error("diff without --diff")
	}
}

func TestExclusiveDetachOneAbsentDelete(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four())))

	out := e.run(args("volume", "shared", "servers", []any{"s1", "s2", "s3"}, "exclusive", true))
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["detached"]), ",") != "s4" {
		t.Errorf("exclusive: %v %v", out["changed"], out["detached"])
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s1,s2,s3" {
		t.Errorf("after exclusive: %v", got)
	}

	out = e.run(args("volume", "shared", "state", "absent", "servers", []any{"s3"}))
	mustSucceed(t, out)
	if strings.Join(strs(out["detached"]), ",") != "s3" || out["volume"].(map[string]any)["status"] != "in-use" {
		t.Errorf("detach one: %v %v", out["detached"], out["volume"])
	}
	out = e.run(args("volume", "shared", "state", "absent", "servers", []any{"s3"}))
	mustSucceed(t, out)
	if out["changed"] != false {
		t.Error("detaching again changed something")
	}

	// delete with servers that leave attachments behind: refused, nothing done.
	e.cloud.ResetRequests()
	out = e.run(args("volume", "shared", "state", "absent", "servers", []any{"s1"}, "delete", true))
	mustFail(t, out, "cannot be deleted", "s2")
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("refused delete changed things: %v", m)
	}

	out = e.run(args("volume", "shared", "state", "absent", "delete", true))
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["detached"]), ",") != "s1,s2" || out["volume"].(map[string]any)["status"] != "deleted" {
		t.Errorf("absent+delete: %v %v %v", out["changed"], out["detached"], out["volume"])
	}
	if _, ok := e.cloud.Volume("shared"); ok {
		t.Error("volume not deleted")
	}
	out = e.run(args("volume", "shared", "state", "absent", "delete", true))
	mustSucceed(t, out)
	if out["changed"] != false {
		t.Error("deleting again changed something")
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	cases := []struct {
		name string
		args map[string]any
		msg  []string
	}{
		{"missing size", args("volume", "new", "servers", four()), []string{"does not exist", "give size"}},
		{"missing server", args("volume", "new", "size", 1, "volume_type", "multiattach", "servers", []any{"s1", "nope"}), []string{`no server named "nope"`}},
		{"ambiguous server", args("volume", "new", "size", 1, "volume_type", "multiattach", "servers", []any{"s1", "dup"}), []string{`"dup" matches 2 servers`, "give server IDs"}},
		{"not multiattach", args("volume", "new", "size", 1, "volume_type", "standard", "servers", []any{"s1", "s2"}), []string{"not multiattach", `volume type "standard"`, `multiattach="<is> True"`}},
		{"default type not multiattach", args("volume", "new", "size", 1, "servers", []any{"s1", "s2"}), []string{"not multiattach"}},
		{"unknown type", args("volume", "new", "size", 1, "volume_type", "gold", "servers", []any{"s1"}), []string{`volume type "gold" does not exist`, "multiattach, standard"}},
		{"server in error", args("volume", "new", "size", 1, "volume_type", "multiattach", "servers", []any{"broken"}), []string{"status ERROR"}},
		{"delete with present", args("volume", "new", "size", 1, "delete", true), []string{"delete: true applies to state: absent"}},
		{"zero size", args("volume", "new", "size", 0), []string{"size must be at least 1"}},
		{"unknown option", args("volume", "new", "sizes", 1), []string{"Unsupported parameters", "sizes"}},
		{"empty server", args("volume", "new", "size", 1, "servers", []any{""}), []string{"servers[0] is empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.cloud.ResetRequests()
			out := e.run(c.args)
			mustFail(t, out, c.msg...)
			if out["changed"] != false {
				t.Error("changed")
			}
			if m := e.mutations(); len(m) != 0 {
				t.Errorf("requests that change things: %v", m)
			}
		})
	}

	// An existing plain volume on one server: adding a second is refused
	// before anything changes.
	mustSucceed(t, e.run(args("volume", "plain", "size", 1, "volume_type", "standard", "servers", []any{"s1"})))
	e.cloud.ResetRequests()
	out := e.run(args("volume", "plain", "servers", []any{"s1", "s2"}))
	mustFail(t, out, "is not multiattach", `its type is "standard"`, "create the volume with a multiattach volume type")
	if m := e.mutations(); len(m) != 0 || strings.Join(e.attachedNames("plain"), ",") != "s1" {
		t.Errorf("refused attach changed things: %v %v", m, e.attachedNames("plain"))
	}
	// Moving it with exclusive is fine: one server at a time.
	out = e.run(args("volume", "plain", "servers", []any{"s2"}, "exclusive", true))
	mustSucceed(t, out)
	if strings.Join(e.attachedNames("plain"), ",") != "s2" {
		t.Errorf("moved plain volume: %v", e.attachedNames("plain"))
	}
}

func TestMicroversionTooOld(t *testing.T) {
	cfg := fastConfig(cluster()...)
	cfg.MaxComputeMicroversion = "2.59"
	e := newEnv(t, cfg)
	out := e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four()))
	mustFail(t, out, "supports microversions 2.1 to 2.59", "needs 2.60")
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("changed things: %v", m)
	}
}

func countAttachments(e *env) map[string]int {
	out := map[string]int{}
	for _, v := range e.cloud.Volumes() {
		for _, a := range v.Attachments {
			out[a.ServerName]++
		}
	}
	return out
}

func TestTransientFaultsAreRetried(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	e.cloud.InjectFault(fakeopenstack.Fault{Service: "identity", Status: 503, Times: 2})
	e.cloud.InjectFault(fakeopenstack.Fault{Service: "volume", Method: "GET", Path: "/volumes/", Status: 502, Times: 2})
	e.cloud.InjectFault(fakeopenstack.Fault{Service: "compute", Method: "GET", Path: "/servers", Status: 500, Times: 1})
	// A lost answer: the attach happens, the client sees a reset.
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Reset: true, After: true, Skip: 1, Times: 1})
	// A lost answer with a 500.
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Status: 500, After: true, Skip: 1, Times: 1})
	// Refused before it took effect.
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Status: 503, Skip: 2, Times: 1})
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "GET", Delay: 30 * time.Millisecond, Times: 3})
	out := e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four()))
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["attached"]), ",") != "s1,s2,s3,s4" {
		t.Errorf("attached %v", out["attached"])
	}
	for name, n := range countAttachments(e) {
		if n != 1 {
			t.Errorf("server %s has %d attachments", name, n)
		}
	}
	if got := e.attachedNames("shared"); len(got) != 4 {
		t.Errorf("attached: %v", got)
	}
}

func TestTokenExpiryReauthenticates(t *testing.T) {
	var e *env
	var once sync.Once
	cfg := fastConfig(cluster()...)
	cfg.Attach = func(ctx context.Context, a fakeopenstack.Attachment) error {
		if a.ServerName == "s2" {
			once.Do(e.cloud.ExpireTokens)
		}
		return nil
	}
	e = newEnv(t, cfg)
	out := e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four()))
	mustSucceed(t, out)
	tokens, unauthorized := 0, 0
	for _, r := range e.cloud.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/auth/tokens") {
			tokens++
		}
		if r.Status == 401 {
			unauthorized++
		}
	}
	if tokens != 2 || unauthorized != 1 {
		t.Errorf("token requests %d, 401 answers %d; want 2 and 1", tokens, unauthorized)
	}
}

func TestAttachNeverCompletesTimesOut(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1"})))
	e.cloud.HangAttachments(true)
	start := time.Now()
	out := e.run(args("volume", "shared", "servers", []any{"s1", "s2"}, "timeout", 1))
	mustFail(t, out, "timed out after 1s waiting for volume shared", "attached to server s2", "status attaching")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout of 1 s took %v", d)
	}
	if out["changed"] != true || strings.Join(strs(out["attached"]), ",") != "s2" {
		t.Errorf("a started attach is a change: %v %v", out["changed"], out["attached"])
	}
	e.cloud.HangAttachments(false)
}

func TestPartialFailureThenRerunConverges(t *testing.T) {
	var failS3 sync.Once
	cfg := fastConfig(cluster()...)
	cfg.Attach = func(ctx context.Context, a fakeopenstack.Attachment) error {
		var err error
		if a.ServerName == "s3" {
			failS3.Do(func() { err = errors.New("QMP device_add: Duplicate ID 'virtio-disk1'") })
		}
		return err
	}
	e := newEnv(t, cfg)
	out := e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four()))
	mustFail(t, out, "attaching volume shared", "to server s3 failed in Nova", "QMP device_add: Duplicate ID", "done before the failure")
	if out["changed"] != true || strings.Join(strs(out["attached"]), ",") != "s1,s2" {
		t.Errorf("partial: changed %v attached %v", out["changed"], out["attached"])
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s1,s2" {
		t.Errorf("after failure: %v", got)
	}

	e.cloud.ResetRequests()
	out = e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four()))
	mustSucceed(t, out)
	if strings.Join(strs(out["attached"]), ",") != "s3,s4" {
		t.Errorf("re-run attached %v", out["attached"])
	}
	posts := 0
	for _, m := range e.mutations() {
		if strings.Contains(m, "os-volume_attachments") {
			posts++
		}
	}
	if posts != 2 {
		t.Errorf("re-run sent %d attach requests, want 2", posts)
	}
	for name, n := range countAttachments(e) {
		if n != 1 {
			t.Errorf("server %s has %d attachments", name, n)
		}
	}
}

func TestDetachFailureIsReported(t *testing.T) {
	cfg := fastConfig(cluster()...)
	cfg.Detach = func(ctx context.Context, a fakeopenstack.Attachment) error {
		return errors.New("guest did not release the device")
	}
	e := newEnv(t, cfg)
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1", "s2"})))
	out := e.run(args("volume", "shared", "state", "absent", "servers", []any{"s2"}))
	mustFail(t, out, "detaching volume shared", "from server s2 failed in Nova", "guest did not release the device")
	if got := e.attachedNames("shared"); len(got) != 2 {
		t.Errorf("after failed detach: %v", got)
	}
}

func TestWaitFalseReturnsBeforeTheLastAttachCompletes(t *testing.T) {
	cfg := fastConfig(cluster()...)
	cfg.AttachLatency = time.Second
	e := newEnv(t, cfg)
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{})))
	start := time.Now()
	out := e.run(args("volume", "shared", "servers", []any{"s1", "s2"}, "wait", false))
	mustSucceed(t, out)
	if d := time.Since(start); d < time.Second {
		t.Errorf("returned after %v: the first attach must be waited for (Cinder reserves one at a time)", d)
	}
	if strings.Join(strs(out["attached"]), ",") != "s1,s2" {
		t.Errorf("attached %v", out["attached"])
	}
	v, _ := e.cloud.Volume("shared")
	state := map[string]bool{}
	for _, a := range v.Attachments {
		state[a.ServerName] = a.Attached
	}
	if !state["s1"] {
		t.Error("s1's attach is not complete")
	}
	if complete, started := state["s2"]; !started || complete {
		t.Errorf("s2's attach: started %v, complete %v; want started and not waited for", started, complete)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	// A wrong password in a cloud dict: the failure must not show it.
	cloud := map[string]any{"auth": map[string]any{"auth_url": fakeopenstack.AuthURL(e.url), "username": "admin",
		"password": "hunter2-wrong", "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"},
		"region_name": "RegionOne", "identity_api_version": 3}
	out, raw := runModule(t, args("cloud", cloud, "volume", "v"))
	mustFail(t, out, "authentication at")
	if strings.Contains(raw, "hunter2-wrong") {
		t.Errorf("password printed: %s", raw)
	}
	cloud["auth"].(map[string]any)["password"] = "secret"
	out, raw = runModule(t, args("cloud", cloud, "volume", "v", "state", "absent"))
	mustSucceed(t, out)
	if strings.Contains(raw, `"secret"`) {
		t.Errorf("password printed: %s", raw)
	}
	// A numeric password (YAML reads password: 739182 as a number), and a
	// value that does not convert under the no_log option auth.
	cloud["auth"].(map[string]any)["password"] = 739182
	out, raw = runModule(t, args("cloud", cloud, "volume", "v"))
	mustFail(t, out)
	if strings.Contains(raw, "739182") {
		t.Errorf("numeric password printed: %s", raw)
	}
	a0 := args("volume", "v", "auth", "password=Sup3rS3cret username")
	delete(a0, "cloud")
	out, raw = runModule(t, a0)
	mustFail(t, out, "option auth: the value given is not a valid dict (not shown: no_log)")
	if strings.Contains(raw, "Sup3rS3cret") {
		t.Errorf("secret printed in a conversion error: %s", raw)
	}
	// A right one, through auth: works, and is masked in invocation.
	auth := map[string]any{"auth_url": fakeopenstack.AuthURL(e.url), "username": "admin", "password": "secret",
		"project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}
	a := args("volume", "v", "size", 1, "auth", auth)
	delete(a, "cloud")
	out, raw = runModule(t, a)
	mustSucceed(t, out)
	if strings.Contains(raw, `"secret"`) || strings.Contains(raw, "gAAAAA") {
		t.Errorf("secret printed: %s", raw)
	}
	if inv := out["invocation"].(map[string]any)["module_args"].(map[string]any); inv["auth"] != module.NoLogPlaceholder {
		t.Errorf("auth in invocation: %v", inv["auth"])
	}
}

func TestConnectionSources(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	// OS_CLOUD instead of the cloud option.
	t.Setenv("OS_CLOUD", "test")
	a := args("volume", "v1", "size", 1)
	delete(a, "cloud")
	mustSucceed(t, e.run(a))
	t.Setenv("OS_CLOUD", "")
	// OS_* variables alone.
	t.Setenv("OS_CLIENT_CONFIG_FILE", filepath.Join(t.TempDir(), "none.yaml"))
	for k, v := range map[string]string{"OS_AUTH_URL": fakeopenstack.AuthURL(e.url), "OS_USERNAME": "admin", "OS_PASSWORD": "secret",
		"OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"} {
		t.Setenv(k, v)
	}
	mustSucceed(t, e.run(a))
	// A region that is not in the catalog.
	a["region_name"] = "Elsewhere"
	mustFail(t, e.run(a), "no compute (Nova) endpoint", "region Elsewhere")
	clearOSEnv(t)
	// Nothing at all.
	mustFail(t, e.run(a), "no OpenStack credentials")
	// An unknown cloud name.
	mustFail(t, e.run(args("cloud", "nope", "volume", "v1")), `cloud "nope"`)
	// An unknown auth key.
	a = args("volume", "v1", "auth", map[string]any{"auth_url": "http://127.0.0.1:1/v3", "usernme": "x"})
	delete(a, "cloud")
	mustFail(t, e.run(a), "auth is not a valid clouds.yaml auth", "usernme")
}

func TestTLSSettingsApply(t *testing.T) {
	clearOSEnv(t)
	cloud, err := fakeopenstack.New(fastConfig(cluster()...))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(cloud.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer func() { srv.Close(); _ = cloud.Close() }()
	dir := t.TempDir()
	path := filepath.Join(dir, "clouds.yaml")
	if err := cloud.WriteCloudsYAML(path, "test", srv.URL); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)

	start := time.Now()
	mustFail(t, e2(t, args("volume", "v", "state", "absent")), "certificate")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a certificate error was retried for %v", d)
	}
	mustSucceed(t, e2(t, args("volume", "v", "state", "absent", "validate_certs", false)))
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, e2(t, args("volume", "v", "state", "absent", "ca_cert", ca)))
	// OS_INSECURE applies when no clouds.yaml entry says anything (as with
	// openstacksdk, whose named clouds ignore OS_* variables).
	t.Setenv("OS_INSECURE", "true")
	dict := map[string]any{"auth": map[string]any{"auth_url": fakeopenstack.AuthURL(srv.URL), "username": "admin",
		"password": "secret", "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}}
	mustSucceed(t, e2(t, args("cloud", dict, "volume", "v", "state", "absent")))
	mustFail(t, e2(t, args("cloud", dict, "volume", "v", "state", "absent", "validate_certs", true)), "certificate")
}

func e2(t *testing.T, a map[string]any) map[string]any {
	out, _ := runModule(t, a)
	return out
}

func TestOtherAuthMethods(t *testing.T) {
	cfg := fastConfig(cluster()...)
	cfg.ApplicationCredentials = map[string]string{"ac-1": "app-secret-42"}
	e := newEnv(t, cfg)
	appCred := map[string]any{"auth_type": "v3applicationcredential", "region_name": "RegionOne",
		"auth": map[string]any{"auth_url": fakeopenstack.AuthURL(e.url), "application_credential_id": "ac-1",
			"application_credential_secret": "app-secret-42"}}
	out, raw := runModule(t, args("cloud", appCred, "volume", "v", "size", 1))
	mustSucceed(t, out)
	if strings.Contains(raw, "app-secret-42") {
		t.Errorf("application credential secret printed: %s", raw)
	}

	// A token from elsewhere, scoped to the project: used as is (it cannot
	// be renewed) and never printed.
	token := issueToken(t, e.url)
	auth := map[string]any{"auth_url": fakeopenstack.AuthURL(e.url), "token": token, "project_name": "admin",
		"project_domain_name": "Default"}
	a := args("volume", "v", "state", "absent", "auth_type", "token", "auth", auth)
	delete(a, "cloud")
	out, raw = runModule(t, a)
	mustSucceed(t, out)
	if strings.Contains(raw, token) {
		t.Errorf("token printed: %s", raw)
	}
}

// issueToken gets a project-scoped token with the fake's password.
func issueToken(t *testing.T, base string) string {
	t.Helper()
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
		"domain": {"name": "Default"}, "password": "secret"}}}, "scope": {"project": {"name": "admin",
		"domain": {"name": "Default"}}}}}`
	resp, err := httpPost(fakeopenstack.AuthURL(base)+"/auth/tokens", body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestAPITimeoutRetriesASlowRead(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach")))
	e.cloud.InjectFault(fakeopenstack.Fault{Service: "volume", Method: "GET", Path: "/volumes/detail", Delay: 1500 * time.Millisecond, Times: 1})
	out := e.run(args("volume", "shared", "servers", []any{"s1"}, "api_timeout", 1))
	mustSucceed(t, out)
	slow := 0
	for _, r := range e.cloud.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/volumes/detail") {
			slow++
		}
	}
	if slow < 3 { // the first run's, the one that timed out, its retry
		t.Errorf("volume list requests: %d, want the slow one retried", slow)
	}
}

func TestBusyVolumeIsWaitedFor(t *testing.T) {
	cfg := fastConfig(cluster()...)
	cfg.AttachLatency = time.Second
	e := newEnv(t, cfg)
	// The first run returns while its attach is still in progress (wait:
	// false); the second must get Cinder's refusal while the volume is
	// reserved or attaching, and retry it.
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1"}, "wait", false)))
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Status: 409, Skip: 1, Times: 1,
		Message: "Cannot 'attach_volume' instance s2 while it is in task_state spawning"})
	out := e.run(args("volume", "shared", "servers", []any{"s1", "s2"}))
	mustSucceed(t, out)
	if strings.Join(strs(out["attached"]), ",") != "s2" {
		t.Errorf("attached %v", out["attached"])
	}
	refused := 0
	for _, r := range e.cloud.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/os-volume_attachments") && r.Status == 400 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no attach was refused while the volume was busy: the test proves nothing")
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s1,s2" {
		t.Errorf("attached: %v", got)
	}
}

func TestLostDetachAnswer(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", four())))
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "DELETE", Path: "/os-volume_attachments", Reset: true, After: true, Times: 1})
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "DELETE", Path: "/os-volume_attachments", Status: 502, After: true, Times: 1})
	out := e.run(args("volume", "shared", "state", "absent", "servers", []any{"s1", "s2"}))
	mustSucceed(t, out)
	if out["changed"] != true || strings.Join(strs(out["detached"]), ",") != "s1,s2" {
		t.Errorf("detached %v", out["detached"])
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s3,s4" {
		t.Errorf("attached: %v", got)
	}
}

func httpPost(url, body string) (string, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return resp.Header.Get("X-Subject-Token"), nil
}

func TestPermanentRefusalChangesNothing(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1"})))
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Status: 403, Times: 1})
	out := e.run(args("volume", "shared", "servers", []any{"s1", "s2"}))
	mustFail(t, out, "attaching volume shared", "to server s2 refused by Nova", "Forbidden")
	if msg := out["msg"].(string); strings.Contains(msg, "done before") || out["changed"] != false {
		t.Errorf("a refusal is no change: changed %v, msg %q", out["changed"], msg)
	}
	if got := e.attachedNames("shared"); strings.Join(got, ",") != "s1" {
		t.Errorf("attached: %v", got)
	}
}

// Nova escapes "|" in its name filter, so names are looked up by their
// common prefix when it is long enough, else one by one; never combined.
func TestServerLookupQueries(t *testing.T) {
	servers := append(cluster(), fakeopenstack.Server{Name: "web-a"}, fakeopenstack.Server{Name: "web-b"},
		fakeopenstack.Server{Name: "web-a2"}, fakeopenstack.Server{Name: "x|y"})
	e := newEnv(t, fastConfig(servers...))
	lookups := func() []string {
		var out []string
		for _, r := range e.cloud.Requests() {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/servers/detail") {
				out = append(out, r.Query)
			}
		}
		e.cloud.ResetRequests()
		return out
	}
	mustSucceed(t, e.run(args("volume", "v", "size", 1, "volume_type", "multiattach", "servers", []any{"web-a", "web-b"})))
	if q := lookups(); len(q) != 1 || !strings.Contains(q[0], "name=%5Eweb-&") && !strings.HasSuffix(q[0], "name=%5Eweb-") {
		t.Errorf("shared prefix: %v", q)
	}
	mustSucceed(t, e.run(args("volume", "v", "servers", []any{"s1", "s2", "web-a"})))
	if q := lookups(); len(q) != 3 {
		t.Errorf("no shared prefix: %v", q)
	}
	out := e.run(args("volume", "v", "servers", []any{"x|y"}))
	mustSucceed(t, out)
	if strs(out["attached"])[0] != "x|y" {
		t.Errorf("a name with |: %v", out["attached"])
	}
}

// A conflict that no wait resolves (a locked server) fails at once with
// Nova's own words, not after the whole timeout.
func TestPermanentConflictFailsFast(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	e.cloud.InjectFault(fakeopenstack.Fault{Method: "POST", Path: "/os-volume_attachments", Status: 409,
		Message: "Instance 00000000-0000-4000-8000-000000000001 is locked"})
	start := time.Now()
	out := e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1"}, "timeout", 30))
	mustFail(t, out, "refused by Nova", "is locked")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v: a permanent conflict was retried", d)
	}
}

// gophercloud discovers the version of an endpoint whose catalog URL has
// none with context.TODO(); the task's timeout must end that request too.
// The proxy below gives Nova an unversioned catalog URL whose root never
// answers.
func TestTimeoutBoundsEndpointDiscovery(t *testing.T) {
	clearOSEnv(t)
	cloud, err := fakeopenstack.New(fastConfig(cluster()...))
	if err != nil {
		t.Fatal(err)
	}
	inner := cloud.Handler()
	stalled := make(chan struct{})
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.TrimRight(p, "/") == "/nova":
			select { // a root that does not answer for 20 s
			case <-stalled:
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			http.NotFound(w, r)
			return
		case strings.HasPrefix(p, "/nova/"):
			r.URL.Path = "/compute/v2.1/" + strings.TrimPrefix(p, "/nova/")
		case r.Method == http.MethodPost && strings.HasSuffix(p, "/auth/tokens"):
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write([]byte(strings.ReplaceAll(rec.Body.String(), "/compute/v2.1", "/nova")))
			return
		}
		inner.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() { close(stalled); srv.Close(); _ = cloud.Close() })
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := cloud.WriteCloudsYAML(path, "test", srv.URL); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", path)

	start := time.Now()
	out, _ := runModule(t, args("volume", "shared", "servers", []any{"s1"}, "timeout", 1))
	if out["failed"] != true {
		t.Fatalf("want a failure: %v", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout 1 s, but the module took %v: endpoint discovery is not bounded", d)
	}
}

// A server deleted while its compute host was down leaves Cinder's
// attachment behind: Nova answers 404, and the module must say so rather
// than report the volume detached.
func TestDetachStaleAttachment(t *testing.T) {
	e := newEnv(t, fastConfig(cluster()...))
	mustSucceed(t, e.run(args("volume", "shared", "size", 1, "volume_type", "multiattach", "servers", []any{"s1", "s2"})))
	if !e.cloud.LoseServer("00000000-0000-4000-8000-000000000002") {
		t.Fatal("test premise: s2 exists")
	}
	out := e.run(args("volume", "shared", "state", "absent", "delete", true))
	mustFail(t, out, "Cinder still lists attachment", "volume attachment delete")
	if _, ok := e.cloud.Volume("shared"); !ok {
		t.Fatal("the volume was deleted")
	}
	// s1 itself detaches as usual; the stale attachment stays, as said.
	mustSucceed(t, e.run(args("volume", "shared", "servers", []any{"s1"}, "state", "absent")))
	if got := e.attachedNames("shared"); len(got) != 1 || got[0] == "s1" {
		t.Errorf("attached: %q, want only the stale attachment", got)
	}
}
