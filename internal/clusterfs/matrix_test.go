package clusterfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// The data-safety matrix runs both modules, as Ansible runs them (an args
// file through module.Execute), on real images made by the real tools, and
// checks the whole image's checksum wherever the module must not write.

func requireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("skipping: %s is not installed (make deps installs it)", n)
		}
	}
}

func sparseImage(t testing.TB, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func tool(t testing.TB, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr.String())
	}
	return string(out)
}

func checksum(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// blkidValue reads one tag of an image with the real blkid.
func blkidValue(t testing.TB, path, tag string) string {
	t.Helper()
	out, _ := exec.Command("blkid", "-p", "-o", "value", "-s", tag, path).Output()
	return strings.TrimSpace(string(out))
}

// imageFixture makes an image holding something; uuidTag names the blkid tag
// whose value the refusal message must quote.
type imageFixture struct {
	name    string
	tools   []string
	make    func(t testing.TB, img string)
	size    int64
	uuidTag string
}

var fixtures = []imageFixture{
	{"empty", nil, func(testing.TB, string) {}, 128 << 20, ""},
	{"ext4", []string{"mkfs.ext4"}, func(t testing.TB, img string) { tool(t, "mkfs.ext4", "-q", "-L", "home", img) }, 128 << 20, "UUID"},
	{"xfs", []string{"mkfs.xfs"}, func(t testing.TB, img string) { tool(t, "mkfs.xfs", "-q", "-L", "scratch", img) }, 320 << 20, "UUID"},
	{"gpt", []string{"parted"}, func(t testing.TB, img string) {
		tool(t, "parted", "-s", img, "mklabel", "gpt", "mkpart", "one", "1MiB", "50MiB", "mkpart", "two", "50MiB", "100MiB")
	}, 128 << 20, "PTUUID"},
	{"mbr", []string{"parted"}, func(t testing.TB, img string) {
		tool(t, "parted", "-s", img, "mklabel", "msdos", "mkpart", "primary", "1MiB", "100MiB")
	}, 128 << 20, "PTUUID"},
	// blkid sees nothing: an ext4 that began at 1 MiB, behind an erased table.
	{"data blkid misses", []string{"mkfs.ext4"}, func(t testing.TB, img string) {
		tool(t, "mkfs.ext4", "-q", "-E", "offset=1048576", img, "100M")
	}, 128 << 20, ""},
	{"gfs2 other lock table", []string{"mkfs.gfs2"}, func(t testing.TB, img string) {
		tool(t, "mkfs.gfs2", "-O", "-p", "lock_dlm", "-t", "other:data", "-j", "2", img)
	}, 128 << 20, "UUID"},
	{"gfs2 same", []string{"mkfs.gfs2"}, func(t testing.TB, img string) {
		tool(t, "mkfs.gfs2", "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "2", img)
	}, 128 << 20, "UUID"},
	{"ocfs2 other cluster", []string{"mkfs.ocfs2"}, func(t testing.TB, img string) {
		tool(t, "mkfs.ocfs2", "-q", "-N", "2", "-L", "old", "--cluster-stack=o2cb", "--cluster-name=prod", img)
	}, 128 << 20, "UUID"},
	{"ocfs2 same", []string{"mkfs.ocfs2"}, func(t testing.TB, img string) {
		tool(t, "mkfs.ocfs2", "-q", "-N", "2", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=lab", img)
	}, 128 << 20, "UUID"},
}

// outcome is what a module run must do on a fixture with force: false.
type outcome struct {
	result string   // create, keep or refuse
	msg    []string // fragments of the message
}

type moduleUnderTest struct {
	name    string
	spec    module.Spec
	handler module.Handler
	args    map[string]any
	fsType  string // blkid TYPE after creation
	expect  map[string]outcome
}

var refuseTable = []string{"refusing to create", forceHint}

var modulesUnderTest = []moduleUnderTest{
	{
		name: "gfs2_fs", spec: GFS2Spec, handler: RunGFS2, fsType: "gfs2",
		args: map[string]any{"cluster_name": "lab", "fs_name": "data", "journals": 2},
		expect: map[string]outcome{
			"empty":                 {"create", []string{"created GFS2"}},
			"ext4":                  {"refuse", append([]string{`ext4 file system (label "home", UUID `}, refuseTable...)},
			"xfs":                   {"refuse", append([]string{`xfs file system (label "scratch", UUID `}, refuseTable...)},
			"gpt":                   {"refuse", append([]string{"GPT partition table with 2 partition(s) (UUID "}, refuseTable...)},
			"mbr":                   {"refuse", append([]string{"MBR partition table with 1 partition(s) (UUID "}, refuseTable...)},
			"data blkid misses":     {"refuse", append([]string{"data that no known signature explains (a non-zero byte at offset 1049"}, refuseTable...)},
			"gfs2 other lock table": {"refuse", append([]string{`GFS2 file system (lock table "other:data", protocol lock_dlm, 2 journals, UUID `, `not "lab:data"`}, refuseTable...)},
			"gfs2 same":             {"keep", []string{`already holds GFS2 with lock table "lab:data" and 2 journals`}},
			"ocfs2 other cluster":   {"refuse", append([]string{`OCFS2 file system (label "old", cluster o2cb/prod, 2 slots, UUID `}, refuseTable...)},
			"ocfs2 same":            {"refuse", append([]string{`OCFS2 file system (label "web", cluster o2cb/lab, 2 slots, UUID `}, refuseTable...)},
		},
	},
	{
		name: "ocfs2_fs", spec: OCFS2Spec, handler: RunOCFS2, fsType: "ocfs2",
		args: map[string]any{"cluster_name": "lab", "slots": 2, "label": "web"},
		expect: map[string]outcome{
			"empty":                 {"create", []string{"created OCFS2"}},
			"ext4":                  {"refuse", append([]string{`ext4 file system (label "home", UUID `}, refuseTable...)},
			"xfs":                   {"refuse", append([]string{`xfs file system (label "scratch", UUID `}, refuseTable...)},
			"gpt":                   {"refuse", append([]string{"GPT partition table with 2 partition(s) (UUID "}, refuseTable...)},
			"mbr":                   {"refuse", append([]string{"MBR partition table with 1 partition(s) (UUID "}, refuseTable...)},
			"data blkid misses":     {"refuse", append([]string{"data that no known signature explains (a non-zero byte at offset 1049"}, refuseTable...)},
			"gfs2 other lock table": {"refuse", append([]string{`GFS2 file system (lock table "other:data"`}, refuseTable...)},
			"gfs2 same":             {"refuse", append([]string{`GFS2 file system (lock table "lab:data"`}, refuseTable...)},
			"ocfs2 other cluster":   {"refuse", append([]string{`OCFS2 file system (label "old", cluster o2cb/prod`, `belongs to cluster "prod", not "lab"`}, refuseTable...)},
			"ocfs2 same":            {"keep", []string{"already holds OCFS2 for cluster o2cb/lab with 2 slots"}},
		},
	},
}

// execute runs the module as Ansible does and returns its JSON result.
func execute(t testing.TB, m moduleUnderTest, args map[string]any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(args)
	path := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := module.Execute(context.Background(), m.name, []string{path}, &out, m.spec, m.handler)
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %q", out.String())
	}
	if failed := res["failed"] == true; failed != (code != 0) {
		t.Errorf("exit code %d with failed=%v", code, res["failed"])
	}
	return res
}

func withArgs(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// logRow records one row of the data-safety matrix in the test log.
func logRow(t *testing.T, module, fixture, mode string, res map[string]any, unchanged bool) {
	msg, _ := res["msg"].(string)
	if len(msg) > 90 {
		msg = msg[:90] + "…"
	}
	t.Logf("MATRIX %-8s | %-21s | %-11s | failed=%-5v changed=%-5v bytes unchanged=%-5v | %s",
		module, fixture, mode, res["failed"], res["changed"], unchanged, msg)
}

func TestDataSafetyMatrix(t *testing.T) {
	requireTools(t, "blkid", "wipefs")
	for _, m := range modulesUnderTest {
		for _, fx := range fixtures {
			m, fx := m, fx
			t.Run(m.name+"/"+fx.name, func(t *testing.T) {
				requireTools(t, fx.tools...)
				requireTools(t, "mkfs."+m.fsType)
				t.Parallel()
				img := sparseImage(t, fx.size)
				fx.make(t, img)
				want := m.expect[fx.name]
				uuid := ""
				if fx.uuidTag != "" {
					uuid = blkidValue(t, img, fx.uuidTag)
					if uuid == "" {
						t.Fatalf("test premise: blkid finds no %s on the %s fixture", fx.uuidTag, fx.name)
					}
				}
				args := withArgs(m.args, "device", img)
				sum := checksum(t, img)

				// Check mode first: whatever the outcome, not a byte changes.
				res := execute(t, m, withArgs(args, "_ansible_check_mode", true, "_ansible_diff", true))
				same := checksum(t, img) == sum
				logRow(t, m.name, fx.name, "check", res, same)
				if !same {
					t.Fatalf("check mode changed the image")
				}
				switch want.result {
				case "create":
					if res["changed"] != true || res["failed"] != false || res["created"] != true {
						t.Errorf("check mode on %s: %v", fx.name, res)
					}
				case "keep":
					if res["changed"] != false || res["failed"] != false {
						t.Errorf("check mode on %s: %v", fx.name, res)
					}
				case "refuse":
					if res["failed"] != true || res["changed"] != false {
						t.Errorf("check mode must refuse too: %v", res)
					}
				}

				// The real run with force: false.
				res = execute(t, m, args)
				after := checksum(t, img)
				logRow(t, m.name, fx.name, "run", res, after == sum)
				msg, _ := res["msg"].(string)
				for _, w := range want.msg {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
				if uuid != "" && want.result == "refuse" && !strings.Contains(msg, uuid) {
					t.Errorf("message %q does not name the UUID %s", msg, uuid)
				}
				switch want.result {
				case "create":
					if res["failed"] != false || res["changed"] != true || res["created"] != true || blkidValue(t, img, "TYPE") != m.fsType {
						t.Fatalf("create: %v", res)
					}
					if res["uuid"] != blkidValue(t, img, "UUID") {
						t.Errorf("uuid %v, blkid says %s", res["uuid"], blkidValue(t, img, "UUID"))
					}
					// the second run finds it and changes nothing
					sum = checksum(t, img)
					res = execute(t, m, args)
					logRow(t, m.name, fx.name, "re-run", res, checksum(t, img) == sum)
					if res["changed"] != false || res["failed"] != false || checksum(t, img) != sum {
						t.Errorf("re-run: %v", res)
					}
					return
				case "keep":
					if res["failed"] != false || res["changed"] != false || after != sum {
						t.Fatalf("keep: %v (bytes unchanged %v)", res, after == sum)
					}
					return
				case "refuse":
					if res["failed"] != true || res["changed"] != false || after != sum {
						t.Fatalf("refuse: %v (bytes unchanged %v)", res, after == sum)
					}
				}

				// With force: true the old contents go and only the new file
				// system is left: no stale partition table or superblock.
				res = execute(t, m, withArgs(args, "force", true))
				logRow(t, m.name, fx.name, "force", res, checksum(t, img) == sum)
				if res["failed"] != false || res["changed"] != true || res["created"] != true {
					t.Fatalf("force: %v", res)
				}
				out, err := exec.Command("blkid", "-p", "-o", "export", img).Output()
				if err != nil || !strings.Contains(string(out), "TYPE="+m.fsType+"\n") || strings.Contains(string(out), "PTTYPE") {
					t.Errorf("after force, blkid: %v %s", err, out)
				}
			})
		}
	}
}

// TestMountedNeverFormatted mounts an ext4 image read-only through a loop
// device (when this host allows it) and runs both modules with force: true,
// on the image file and on the loop device: both refuse, nothing changes.
func TestMountedNeverFormatted(t *testing.T) {
	requireTools(t, "losetup", "mount", "umount", "mkfs.ext4", "blkid")
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting needs root")
	}
	img := sparseImage(t, 64<<20)
	tool(t, "mkfs.ext4", "-q", "-L", "busy", img)
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("skipping: no loop device on this host: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	mnt := t.TempDir()
	// read-only and without journal replay, so the kernel writes nothing
	if out, err := exec.Command("mount", "-t", "ext4", "-o", "ro,noload", loop, mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	sum := checksum(t, img)
	for _, m := range modulesUnderTest {
		for _, device := range []string{img, loop} {
			for _, check := range []bool{false, true} {
				res := execute(t, m, withArgs(m.args, "device", device, "force", true, "_ansible_check_mode", check))
				msg, _ := res["msg"].(string)
				if res["failed"] != true || res["changed"] != false || !strings.Contains(msg, "even with force: true") || !strings.Contains(msg, "mounted at "+mnt) {
					t.Errorf("%s on %s (check %v): %v", m.name, device, check, res)
				}
				if checksum(t, img) != sum {
					t.Fatalf("%s on %s changed the mounted image", m.name, device)
				}
			}
		}
	}
}

// TestMountedOCFS2Parses proves the mounted.ocfs2 parser on the real tool's
// output for a volume nobody mounts.
func TestMountedOCFS2Parses(t *testing.T) {
	requireTools(t, "mkfs.ocfs2", "mounted.ocfs2")
	img := sparseImage(t, 128<<20)
	tool(t, "mkfs.ocfs2", "-q", "-N", "2", "--cluster-stack=o2cb", "--cluster-name=lab", img)
	nodes, err := Host().ocfs2MountedNodes(context.Background(), img)
	if err != nil || len(nodes) != 0 {
		t.Errorf("nodes %v, err %v", nodes, err)
	}
}

// TestProbeAfterCreateSeesNewFileSystem checks the real probe right after
// the real mkfs, through the same device handle path the module uses.
func TestProbeAfterCreateSeesNewFileSystem(t *testing.T) {
	requireTools(t, "mkfs.gfs2", "blkid")
	img := sparseImage(t, 256<<20)
	s := Host()
	st, err := s.Probe(context.Background(), img)
	if err != nil || !st.Empty() {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := s.Run.Run(context.Background(), "mkfs.gfs2", mkfsGFS2Args(GFS2Want{Device: img, LockProtocol: "lock_nolock", Journals: 1})...); err != nil {
		t.Fatal(err)
	}
	st, err = s.Probe(context.Background(), img)
	if err != nil || st.GFS2 == nil || st.GFS2.Journals != 1 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestMissingOrOddDevice(t *testing.T) {
	dir := t.TempDir()
	for _, m := range modulesUnderTest {
		for device, want := range map[string]string{
			filepath.Join(dir, "nope"): "no such file or directory",
			dir:                        "not a block device or a regular file",
			"/dev/null":                "not a block device or a regular file",
		} {
			res := execute(t, m, withArgs(m.args, "device", device, "force", true))
			if msg, _ := res["msg"].(string); res["failed"] != true || res["changed"] != false || !strings.Contains(msg, want) {
				t.Errorf("%s on %s: %v", m.name, device, res)
			}
		}
	}
}
