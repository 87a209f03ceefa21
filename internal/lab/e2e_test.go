package lab_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// TestE2E boots two real VMs, hot-plugs one shared volume into both, and
// checks what a cluster file system relies on: the same /dev/disk/by-id
// path on both guests, bytes written by one read back by the other, the
// package source, a hard kill and power-on with the volume still there,
// and nothing left running after down.
func TestE2E(t *testing.T) {
	if os.Getenv("LAB_E2E") == "" {
		t.Skip("end-to-end test on real VMs: run it with LAB_E2E=1 (make lab-e2e)")
	}
	checkout, _ := filepath.Abs("../..")
	exe := filepath.Join(checkout, "bin", "lab")
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("%s is missing (make tools builds it): %v", exe, err)
	}
	cache := os.Getenv("LAB_CACHE")
	if cache == "" {
		cache = filepath.Join(checkout, ".cache", "lab")
	}
	// /var/tmp: ext4 (cache=none needs O_DIRECT) and short socket paths.
	dir, err := os.MkdirTemp("/var/tmp", "lab-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	l := &lab.Lab{Dir: dir, CacheDir: cache, Executable: exe, Out: os.Stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	var figures []string
	t0 := time.Now()
	phase := func(name string, f func() error) {
		t.Helper()
		p0 := time.Now()
		err := f()
		figures = append(figures, fmt.Sprintf("%-28s %6.1f s", name, time.Since(p0).Seconds()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	defer func() {
		figures = append(figures, fmt.Sprintf("%-28s %6.1f s", "total", time.Since(t0).Seconds()))
		t.Logf("lab e2e figures:\n%s", strings.Join(figures, "\n"))
	}()
	downed := false
	t.Cleanup(func() {
		if !downed {
			l.Down(context.Background())
		}
		os.RemoveAll(dir)
	})

	recipe := image.NewRecipe(image.Platforms[image.DefaultPlatform], mirror())
	phase("image (build or cache)", func() error {
		_, _, err := image.Build(ctx, cache, recipe, os.Stderr)
		return err
	})
	phase("up: 2 nodes to SSH", func() error {
		return l.Up(ctx, lab.UpOptions{Nodes: 2, MemoryMiB: 1280, Accel: "auto", Recipe: recipe, SSHTimeout: 10 * time.Minute})
	})
	st, err := l.State()
	if err != nil || st == nil {
		t.Fatalf("state after up: %v", err)
	}
	n1, n2 := st.Nodes[0], st.Nodes[1]
	for _, n := range st.Nodes {
		out, err := l.RunOn(ctx, st, n, "uname -n; ip -4 -o addr show")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), n.Name+"\n") || !strings.Contains(string(out), lab.ClusterAddress(n.Index)+"/24") {
			t.Errorf("%s: uname -n and cluster address:\n%s", n.Name, out)
		}
	}
	phase("cluster link ping", func() error {
		_, err := l.RunOn(ctx, st, n1, "ping -c 2 -W 5 "+lab.ClusterAddress(n2.Index))
		return err
	})

	const volumeID = "6d3c1a5e-0b7f-4c2a-9e51-3a8f2b7c9d10"
	byID := volume.ByIDPath(volumeID)
	phase("hot-plug into both", func() error { return l.Attach(ctx, volumeID, 256, nil) })
	st, _ = l.State()
	var devs []string
	for _, n := range st.Nodes {
		out, err := l.RunOn(ctx, st, n, "readlink -f "+byID+" && cat /sys/block/$(basename $(readlink -f "+byID+"))/serial")
		if err != nil {
			t.Fatalf("%s does not see %s: %v", n.Name, byID, err)
		}
		devs = append(devs, string(out))
		if !strings.Contains(string(out), volumeID[:20]) {
			t.Errorf("%s: the device's serial is not the volume id: %q", n.Name, out)
		}
	}
	t.Logf("guests see %s as: %q", byID, devs)

	data := make([]byte, 64<<10)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	phase("write node1, read node2", func() error {
		// Direct I/O on both sides: no guest page cache between them.
		if _, err := l.RunOnWithInput(ctx, st, n1, "dd of="+byID+" bs=64k count=1 seek=3 oflag=direct iflag=fullblock status=none", string(data)); err != nil {
			return err
		}
		out, err := l.RunOn(ctx, st, n2, "dd if="+byID+" bs=64k count=1 skip=3 iflag=direct status=none | sha256sum")
		if err != nil {
			return err
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != want {
			return fmt.Errorf("node2 read %q, node1 wrote %s", out, want)
		}
		return nil
	})
	phase("package source (apt)", func() error {
		out, err := l.RunOn(ctx, st, n1, "apt-get -q update >/dev/null && apt-get -s install corosync dlm-controld gfs2-utils ocfs2-tools | grep -c '^Inst'")
		if err != nil {
			return err
		}
		t.Logf("apt would install %s packages from the lab's source", strings.TrimSpace(string(out)))
		return nil
	})
	inv, err := os.ReadFile(l.InventoryPath())
	if err != nil || !strings.Contains(string(inv), "cluster_device: "+byID) {
		t.Errorf("inventory lacks cluster_device %s: %v\n%s", byID, err, inv)
	}

	phase("kill node2, power on", func() error {
		if err := l.Kill(ctx, n2.Name); err != nil {
			return err
		}
		if l.Running(n2) {
			return fmt.Errorf("node2 still runs after kill")
		}
		return l.Reboot(ctx, n2.Name, lab.RebootOptions{ShutdownTimeout: time.Minute, SSHTimeout: 10 * time.Minute})
	})
	phase("volume back on node2", func() error {
		out, err := l.RunOn(ctx, st, n2, "dd if="+byID+" bs=64k count=1 skip=3 iflag=direct status=none | sha256sum")
		if err != nil {
			return err
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != want {
			return fmt.Errorf("after power-on node2 read %q, want %s", out, want)
		}
		return nil
	})
	phase("hot-unplug from node2", func() error {
		if err := l.Detach(ctx, volumeID, []string{n2.Name}); err != nil {
			return err
		}
		return l.WaitDevice(ctx, st, n2, byID, false)
	})

	for _, s := range l.Status(st) {
		figures = append(figures, fmt.Sprintf("%-28s %6d MiB", "RSS "+s.Name, s.RSSMiB))
	}
	var pids []int
	for _, n := range st.Nodes {
		pids = append(pids, l.PID(n))
	}
	phase("down", func() error { return l.Down(ctx) })
	downed = true
	if left := proc.With(l.Marker()); len(left) > 0 {
		t.Errorf("processes left after down: %v", left)
	}
	for _, pid := range pids {
		if proc.Alive(pid, l.Marker()) {
			t.Errorf("qemu %d still runs after down", pid)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.qcow2")); len(left) > 0 {
		t.Errorf("overlays left after down: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "volumes")); err == nil {
		t.Error("volumes left after down")
	}
}

// mirror is the Debian mirror of the image: $LAB_MIRROR, as bin/lab reads
// it, or Debian's.
func mirror() string {
	if m := os.Getenv("LAB_MIRROR"); m != "" {
		return m
	}
	return image.DefaultMirror
}
