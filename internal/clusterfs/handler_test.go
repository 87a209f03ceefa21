package clusterfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
	"github.com/cinder-multiattach/cinder.multiattach/internal/command/commandtest"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/systemd"
)

// probes returns the states in order, one per probe; running out fails.
type probes struct {
	t      *testing.T
	states []*blockdev.State
	err    error
	after  error // returned once the states are used up
	n      int
}

func (p *probes) probe(_ context.Context, device string) (*blockdev.State, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.n >= len(p.states) && p.after != nil {
		return nil, p.after
	}
	if p.n >= len(p.states) {
		p.t.Fatalf("unexpected probe %d of %s", p.n+1, device)
	}
	s := p.states[p.n]
	p.n++
	return s, nil
}

// units is a fake systemd: the listed units are active, others inactive.
type units struct {
	active map[string]bool
	err    error
	asked  []string
}

func (u *units) States(_ context.Context, names ...string) ([]systemd.UnitState, error) {
	u.asked = append(u.asked, names...)
	if u.err != nil {
		return nil, u.err
	}
	var out []systemd.UnitState
	for _, n := range names {
		st := systemd.UnitState{Name: n, LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}
		if u.active[n] {
			st.ActiveState, st.SubState = "active", "running"
		}
		out = append(out, st)
	}
	return out, nil
}

type fixture struct {
	run    *commandtest.Runner
	probes *probes
	units  *units
}

func (f fixture) system() System {
	return System{Run: f.run, Probe: f.probes.probe, Units: f.units}
}

func newFixture(t *testing.T, states []*blockdev.State, active []string, calls ...commandtest.Call) fixture {
	u := &units{active: map[string]bool{}}
	for _, a := range active {
		u.active[a] = true
	}
	return fixture{run: commandtest.New(t, calls...), probes: &probes{t: t, states: states}, units: u}
}

func request(t *testing.T, spec module.Spec, args map[string]any) *module.Request {
	t.Helper()
	data, _ := json.Marshal(args)
	req, err := module.DecodeArgs("test", data, spec)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

var (
	gfs2Args = map[string]any{"device": dev, "cluster_name": "lab", "fs_name": "data", "journals": 3}
	expect   = commandtest.Expect
)

func with(args map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range args {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// failure asserts err is a module failure whose message holds every want.
func failure(t *testing.T, err error, changed bool, want ...string) {
	t.Helper()
	var f *module.Failure
	if !errors.As(err, &f) {
		t.Fatalf("want a *module.Failure, got %T %v", err, err)
	}
	if f.Changed != changed {
		t.Errorf("changed = %v, want %v (msg %s)", f.Changed, changed, f.Msg)
	}
	for _, w := range want {
		if !strings.Contains(f.Msg, w) {
			t.Errorf("message %q lacks %q", f.Msg, w)
		}
	}
	if f.Values["device"] != dev {
		t.Errorf("failure values %v lack the device", f.Values)
	}
}

func values(t *testing.T, res *module.Result, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, _ := json.Marshal(res.Values[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
}

const mkfsGFS2 = "mkfs.gfs2"

func TestGFS2Create(t *testing.T) {
	created := gfs2State("lab:data", "lock_dlm", 3)
	f := newFixture(t, []*blockdev.State{emptyState(), created}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev))
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "_ansible_diff", true)))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Diff == nil {
		t.Errorf("result %+v", res)
	}
	values(t, res, map[string]any{"device": dev, "created": true, "uuid": created.GFS2.UUID, "lock_table": "lab:data",
		"lock_protocol": "lock_dlm", "block_size": 4096, "journals_before": 0, "journals": 3})
	if before := res.Diff.Before.(map[string]any); before["contents"] != "nothing" {
		t.Errorf("diff before %v", before)
	}
}

func TestGFS2CreateAllOptions(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState(), gfs2State("", "lock_nolock", 2)}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_nolock", "-j", "2", "-J", "16", "-b", "4096", dev))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, map[string]any{"device": dev, "lock_protocol": "lock_nolock",
		"journals": 2, "journal_size": 16, "block_size": 4096}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestGFS2MkfsFails(t *testing.T) {
	// mkfs refused before writing: the device reads empty again.
	f := newFixture(t, []*blockdev.State{emptyState(), emptyState()}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev).Fails(255, "gfs2 will not fit on this device.\n"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, false, "create GFS2 on "+dev, "mkfs.gfs2 -O -p lock_dlm -t lab:data -j 3 "+dev+": exit code 255: gfs2 will not fit on this device.")
}

// mkfs killed halfway (SIGXFSZ, out of space): what it wrote is a change.
func TestGFS2MkfsFailsAfterWriting(t *testing.T) {
	half := emptyState()
	half.Data = &blockdev.UnknownData{Offset: 65536}
	f := newFixture(t, []*blockdev.State{emptyState(), half}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev).Fails(153, ""))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, true, "create GFS2 on "+dev, "the device now holds data that no known signature explains (a non-zero byte at offset 65536)")
}

func TestGFS2MkfsFailsUnreadable(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState()}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev).Fails(1, "I/O error"))
	f.probes.after = errors.New("read /dev/x at 0: input/output error")
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, true, "create GFS2 on "+dev, "cannot be read back: read /dev/x")
}

func TestGFS2MkfsMissing(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState(), emptyState()}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev).Missing())
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, false, "executable file not found")
}

func TestGFS2MkfsLeavesNoFileSystem(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState(), emptyState()}, nil,
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, true, "mkfs.gfs2 succeeded but "+dev+" now holds nothing")
}

func TestGFS2ForceOverExt4(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ext4State(), gfs2State("lab:data", "lock_dlm", 3)}, nil,
		expect("wipefs", "--all", dev),
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev))
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true)))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": true, "journals": 3})
}

func TestGFS2WipeFails(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ext4State()}, nil,
		expect("wipefs", "--all", dev).Fails(1, "wipefs: error: "+dev+": probing initialization failed: Device or resource busy"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true)))
	failure(t, err, false, "wipe the signatures on "+dev, "exit code 1", "Device or resource busy")
}

func TestGFS2MkfsFailsAfterWipe(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ext4State(), emptyState()}, nil,
		expect("wipefs", "--all", dev),
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev).Fails(1, "boom"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true)))
	// the signatures are gone: that is a change, and the run says so
	failure(t, err, true, "create GFS2", "boom")
}

func TestGFS2AddJournals(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("lab:data", "lock_dlm", 1), "gfs2", "/srv/data")}, []string{"dlm.service"},
		expect("gfs2_jadd", "-j", "2", "-J", "64", "/srv/data"))
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "journal_size", 64)))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": false, "journals_before": 1, "journals": 3, "lock_table": "lab:data"})
	if strings.Join(f.units.asked, ",") != "dlm.service" {
		t.Errorf("units asked: %v", f.units.asked)
	}
}

func TestGFS2AddJournalsDLMDown(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("lab:data", "lock_dlm", 1), "gfs2", "/srv/data")}, nil)
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, false, "cannot add journals to "+dev, "dlm.service (inactive/dead) is not active", "systemctl start dlm.service")
}

func TestGFS2AddJournalsSystemdUnreachable(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("lab:data", "lock_dlm", 1), "gfs2", "/srv/data")}, nil)
	f.units.err = errors.New("cannot reach systemd over D-Bus to check dlm.service: no such file")
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, false, "cannot reach systemd over D-Bus")
}

func TestGFS2JaddFails(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("lab:data", "lock_dlm", 2), "gfs2", "/srv/data")}, []string{"dlm.service"},
		expect("gfs2_jadd", "-j", "1", "/srv/data").Fails(1, "gfs2_jadd: not enough space"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, true, "add 1 journals to "+dev, "gfs2_jadd -j 1 /srv/data: exit code 1: gfs2_jadd: not enough space")
}

func TestGFS2AddJournalsNolockNeedsNoStack(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("", "lock_nolock", 1), "gfs2", "/mnt")}, nil,
		expect("gfs2_jadd", "-j", "1", "/mnt"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, map[string]any{"device": dev, "lock_protocol": "lock_nolock", "journals": 2}))
	if err != nil || len(f.units.asked) != 0 {
		t.Fatalf("%v, units asked %v", err, f.units.asked)
	}
}

func TestGFS2CheckModeCreate(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState()}, nil)
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "_ansible_check_mode", true, "_ansible_diff", true)))
	if err != nil || !res.Changed || !strings.HasPrefix(res.Msg, "check mode: would create GFS2") {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": true, "uuid": nil, "journals": 3, "journals_before": 0, "block_size": nil, "lock_table": "lab:data"})
	if after := res.Diff.After.(map[string]any); after["lock_table"] != "lab:data" || after["journals"] != 3 {
		t.Errorf("diff after %v", after)
	}
}

func TestGFS2CheckModeGrowChecksUnits(t *testing.T) {
	f := newFixture(t, []*blockdev.State{mounted(gfs2State("lab:data", "lock_dlm", 1), "gfs2", "/srv")}, []string{"dlm.service"})
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "_ansible_check_mode", true)))
	if err != nil || !res.Changed || len(f.units.asked) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"journals_before": 1, "journals": 3, "created": false})
}

func TestGFS2CheckModeForceRunsNoWrite(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ext4State()}, nil)
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "_ansible_check_mode", true, "force", true)))
	if err != nil || !res.Changed || !strings.Contains(res.Msg, "would force: wipe") {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestGFS2Keep(t *testing.T) {
	f := newFixture(t, []*blockdev.State{gfs2State("lab:data", "lock_dlm", 4)}, nil)
	res, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	if err != nil || res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": false, "journals_before": 4, "journals": 4, "uuid": "11111111-2222-3333-4444-555555555555"})
}

func TestGFS2RefuseRunsNothing(t *testing.T) {
	for name, s := range map[string]*blockdev.State{"ext4": ext4State(), "gpt": gptState(), "ocfs2": ocfs2State("x", "o2cb", "c", 2), "other table": gfs2State("a:b", "lock_dlm", 3)} {
		f := newFixture(t, []*blockdev.State{s}, nil)
		_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
		failure(t, err, false, forceHint)
		if len(f.run.Seen) != 0 {
			t.Errorf("%s: commands ran: %v", name, f.run.Seen)
		}
	}
}

func TestGFS2ForceOverMountedOCFS2(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 4)}, nil,
		expect("mounted.ocfs2", "-f", dev).Prints(mountedOutput(dev, "o2cb", "lab", ' ', "node1, node3")))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true)))
	failure(t, err, false, "even with force: true", "mounted on node1, node3")
}

func TestGFS2ForceOverUnmountedOCFS2(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 4), gfs2State("lab:data", "lock_dlm", 3)}, nil,
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted),
		expect("wipefs", "--all", dev),
		expect(mkfsGFS2, "-O", "-p", "lock_dlm", "-t", "lab:data", "-j", "3", dev))
	if _, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true))); err != nil {
		t.Fatal(err)
	}
}

func TestGFS2ForceMountedOCFS2Unknown(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 4)}, nil,
		expect("mounted.ocfs2", "-f", dev).Fails(1, "mounted.ocfs2: Unable to access cluster service"))
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "force", true)))
	failure(t, err, false, "refusing to touch "+dev, "Unable to access cluster service")
}

func TestGFS2ProbeFails(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.probes.err = errors.New("cannot probe " + dev + ": no such file or directory")
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, gfs2Args))
	failure(t, err, false, "no such file or directory")
}

func TestGFS2BadOptionsChangeNothing(t *testing.T) {
	f := newFixture(t, nil, nil)
	_, err := f.system().GFS2(context.Background(), request(t, GFS2Spec, with(gfs2Args, "cluster_name", "has:colon")))
	failure(t, err, false, "invalid lock table")
}

var ocfs2Args = map[string]any{"device": dev, "cluster_name": "lab", "slots": 3, "label": "web"}

func TestOCFS2Create(t *testing.T) {
	created := ocfs2State("web", "o2cb", "lab", 3)
	f := newFixture(t, []*blockdev.State{emptyState(), created}, nil,
		expect("mkfs.ocfs2", "-N", "3", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=lab", dev))
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"device": dev, "created": true, "uuid": created.OCFS2.UUID, "label": "web", "slots_before": 0, "slots": 3,
		"cluster_stack": "o2cb", "cluster_name": "lab", "block_size": 4096, "cluster_size": 4096})
}

func TestOCFS2CreateAllOptions(t *testing.T) {
	created := ocfs2State("", "pcmk", "ha", 2)
	created.OCFS2.ClusterSize = 8192
	f := newFixture(t, []*blockdev.State{emptyState(), created}, nil,
		expect("mkfs.ocfs2", "-N", "2", "-T", "mail", "-b", "4096", "-C", "8192", "--cluster-stack=pcmk", "--cluster-name=ha", dev))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, map[string]any{"device": dev, "cluster_name": "ha", "cluster_stack": "pcmk",
		"slots": 2, "fs_type": "mail", "block_size": 4096, "cluster_size": 8192}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestOCFS2MkfsFails(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState(), emptyState()}, nil,
		expect("mkfs.ocfs2", "-N", "3", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=lab", dev).
			Fails(1, `mkfs.ocfs2: Unable to find available bit while formatting journal "journal:0002"`))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, false, "create OCFS2 on "+dev, "exit code 1", "Unable to find available bit")
}

func TestOCFS2MkfsMakesSomethingElse(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState(), ocfs2State("web", "o2cb", "lab", 2)}, nil,
		expect("mkfs.ocfs2", "-N", "3", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=lab", dev))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, true, "mkfs.ocfs2 succeeded but", "2 slots")
}

var notMounted = mountedOutput(dev, "o2cb", "lab", ' ', "Not mounted")

// mountedOutput prints like mounted.ocfs2 -f (mounted.c, print_full_detect):
// columns padded to the longest device and cluster name, at least 7 wide.
func mountedOutput(device, stack, cluster string, flag byte, nodes string) string {
	dw, cw := max(7, len(device)), max(7, len(cluster))
	return fmt.Sprintf("%-*s  %-5s  %-*s  %c  %-s\n", dw, "Device", "Stack", cw, "Cluster", 'F', "Nodes") +
		fmt.Sprintf("%-*s  %-5s  %-*s  %c  %s\n", dw, device, stack, cw, cluster, flag, nodes)
}

func TestOCFS2GrowSlots(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2), ocfs2State("web", "o2cb", "lab", 3)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted),
		expect("tunefs.ocfs2", "-N", "3", dev))
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": false, "slots_before": 2, "slots": 3})
}

func TestOCFS2GrowStackDown(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2)}, nil)
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, false, "changing the slots of "+dev+" with tunefs.ocfs2 needs o2cb.service running", "systemctl start o2cb.service")
}

func TestOCFS2GrowPcmkNeedsDLM(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("", "pcmk", "ha", 2)}, []string{"o2cb.service"})
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, map[string]any{"device": dev, "cluster_name": "ha", "cluster_stack": "pcmk", "slots": 4}))
	failure(t, err, false, "needs dlm.service running")
}

func TestOCFS2GrowMountedOnNodes(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(mountedOutput(dev, "o2cb", "lab", ' ', "node1, node2")))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, false, "from 2 to 3", "unmounted on every node", "mounted on node1, node2")
}

func TestOCFS2GrowMountedCheckFails(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Fails(1, "mounted.ocfs2: bad device"))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, false, "cannot change the slots", "bad device")
}

func TestOCFS2TunefsFails(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted),
		expect("tunefs.ocfs2", "-N", "3", dev).Fails(3, `tunefs.ocfs2: Unable to access cluster service while opening device "`+dev+`"`))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, false, "change the slots of "+dev+" to 3", "exit code 3", "Unable to access cluster service")
}

func TestOCFS2TunefsChangesNothing(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2), ocfs2State("web", "o2cb", "lab", 2)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted),
		expect("tunefs.ocfs2", "-N", "3", dev))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	failure(t, err, true, "tunefs.ocfs2 succeeded but")
}

func TestOCFS2Shrink(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 6), ocfs2State("web", "o2cb", "lab", 3)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted),
		expect("tunefs.ocfs2", "-N", "3", dev))
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, with(ocfs2Args, "shrink", true)))
	if err != nil {
		t.Fatal(err)
	}
	values(t, res, map[string]any{"slots_before": 6, "slots": 3})
}

func TestOCFS2CheckModeGrow(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 2)}, []string{"o2cb.service"},
		expect("mounted.ocfs2", "-f", dev).Prints(notMounted))
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, with(ocfs2Args, "_ansible_check_mode", true)))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"slots_before": 2, "slots": 3, "created": false})
}

func TestOCFS2CheckModeCreate(t *testing.T) {
	f := newFixture(t, []*blockdev.State{emptyState()}, nil)
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, with(ocfs2Args, "_ansible_check_mode", true)))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"created": true, "uuid": nil, "slots": 3, "slots_before": 0, "label": "web", "block_size": nil})
}

func TestOCFS2ForceOverGFS2(t *testing.T) {
	f := newFixture(t, []*blockdev.State{gfs2State("lab:data", "lock_dlm", 2), ocfs2State("web", "o2cb", "lab", 3)}, nil,
		expect("wipefs", "--all", dev),
		expect("mkfs.ocfs2", "-N", "3", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=lab", dev))
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, with(ocfs2Args, "force", true)))
	if err != nil || !res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestOCFS2ForceOverMountedOCFS2(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("old", "o2cb", "prod", 2)}, nil,
		expect("mounted.ocfs2", "-f", dev).Prints(mountedOutput(dev, "o2cb", "prod", ' ', "7")))
	_, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, with(ocfs2Args, "force", true)))
	failure(t, err, false, "mounted on 7")
}

func TestOCFS2Keep(t *testing.T) {
	f := newFixture(t, []*blockdev.State{ocfs2State("web", "o2cb", "lab", 4)}, nil)
	res, err := f.system().OCFS2(context.Background(), request(t, OCFS2Spec, ocfs2Args))
	if err != nil || res.Changed {
		t.Fatalf("%+v %v", res, err)
	}
	values(t, res, map[string]any{"slots_before": 4, "slots": 4, "created": false, "label": "web"})
}

func TestParseMountedOCFS2(t *testing.T) {
	cases := []struct {
		stdout, stderr string
		nodes          []string
		err            string
	}{
		{mountedOutput("o4.img", "o2cb", "mycl", ' ', "Not mounted"), "", nil, ""},
		{mountedOutput("/dev/vdb", "o2cb", "lab", 'G', "node1, node2, node3"), "", []string{"node1", "node2", "node3"}, ""},
		{mountedOutput("/dev/disk/by-id/virtio-0123456789abcdef0123", "pcmk", "hacluster", ' ', "0, 1"), "", []string{"0", "1"}, ""},
		// a classic o2cb volume has no cluster name: the columns stay put
		{mountedOutput("/dev/vdb", "o2cb", "", ' ', "Unknown"), "", []string{"Unknown"}, ""},
		{strings.TrimSuffix(mountedOutput("/dev/vdb", "o2cb", "lab", ' ', ""), "\n"), "Unknown: Bad magic number in inode", nil, "could not tell"},
		{mountedOutput("/dev/vdb", "o2cb", "lab", ' ', "Heartbeat device"), "", nil, "global heartbeat device"},
		{"", "mounted.ocfs2: No such file", nil, "cannot read mounted.ocfs2 output"},
		{"Device  Stack  Cluster  F  Nodes\n", "", nil, "cannot read"},
	}
	for _, c := range cases {
		nodes, err := parseMountedOCFS2(c.stdout, c.stderr)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: want error %q, got %v %v", c.stdout, c.err, nodes, err)
			}
			continue
		}
		if err != nil || strings.Join(nodes, "|") != strings.Join(c.nodes, "|") {
			t.Errorf("%q: got %v %v, want %v", c.stdout, nodes, err, c.nodes)
		}
	}
}
