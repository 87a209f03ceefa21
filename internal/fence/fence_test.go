package fence

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/fakeopenstack"
)

const password = "Fence-Pa55-7781"

// testCloud is a fake OpenStack served with httptest and a clouds.yaml
// for it with one entry, "fence".
type testCloud struct {
	*fakeopenstack.Cloud
	url        string
	cloudsYAML string

	mu    sync.Mutex
	power []fakeopenstack.PowerRequest
}

func startCloud(t *testing.T, cfg fakeopenstack.Config, servers ...fakeopenstack.Server) *testCloud {
	t.Helper()
	tc := &testCloud{}
	cfg.Password = password
	cfg.Servers = servers
	work := cfg.Power
	cfg.Power = func(ctx context.Context, p fakeopenstack.PowerRequest) error {
		tc.mu.Lock()
		tc.power = append(tc.power, p)
		tc.mu.Unlock()
		if work != nil {
			return work(ctx, p)
		}
		return nil
	}
	cloud, err := fakeopenstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() { srv.Close(); _ = cloud.Close() })
	tc.Cloud, tc.url = cloud, srv.URL
	tc.cloudsYAML = filepath.Join(t.TempDir(), "fence-clouds.yaml")
	if err := cloud.WriteCloudsYAML(tc.cloudsYAML, "fence", srv.URL); err != nil {
		t.Fatal(err)
	}
	return tc
}

func (c *testCloud) powerCalls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.power {
		out = append(out, string(p.Action)+" "+p.ServerName)
	}
	return out
}

func (c *testCloud) server(t *testing.T, id string) fakeopenstack.Server {
	t.Helper()
	for _, s := range c.Servers() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no server %s", id)
	return fakeopenstack.Server{}
}

// posts counts the power requests Nova received.
func (c *testCloud) posts() int {
	n := 0
	for _, r := range c.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/action") {
			n++
		}
	}
	return n
}

// dlmStdin is what dlm_controld writes to fence a node, for a device
// line "cloud=fence clouds_yaml=PATH" and a connect line "node=N plug=ID",
// plus extra lines.
func (c *testCloud) dlmStdin(node, plug string, extra ...string) string {
	lines := append([]string{"cloud=fence", "clouds_yaml=" + c.cloudsYAML, "node=" + node, "plug=" + plug}, extra...)
	lines = append(lines, "fail_time=1700000000")
	return strings.Join(lines, "\n") + "\n"
}

type result struct {
	code           int
	stdout, stderr string
	syslog         []string
	took           time.Duration
}

type recordingSyslog struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingSyslog) Info(m string) error { return r.add("info: " + m) }
func (r *recordingSyslog) Err(m string) error  { return r.add("err: " + m) }
func (r *recordingSyslog) add(m string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, m)
	return nil
}

// failingReader fails the test when read: stdin must be left alone.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("stdin was read although the command line has options")
	return 0, errors.New("must not be read")
}

// runAgent runs the agent with stdin (when there are no args) and returns
// its exit status and output.
func runAgent(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	sys := &recordingSyslog{}
	env := Env{Args: args, Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Syslog: sys,
		interval: 20 * time.Millisecond}
	if len(args) > 0 {
		env.Stdin = failingReader{t}
	}
	start := time.Now()
	code := Run(context.Background(), env)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String(), syslog: sys.lines, took: time.Since(start)}
	for _, out := range []string{r.stdout, r.stderr, strings.Join(r.syslog, "\n")} {
		if strings.Contains(out, password) {
			t.Errorf("the password is in the output:\n%s", out)
		}
	}
	t.Logf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	return r
}

func nodes(names ...string) []fakeopenstack.Server {
	var out []fakeopenstack.Server
	for i, name := range names {
		out = append(out, fakeopenstack.Server{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), Name: name})
	}
	return out
}

func TestRebootAsDlmRunsIt(t *testing.T) {
	servers := nodes("node1", "node2")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 200 * time.Millisecond}, servers...)
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID))
	if r.code != ExitOK || r.stdout != "Success: Rebooted\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	wantLog := "node 1, server " + servers[0].ID + ": reboot: success: Nova finished the hard reboot of request req-"
	if !strings.HasPrefix(r.stderr, "fence_nova: "+wantLog) || len(r.syslog) != 1 || !strings.HasPrefix(r.syslog[0], "info: "+wantLog) {
		t.Errorf("log: stderr %q, syslog %q", r.stderr, r.syslog)
	}
	if got := strings.Join(cloud.powerCalls(), ","); got != "hard-reboot node1" {
		t.Errorf("compute host calls: %q", got)
	}
	if s := cloud.server(t, servers[0].ID); s.Status != "ACTIVE" || s.TaskState != "" {
		t.Errorf("server after: %+v", s)
	}
	// The wait took the reboot's time: the agent did not stop at ACTIVE
	// before its own request finished.
	if r.took < 200*time.Millisecond {
		t.Errorf("done after %s, before the reboot could finish", r.took)
	}
}

func TestOffStopsTheServer(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 100 * time.Millisecond}, servers...)
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID, "action=off"))
	if r.code != ExitOK || r.stdout != "Success: Powered OFF\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if s := cloud.server(t, servers[0].ID); s.Status != "SHUTOFF" {
		t.Errorf("server after: %+v", s)
	}
	if got := strings.Join(cloud.powerCalls(), ","); got != "stop node1" {
		t.Errorf("compute host calls: %q", got)
	}
}

func TestAlreadyOffSendsNothing(t *testing.T) {
	servers := nodes("node1")
	servers[0].Status = "SHUTOFF"
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	for _, action := range []string{"off", "reboot"} {
		r := runAgent(t, cloud.dlmStdin("1", servers[0].ID, "action="+action))
		if r.code != ExitOK || r.stdout != "Success: Already OFF\n" {
			t.Errorf("%s: exit %d, stdout %q", action, r.code, r.stdout)
		}
	}
	if n := cloud.posts(); n != 0 {
		t.Errorf("%d power requests sent to a server already off", n)
	}
}

func TestUnfenceStartsTheServer(t *testing.T) {
	servers := nodes("node1")
	servers[0].Status = "SHUTOFF"
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 50 * time.Millisecond}, servers...)
	// dlm_controld's unfencing: the lines, then action=on instead of
	// fail_time.
	stdin := fmt.Sprintf("cloud=fence\nclouds_yaml=%s\nnode=1\nplug=%s\naction=on\n", cloud.cloudsYAML, servers[0].ID)
	if r := runAgent(t, stdin); r.code != ExitOK || r.stdout != "Success: Powered ON\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runAgent(t, stdin); r.code != ExitOK || r.stdout != "Success: Already ON\n" {
		t.Errorf("second run: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestConflictRetriedThenSuccess(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 50 * time.Millisecond}, servers...)
	cloud.InjectFault(fakeopenstack.Fault{Service: "compute", Method: "POST", Path: "/action", Status: 409, Times: 2,
		Message: "Cannot 'reboot' instance while it is in task_state reboot_started_hard"})
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID, "verbose=1"))
	if r.code != ExitOK || r.stdout != "Success: Rebooted\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if n := cloud.posts(); n != 3 {
		t.Errorf("%d power requests, want 3 (two refused)", n)
	}
	if !strings.Contains(r.stderr, "Nova refuses for now: HTTP 409: Cannot 'reboot' instance") {
		t.Errorf("the 409 is not in the verbose log:\n%s", r.stderr)
	}
}

// TestRebootWhileSomeoneStopsIt has a real 409: the server is powering off
// when the reboot comes, and Nova refuses the reboot until the stop is
// done. Then the server is SHUTOFF: fenced. (Should the stop end between
// the agent's read and its next request, Nova takes the hard reboot of the
// stopped server, and the agent succeeds on that one.)
func TestRebootWhileSomeoneStopsIt(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: time.Second}, servers...)
	stopped := make(chan result)
	go func() { stopped <- runAgent(t, cloud.dlmStdin("1", servers[0].ID, "action=off")) }()
	deadline := time.Now().Add(5 * time.Second)
	for cloud.server(t, servers[0].ID).TaskState == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID))
	if off := <-stopped; off.code != ExitOK {
		t.Errorf("off: exit %d", off.code)
	}
	calls := strings.Join(cloud.powerCalls(), ",")
	switch {
	case r.code != ExitOK:
		t.Errorf("reboot: exit %d", r.code)
	case r.stdout == "Success: Already OFF\n" && calls == "stop node1":
	case r.stdout == "Success: Rebooted\n" && calls == "stop node1,hard-reboot node1":
	default:
		t.Errorf("reboot: stdout %q with compute host calls %q", r.stdout, calls)
	}
	refused := 0
	for _, req := range cloud.Requests() {
		if req.Method == "POST" && strings.HasSuffix(req.Path, "/action") && req.Status == 409 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("Nova never refused the reboot: the test did not reboot a server powering off")
	}
}

// TestRebootAlreadyUnderWayIsNotCounted: two agents fence the same node at
// once; each succeeds on its own request only, so the compute host runs
// two hard reboots.
func TestRebootAlreadyUnderWayIsNotCounted(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 300 * time.Millisecond}, servers...)
	first := make(chan result)
	go func() { first <- runAgent(t, cloud.dlmStdin("1", servers[0].ID)) }()
	deadline := time.Now().Add(5 * time.Second)
	for cloud.server(t, servers[0].ID).Status != "HARD_REBOOT" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	second := runAgent(t, cloud.dlmStdin("2", servers[0].ID))
	if r := <-first; r.code != ExitOK || second.code != ExitOK {
		t.Fatalf("exit %d and %d", r.code, second.code)
	}
	if got := strings.Join(cloud.powerCalls(), ","); got != "hard-reboot node1,hard-reboot node1" {
		t.Errorf("compute host calls: %q, want two hard reboots", got)
	}
}

func TestComputeHostFailureFails(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 50 * time.Millisecond,
		Power: func(ctx context.Context, p fakeopenstack.PowerRequest) error {
			return errors.New("QMP system_reset: guest not responding")
		}}, servers...)
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID))
	if r.code == ExitOK || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	want := "reboot: Nova reports the hard reboot failed on the compute host (QMP system_reset: guest not responding); the server is ERROR"
	if !strings.Contains(r.stderr, want) || len(r.syslog) != 1 || !strings.HasPrefix(r.syslog[0], "err: ") {
		t.Errorf("stderr %q, syslog %q; want %q", r.stderr, r.syslog, want)
	}
	if lines := strings.Count(r.stderr, "\n"); lines != 1 {
		t.Errorf("%d lines on stderr, want one", lines)
	}
	// A failed stop: the server stays ACTIVE and the agent says why.
	r = runAgent(t, cloud.dlmStdin("1", servers[0].ID, "action=off"))
	if r.code == ExitOK {
		t.Errorf("off on an ERROR server whose stop fails: exit 0")
	}
}

func TestTimeoutFails(t *testing.T) {
	servers := nodes("hung", "busy")
	servers[1].TaskState = "powering-off" // a task that never ends: 409 forever
	cloud := startCloud(t, fakeopenstack.Config{
		Power: func(ctx context.Context, p fakeopenstack.PowerRequest) error {
			<-ctx.Done() // the compute host never finishes
			return ctx.Err()
		}}, servers...)
	for _, s := range servers {
		r := runAgent(t, cloud.dlmStdin("1", s.ID, "timeout=1"))
		if r.code == ExitOK {
			t.Errorf("%s: exit 0", s.Name)
		}
		if !strings.Contains(r.stderr, "reboot: timed out after 1s (timeout=1); last seen: ") {
			t.Errorf("%s: stderr %q", s.Name, r.stderr)
		}
		if r.took > 3*time.Second {
			t.Errorf("%s: the 1 s timeout took %s", s.Name, r.took)
		}
	}
}

func TestWrongPasswordFails(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	data, err := os.ReadFile(cloud.cloudsYAML)
	if err != nil {
		t.Fatal(err)
	}
	// A wrong password that shows up nowhere else.
	wrong := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(wrong, []byte(strings.Replace(string(data), password, "Wr0ng-"+password+"-x", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runAgent(t, fmt.Sprintf("cloud=fence\nclouds_yaml=%s\nplug=%s\n", wrong, servers[0].ID))
	if r.code == ExitOK {
		t.Fatal("exit 0 with a wrong password")
	}
	if !strings.Contains(r.stderr, "connecting to the cloud: authentication at") || !strings.Contains(r.stderr, "401") {
		t.Errorf("stderr %q", r.stderr)
	}
	if strings.Contains(r.stderr, "Wr0ng-") {
		t.Errorf("the wrong password is in the output: %q", r.stderr)
	}
	if n := cloud.posts(); n != 0 {
		t.Errorf("%d power requests", n)
	}
}

// TestServerErrorFailsMasked: a 5xx on the power request fails at once,
// and a secret in Nova's message is masked.
func TestServerErrorFailsMasked(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	cloud.InjectFault(fakeopenstack.Fault{Service: "compute", Method: "POST", Path: "/action", Status: 500,
		Message: "Unexpected API Error: login admin/" + password + " refused by the database"})
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID))
	if r.code == ExitOK {
		t.Fatal("exit 0 after a 500")
	}
	if !strings.Contains(r.stderr, "HTTP 500: Unexpected API Error: login admin/******** refused") {
		t.Errorf("stderr %q", r.stderr)
	}
	if n := cloud.posts(); n != 1 {
		t.Errorf("%d power requests, want 1", n)
	}
}

func TestReadsRetriedAfter5xx(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{PowerLatency: 50 * time.Millisecond}, servers...)
	cloud.InjectFault(fakeopenstack.Fault{Service: "compute", Method: "GET", Path: "/servers/", Status: 503, Skip: 1, Times: 2})
	if r := runAgent(t, cloud.dlmStdin("1", servers[0].ID)); r.code != ExitOK {
		t.Errorf("exit %d", r.code)
	}
}

func TestStatus(t *testing.T) {
	servers := nodes("on", "off", "broken")
	servers[1].Status = "SHUTOFF"
	servers[2].Status = "ERROR"
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	for i, want := range []struct {
		code   int
		stdout string
	}{{ExitOK, "Status: ON\n"}, {ExitOff, "Status: OFF\n"}, {ExitFailed, ""}} {
		r := runAgent(t, "", "-o", "status", "-n", servers[i].ID, "--cloud", "fence", "--clouds-yaml", cloud.cloudsYAML)
		if r.code != want.code || r.stdout != want.stdout {
			t.Errorf("%s: exit %d stdout %q, want %d %q", servers[i].Name, r.code, r.stdout, want.code, want.stdout)
		}
	}
	r := runAgent(t, "", "-o", "status", "-n", "00000000-0000-4000-8000-999999999999", "--cloud=fence", "--clouds-yaml="+cloud.cloudsYAML)
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no such server") {
		t.Errorf("unknown server: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestListAndMonitor(t *testing.T) {
	servers := nodes("node2", "node1")
	servers[0].Status = "SHUTOFF"
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	r := runAgent(t, "", "--action=list", "--cloud=fence", "--clouds-yaml="+cloud.cloudsYAML)
	want := servers[1].ID + ",node1\n" + servers[0].ID + ",node2\n"
	if r.code != ExitOK || r.stdout != want {
		t.Errorf("list: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	r = runAgent(t, "", "--action=list-status", "--cloud=fence", "--clouds-yaml="+cloud.cloudsYAML)
	want = servers[1].ID + ",node1,ON\n" + servers[0].ID + ",node2,OFF\n"
	if r.code != ExitOK || r.stdout != want {
		t.Errorf("list-status: exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	if r := runAgent(t, "action=monitor\ncloud=fence\nclouds_yaml="+cloud.cloudsYAML+"\n"); r.code != ExitOK {
		t.Errorf("monitor: exit %d", r.code)
	}
}

func TestBadInputFailsBeforeAnyRequest(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	twoClouds := filepath.Join(t.TempDir(), "two.yaml")
	if err := os.WriteFile(twoClouds, []byte("clouds:\n  a: {}\n  b: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("clouds:\n  fence:\n    auth: pa55word-in-a-string\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLOUD", "")
	for _, tc := range []struct {
		name, stdin, want string
	}{
		{"missing plug", "cloud=fence\nclouds_yaml=" + cloud.cloudsYAML + "\n", "action reboot needs plug"},
		{"bad action", cloud.dlmStdin("1", servers[0].ID, "action=cycle"), `action must be one of`},
		{"bad timeout", cloud.dlmStdin("1", servers[0].ID, "timeout=soon"), `timeout must be a whole number of seconds`},
		{"no such file", "clouds_yaml=/nonexistent/clouds.yaml\nplug=" + servers[0].ID + "\n", "clouds_yaml: open /nonexistent/clouds.yaml: no such file"},
		{"which cloud", "clouds_yaml=" + twoClouds + "\nplug=" + servers[0].ID + "\n", "has 2 clouds: say which with cloud=NAME"},
		{"unknown cloud", "cloud=other\nclouds_yaml=" + cloud.cloudsYAML + "\nplug=" + servers[0].ID + "\n", "cloud other does not exist"},
		{"YAML error does not quote the file", "clouds_yaml=" + badYAML + "\nplug=" + servers[0].ID + "\n", "is not a valid clouds.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAgent(t, tc.stdin)
			if r.code != ExitFailed || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "pa55word-in-a-string") {
				t.Errorf("the file's content is in the output: %q", r.stderr)
			}
		})
	}
	if n := len(cloud.Requests()); n != 0 {
		t.Errorf("%d requests reached the cloud", n)
	}
}

func TestUnknownKeysAreNamedNotValued(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID, "action=status", "passwd=hunter2-value"))
	if r.code != ExitOK || !strings.Contains(r.stderr, `ignoring unknown option "passwd"`) || strings.Contains(r.stderr, "hunter2") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestHelpAndMetadataNeedNoCloud(t *testing.T) {
	if r := runAgent(t, "", "--help"); r.code != ExitOK || !strings.Contains(r.stdout, "connect nova node=1 plug=") {
		t.Errorf("--help: exit %d", r.code)
	}
	if r := runAgent(t, "", "-o", "metadata"); r.code != ExitOK || !strings.HasPrefix(r.stdout, "<?xml") {
		t.Errorf("metadata: exit %d", r.code)
	}
	if r := runAgent(t, "action=validate-all\nplug="+uuid1+"\n"); r.code != ExitOK {
		t.Errorf("validate-all: exit %d", r.code)
	}
}

// delay= holds a fencing action back before the first request, and only a
// fencing action: status answers at once.
func TestDelayComesBeforeFencing(t *testing.T) {
	servers := nodes("node1")
	cloud := startCloud(t, fakeopenstack.Config{}, servers...)
	r := runAgent(t, cloud.dlmStdin("1", servers[0].ID, "delay=1"))
	if r.code != ExitOK || r.took < time.Second {
		t.Fatalf("exit %d after %s, want success after the 1 s delay", r.code, r.took)
	}
	if !strings.Contains(r.stderr, "waiting 1s (delay=1) before the hard reboot") {
		t.Errorf("stderr %q does not tell about the delay", r.stderr)
	}
	r = runAgent(t, "", "-o", "status", "-n", servers[0].ID, "--delay", "5", "--cloud", "fence", "--clouds-yaml", cloud.cloudsYAML)
	if r.code != ExitOK || r.took >= 5*time.Second {
		t.Errorf("status: exit %d after %s, want an answer without the delay", r.code, r.took)
	}
}
