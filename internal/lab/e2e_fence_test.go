package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// What the fencing tests of the roles use of the lab, on real VMs, as
// TestE2EPower runs it: the nodes reach the lab's OpenStack (entry
// lab-guest of its clouds.yaml), fence_nova answers inside a node, and
// bin/lab's faults (freeze, thaw, link) and status.

// labCLI runs bin/lab COMMAND --lab DIR ARGS... and returns its stdout.
func labCLI(ctx context.Context, exe string, l *lab.Lab, command string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, exe, append([]string{command, "--lab", l.Dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("lab %s %s: %w\n%s", command, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// cliStatus is one node's line of `lab status --json`.
type cliStatus struct {
	Name        string `json:"name"`
	Power       string `json:"power"`
	PID         int    `json:"pid"`
	ClusterLink string `json:"cluster_link"`
	ServerID    string `json:"server_id"`
}

// nodeStatus is node's entry in `lab status --json`.
func nodeStatus(ctx context.Context, exe string, l *lab.Lab, n lab.Node) (cliStatus, error) {
	out, err := labCLI(ctx, exe, l, "status", "--json")
	if err != nil {
		return cliStatus{}, err
	}
	var doc struct {
		Nodes []cliStatus `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return cliStatus{}, fmt.Errorf("lab status --json: %w\n%s", err, out)
	}
	for _, s := range doc.Nodes {
		if s.Name == n.Name {
			return s, nil
		}
	}
	return cliStatus{}, fmt.Errorf("lab status --json has no %s:\n%s", n.Name, out)
}

// wantStatus checks node's power and cluster link in `lab status --json`.
func wantStatus(ctx context.Context, exe string, l *lab.Lab, n lab.Node, power, link string) error {
	s, err := nodeStatus(ctx, exe, l, n)
	if err != nil {
		return err
	}
	if s.Power != power || s.ClusterLink != link || (s.PID == 0) != (power == "off") || s.ServerID != l.ServerID(n) {
		return fmt.Errorf("lab status: %s is %+v, want power %s, cluster link %s, server id %s", n.Name, s, power, link, l.ServerID(n))
	}
	return nil
}

// guestCloud is the clouds.yaml entry for the nodes, read from the lab's
// clouds.yaml.
func guestCloud(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Clouds map[string]map[string]any `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	entry, ok := doc.Clouds["lab-guest"]
	if !ok {
		return nil, fmt.Errorf("%s has no entry lab-guest", path)
	}
	return entry, nil
}

// keystoneScript asks Keystone, at the auth_url of the clouds.yaml entry
// given as JSON, for its version document and a token, as a client in the
// guest does, and prints the version's own URL and the catalog's URLs.
const keystoneScript = `
import json, sys, urllib.request
auth = json.loads(sys.argv[1])["auth"]
def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(auth["auth_url"] + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
version = call("")
token = call("/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
    "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}})
print(json.dumps({"self": version["version"]["links"][0]["href"],
                  "catalog": {s["type"]: [e["url"] for e in s["endpoints"]] for s in token["token"]["catalog"]}}))
`

// guestKeystone runs keystoneScript on node with entry and checks that
// every URL it got is under base, the lab's OpenStack as guests reach it.
func guestKeystone(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node, entry map[string]any, base string) (string, error) {
	arg, _ := json.Marshal(entry)
	quoted := "'" + strings.ReplaceAll(string(arg), "'", `'\''`) + "'"
	out, err := l.RunOnWithInput(ctx, st, n, "python3 - "+quoted, keystoneScript)
	if err != nil {
		return "", err
	}
	var got struct {
		Self    string              `json:"self"`
		Catalog map[string][]string `json:"catalog"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	if !strings.HasPrefix(got.Self, base+"/identity/v3") {
		return "", fmt.Errorf("Keystone's version document names %s, not under %s", got.Self, base)
	}
	if len(got.Catalog["compute"]) == 0 || len(got.Catalog["block-storage"]) == 0 {
		return "", fmt.Errorf("catalog lacks compute or block-storage: %s", out)
	}
	for typ, urls := range got.Catalog {
		for _, u := range urls {
			if !strings.HasPrefix(u, base+"/") {
				return "", fmt.Errorf("the %s endpoint %s is not under %s", typ, u, base)
			}
		}
	}
	return got.Catalog["compute"][0], nil
}

// Where the gfs2 role installs the fence agent and its credentials
// (roles/gfs2, fencing.yml), entry "fence".
const (
	fenceAgent      = "/usr/local/sbin/fence_nova"
	fenceCloudsYAML = "/etc/cinder-multiattach/fence-clouds.yaml"
)

// installFenceAgent builds the linux/amd64 openstack binary and installs
// it on node as the role does: fence_nova, with entry as its credentials.
func installFenceAgent(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node, checkout string, entry map[string]any) error {
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("fence_nova-e2e-%d", os.Getpid()))
	defer os.Remove(bin)
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	build := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/openstack")
	build.Dir = checkout
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the fence agent: %w\n%s", err, out)
	}
	agent, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if _, err := l.RunOnWithInput(ctx, st, n, "cat >"+fenceAgent+".new && chmod 0755 "+fenceAgent+".new && mv "+fenceAgent+".new "+fenceAgent, string(agent)); err != nil {
		return err
	}
	clouds, err := yaml.Marshal(map[string]any{"clouds": map[string]any{"fence": entry}})
	if err != nil {
		return err
	}
	_, err = l.RunOnWithInput(ctx, st, n, "install -d -m 0700 "+filepath.Dir(fenceCloudsYAML)+" && umask 077 && cat >"+fenceCloudsYAML, string(clouds))
	return err
}

// fenceStatus runs the role's check on node: fence_nova's status of
// server id, and returns its output.
func fenceStatus(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node, id string) (string, error) {
	out, err := l.RunOn(ctx, st, n, fmt.Sprintf("%s --action=status --plug=%s --cloud=fence --clouds-yaml=%s --timeout=60 2>&1",
		fenceAgent, id, fenceCloudsYAML))
	return string(out), err
}

// fenceAsDLM runs fence_nova on node as dlm_controld does to fence node
// index: no arguments, dlm.conf's device and connect lines on stdin (the
// device line as internal/clusterconf renders it), and returns its output.
func fenceAsDLM(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node, index int, id string) (string, error) {
	stdin := fmt.Sprintf("cloud=fence\nclouds_yaml=%s\naction=reboot\ntimeout=180\nnode=%d\nplug=%s\nfail_time=%d\n",
		fenceCloudsYAML, index, id, 1700000000)
	out, err := l.RunOnWithInput(ctx, st, n, fenceAgent+" 2>&1", stdin)
	return string(out), err
}

// checkRelayProcess opens a connection from node to the lab's OpenStack
// and holds it for a few seconds: meanwhile its relay must run as a
// guest connection adopted by this process (the subreaper above the
// VMs), with the lab's marker; once the guest closes, it ends, and Reap
// leaves no zombie of it.
func checkRelayProcess(ctx context.Context, l *lab.Lab, st *lab.State, n lab.Node) error {
	hold := fmt.Sprintf(`nohup python3 -c 'import socket, time; s = socket.create_connection(("%s", %d)); time.sleep(3)' >/dev/null 2>&1 &`,
		vm.OpenStackAddress, st.OpenStackPort())
	if _, err := l.RunOn(ctx, st, n, hold); err != nil {
		return err
	}
	var relays []int
	for deadline := time.Now().Add(5 * time.Second); len(relays) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no relay process runs for %s's connection", n.Name)
		}
		relays = proc.With(l.Marker(), "\x00relay\x00")
	}
	for _, pid := range relays {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if comm, ppid := statCommPPID(string(b)); comm != proc.GuestConnectionName || ppid != os.Getpid() {
			return fmt.Errorf("relay %d runs as %q, child of %d; want %s, child of this process (%d)", pid, comm, ppid, proc.GuestConnectionName, os.Getpid())
		}
	}
	for deadline := time.Now().Add(20 * time.Second); len(proc.With(l.Marker(), "\x00relay\x00")) > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("relays %v still run 20 s after the guest's connection", proc.With(l.Marker(), "\x00relay\x00"))
		}
	}
	proc.Reap()
	if z := guestConnectionZombies(); len(z) > 0 {
		return fmt.Errorf("relays left zombies after Reap: %v", z)
	}
	return nil
}

// statCommPPID reads the command name and parent of a /proc/PID/stat.
func statCommPPID(stat string) (string, int) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return stat[open+1 : end], ppid
}

// guestConnectionZombies lists this process's exited children that were
// guest connections (relays), not reaped yet.
func guestConnectionZombies() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		comm, ppid := statCommPPID(string(b))
		if comm == proc.GuestConnectionName && ppid == os.Getpid() && proc.State(pid) == 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}
