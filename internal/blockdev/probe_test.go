package blockdev

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/command/commandtest"
	"golang.org/x/sys/unix"
)

func TestDeviceReadAtMatchesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img")
	data := make([]byte, 3*4096+777)
	for i := range data {
		data[i] = byte(i*7 + i/4096)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	dev, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if dev.Size() != int64(len(data)) || dev.IsBlockDevice() {
		t.Fatalf("size %d block %v", dev.Size(), dev.IsBlockDevice())
	}
	t.Logf("O_DIRECT: %v", dev.direct)
	for _, c := range []struct{ off, n int }{{0, 512}, {1, 100}, {4095, 2}, {4000, 5000}, {12000, 1000}, {len(data) - 10, 10}} {
		p := make([]byte, c.n)
		n, err := dev.ReadAt(p, int64(c.off))
		if err != nil || n != c.n || !bytes.Equal(p, data[c.off:c.off+c.n]) {
			t.Errorf("ReadAt(%d, %d) = %d, %v; bytes equal: %v", c.off, c.n, n, err, bytes.Equal(p[:n], data[c.off:c.off+n]))
		}
	}
	// past the end: a short read with io.EOF, as io.ReaderAt requires
	p := make([]byte, 100)
	if n, err := dev.ReadAt(p, int64(len(data)-40)); n != 40 || !errors.Is(err, io.EOF) {
		t.Errorf("short read: %d, %v", n, err)
	}
	if n, err := dev.ReadAt(p, int64(len(data))); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at end: %d, %v", n, err)
	}
	if _, err := dev.ReadAt(p, -1); err == nil {
		t.Error("negative offset must fail")
	}
}

func TestOpenRejectsOtherFiles(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a block device or a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Open("/dev/null"); err == nil {
		t.Error("a character device must be refused")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestBlkidExitCodes(t *testing.T) {
	ctx := context.Background()
	argv := []string{"blkid", "-p", "-o", "export", "/dev/x"}
	t.Run("nothing found", func(t *testing.T) {
		sig, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Fails(2, "")), "/dev/x")
		if sig != nil || err != nil {
			t.Errorf("%+v %v", sig, err)
		}
	})
	t.Run("ambivalent", func(t *testing.T) {
		sig, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Fails(8, "blkid: /dev/x: ambivalent result (probably more filesystems on the device, use wipefs(8) to see more details)\n")), "/dev/x")
		if err != nil || sig == nil || !sig.Ambivalent || !strings.Contains(sig.Detail, "ambivalent result") {
			t.Errorf("%+v %v", sig, err)
		}
	})
	t.Run("usage error", func(t *testing.T) {
		_, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Fails(4, "bad usage")), "/dev/x")
		var e *command.Error
		if !errors.As(err, &e) || e.ExitCode != 4 || !strings.Contains(err.Error(), "bad usage") || !strings.Contains(err.Error(), "blkid -p -o export /dev/x") {
			t.Errorf("%v", err)
		}
	})
	t.Run("not installed", func(t *testing.T) {
		if _, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Missing()), "/dev/x"); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("exit 0 without tags", func(t *testing.T) {
		if _, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Prints("DEVNAME=/dev/x\n")), "/dev/x"); err == nil {
			t.Error("an empty answer with exit 0 must not read as empty")
		}
	})
	t.Run("escaped label", func(t *testing.T) {
		sig, err := Blkid(ctx, commandtest.New(t, commandtest.Expect(argv...).Prints(
			"DEVNAME=/dev/x\nLABEL=my\\ data\nUUID=1-2\nTYPE=ext4\nUSAGE=filesystem\n")), "/dev/x")
		if err != nil || sig.Label != "my data" || sig.Type != "ext4" || sig.UUID != "1-2" || sig.Usage != "filesystem" {
			t.Errorf("%+v %v", sig, err)
		}
	})
}

// otherImages makes the images that hold something other than a cluster
// file system. Each returns the path; the test skips when a tool is missing.
var otherImages = map[string]func(t testing.TB) string{
	"ext4": func(t testing.TB) string {
		requireTools(t, "mkfs.ext4")
		img := sparseImage(t, 64<<20)
		tool(t, "mkfs.ext4", "-q", "-L", "home", img)
		return img
	},
	"xfs": func(t testing.TB) string {
		requireTools(t, "mkfs.xfs")
		img := sparseImage(t, 300<<20)
		tool(t, "mkfs.xfs", "-q", "-L", "scratch", img)
		return img
	},
	"gpt": func(t testing.TB) string {
		requireTools(t, "parted")
		img := sparseImage(t, 64<<20)
		tool(t, "parted", "-s", img, "mklabel", "gpt", "mkpart", "one", "1MiB", "20MiB", "mkpart", "two", "20MiB", "40MiB")
		return img
	},
	"mbr": func(t testing.TB) string {
		requireTools(t, "parted")
		img := sparseImage(t, 64<<20)
		tool(t, "parted", "-s", img, "mklabel", "msdos", "mkpart", "primary", "1MiB", "30MiB")
		return img
	},
}

func TestProbeRealImages(t *testing.T) {
	requireTools(t, "blkid")
	p := Prober{Run: command.Exec{}, Host: DefaultHost}
	ctx := context.Background()

	t.Run("empty", func(t *testing.T) {
		s, err := p.Probe(ctx, sparseImage(t, 16<<20))
		if err != nil || !s.Empty() || s.Contents() != "nothing" {
			t.Fatalf("%+v %v", s, err)
		}
	})
	for name, want := range map[string]string{
		"ext4": `ext4 file system (label "home", UUID `,
		"xfs":  `xfs file system (label "scratch", UUID `,
		"gpt":  `GPT partition table with 2 partition(s) (UUID `,
		"mbr":  `MBR partition table with 1 partition(s) (UUID `,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := p.Probe(ctx, otherImages[name](t))
			if err != nil {
				t.Fatal(err)
			}
			if s.Empty() || s.GFS2 != nil || s.OCFS2 != nil {
				t.Errorf("state: %+v", s)
			}
			if !strings.Contains(s.Contents(), want) {
				t.Errorf("contents %q, want %q", s.Contents(), want)
			}
			if (name == "gpt" || name == "mbr") != (s.PartitionTable != nil) {
				t.Errorf("partition table: %+v", s.PartitionTable)
			}
		})
	}
	t.Run("gfs2", func(t *testing.T) {
		requireTools(t, "mkfs.gfs2")
		img := sparseImage(t, 128<<20)
		tool(t, "mkfs.gfs2", "-O", "-p", "lock_dlm", "-t", "c1:fs", "-j", "2", img)
		s, err := p.Probe(ctx, img)
		if err != nil || s.GFS2 == nil || s.GFS2.Journals != 2 || s.Signature == nil || s.Signature.Type != "gfs2" || s.Signature.UUID != s.GFS2.UUID {
			t.Fatalf("%+v %v", s, err)
		}
		if want := fmt.Sprintf(`GFS2 file system (lock table "c1:fs", protocol lock_dlm, 2 journals, UUID %s)`, s.GFS2.UUID); s.Contents() != want {
			t.Errorf("contents %q", s.Contents())
		}
	})
	t.Run("ocfs2", func(t *testing.T) {
		requireTools(t, "mkfs.ocfs2")
		img := sparseImage(t, 128<<20)
		tool(t, "mkfs.ocfs2", "-q", "-N", "3", "-L", "web", "--cluster-stack=o2cb", "--cluster-name=c1", img)
		s, err := p.Probe(ctx, img)
		if err != nil || s.OCFS2 == nil || s.Signature == nil || s.Signature.Type != "ocfs2" || s.Signature.UUID != s.OCFS2.UUID {
			t.Fatalf("%+v %v", s, err)
		}
		if want := fmt.Sprintf(`OCFS2 file system (label "web", cluster o2cb/c1, 3 slots, UUID %s)`, s.OCFS2.UUID); s.Contents() != want {
			t.Errorf("contents %q", s.Contents())
		}
	})
}

func TestReadPartitionTable(t *testing.T) {
	for name, want := range map[string]PartitionTable{"gpt": {Type: "gpt", Partitions: 2}, "mbr": {Type: "mbr", Partitions: 1}} {
		pt, err := ReadPartitionTable(otherImages[name](t))
		if err != nil || pt == nil || *pt != want {
			t.Errorf("%s: %+v %v", name, pt, err)
		}
	}
	pt, err := ReadPartitionTable(otherImages["ext4"](t))
	if err != nil || pt != nil {
		t.Errorf("ext4: %+v %v", pt, err)
	}
}

// A GPT header with a valid-looking signature that describes a partition
// array of 2^40 bytes: a reader that trusted it would allocate it whole and
// the module die out of memory, with no JSON result. It must count as a
// damaged table.
func TestReadPartitionTableInsaneGPTHeader(t *testing.T) {
	img := sparseImage(t, 4<<20)
	hdr := make([]byte, 92)
	copy(hdr, "EFI PART")
	binary.LittleEndian.PutUint32(hdr[80:], 1<<20) // entries
	binary.LittleEndian.PutUint32(hdr[84:], 1<<20) // bytes per entry
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pt, err := ReadPartitionTable(img)
	if err != nil || pt == nil || pt.Type != "gpt" || !strings.Contains(pt.Insane, "1048576 entries of 1048576 bytes") {
		t.Fatalf("%+v %v", pt, err)
	}
	s := &State{Device: img, PartitionTable: pt}
	if s.Empty() || !strings.Contains(s.Contents(), "GPT partition table that is not sane (its header describes 1048576 entries") {
		t.Errorf("contents %q", s.Contents())
	}
}

func TestFindData(t *testing.T) {
	const size = 32 << 20
	for _, c := range []struct {
		name string
		at   int64 // where a non-zero byte is written; -1: none
		want int64
	}{
		{"blank", -1, -1},
		{"first byte", 0, 0},
		{"end of the head", scanHead - 1, scanHead - 1},
		{"between head and tail: not looked at", scanHead + 4096, -1},
		{"last MiB", size - scanTail + 10, size - scanTail + 10},
		{"last byte", size - 1, size - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := sparseImage(t, size)
			if c.at >= 0 {
				f, err := os.OpenFile(img, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte{0x5a}, c.at); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			dev, err := Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			if got, err := FindData(dev, dev.Size()); err != nil || got != c.want {
				t.Errorf("FindData = %d, %v; want %d", got, err, c.want)
			}
		})
	}
	// Devices smaller than the head are read once, to their end.
	small := sparseImage(t, 100<<10)
	f, _ := os.OpenFile(small, os.O_WRONLY, 0)
	f.WriteAt([]byte{1}, 100<<10-1)
	f.Close()
	dev, err := Open(small)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if got, err := FindData(dev, dev.Size()); err != nil || got != 100<<10-1 {
		t.Errorf("small: %d %v", got, err)
	}
}

// Data that blkid does not recognise is data: a file system behind an erased
// partition table, or one whose signatures were wiped.
func TestProbeUnrecognisedData(t *testing.T) {
	requireTools(t, "blkid", "mkfs.ext4", "wipefs")
	p := Prober{Run: command.Exec{}, Host: DefaultHost}
	for name, make := range map[string]func(img string){
		"ext4 at 1 MiB without a partition table": func(img string) {
			tool(t, "mkfs.ext4", "-q", "-E", "offset=1048576", img, "60M")
		},
		"ext4 with its signatures wiped": func(img string) {
			tool(t, "mkfs.ext4", "-q", img)
			tool(t, "wipefs", "--all", "--quiet", img)
		},
	} {
		t.Run(name, func(t *testing.T) {
			img := sparseImage(t, 64<<20)
			make(img)
			if out, _ := exec.Command("blkid", "-p", img).CombinedOutput(); len(out) > 0 {
				t.Fatalf("test premise: blkid sees %s", out)
			}
			s, err := p.Probe(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if s.Empty() || s.Data == nil || !strings.Contains(s.Contents(), "data that no known signature explains (a non-zero byte at offset ") {
				t.Errorf("%+v: %q", s, s.Contents())
			}
		})
	}
}

const sampleMountInfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
42 27 7:3 / /srv/my\040data rw,relatime - ext4 /dev/loop3 rw
43 27 253:17 / /mnt/shared rw,relatime shared:5 master:1 - gfs2 /dev/mapper/x rw,locktable=c:f
44 27 8:17 / /boot rw - ext4 /dev/sdb1 rw
`

func TestParseMountInfo(t *testing.T) {
	mounts, err := ParseMountInfo(strings.NewReader(sampleMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 5 {
		t.Fatalf("%d mounts", len(mounts))
	}
	if m := mounts[2]; m.MountPoint != "/srv/my data" || m.Major != 7 || m.Minor != 3 || m.FSType != "ext4" || m.Source != "/dev/loop3" {
		t.Errorf("escaped mount point: %+v", m)
	}
	if m := mounts[3]; m.FSType != "gfs2" || m.MountPoint != "/mnt/shared" {
		t.Errorf("optional fields: %+v", m)
	}
	for _, bad := range []string{"1 2 3\n", "1 2 x:y / / rw - ext4 /dev/a rw\n", "1 2 8:1 / / rw ext4 /dev/a rw\n"} {
		if _, err := ParseMountInfo(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// fakeHost builds a sysfs tree and proc files in a temporary directory.
type fakeHost struct {
	Host
	root string
}

func newFakeHost(t *testing.T, mountinfo, swaps string) *fakeHost {
	t.Helper()
	root := t.TempDir()
	h := &fakeHost{root: root, Host: Host{
		MountInfo: filepath.Join(root, "mountinfo"),
		Swaps:     filepath.Join(root, "swaps"),
		SysFS:     filepath.Join(root, "sys"),
	}}
	h.write(t, "mountinfo", mountinfo)
	h.write(t, "swaps", "Filename\tType\tSize\tUsed\tPriority\n"+swaps)
	return h
}

func (h *fakeHost) write(t *testing.T, rel, content string) {
	t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUsageOfImageFile(t *testing.T) {
	img := sparseImage(t, 1<<20)
	other := sparseImage(t, 1<<20)
	h := newFakeHost(t, sampleMountInfo, "")
	h.write(t, "sys/block/loop3/loop/backing_file", img+"\n")
	h.write(t, "sys/block/loop3/dev", "7:3\n")
	h.write(t, "sys/block/loop4/loop/backing_file", other+"\n")
	h.write(t, "sys/block/loop4/dev", "7:4\n")

	u, err := h.UsageOf(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Mounts) != 1 || u.Mounts[0].MountPoint != "/srv/my data" || !u.InUse() {
		t.Errorf("usage: %+v", u)
	}
	if !strings.Contains(u.Describe(), "mounted at /srv/my data (ext4)") || !strings.Contains(u.Describe(), "loop device /dev/loop3") {
		t.Errorf("describe: %s", u.Describe())
	}
	// the other image is attached to a loop device but not mounted
	u, err = h.UsageOf(other)
	if err != nil || len(u.Mounts) != 0 || len(u.Holders) != 1 {
		t.Errorf("other: %+v %v", u, err)
	}
	// a free image
	u, err = h.UsageOf(sparseImage(t, 1<<20))
	if err != nil || u.InUse() {
		t.Errorf("free: %+v %v", u, err)
	}
}

func TestUsageOfSwapFile(t *testing.T) {
	img := sparseImage(t, 1<<20)
	h := newFakeHost(t, "", img+"\tfile\t1020\t0\t-2\n")
	u, err := h.UsageOf(img)
	if err != nil || len(u.Swap) != 1 || !strings.Contains(u.Describe(), "in use as swap") {
		t.Errorf("%+v %v", u, err)
	}
}

func TestUsageOfBlockDevice(t *testing.T) {
	dir := t.TempDir()
	node := filepath.Join(dir, "vdq")
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(8, 16))); err != nil {
		t.Skipf("skipping: cannot create a block device node (needs root): %v", err)
	}
	h := newFakeHost(t, sampleMountInfo, "")
	// partition sdb1 (8:17) of our 8:16 is mounted at /boot; dm-3 holds it
	h.write(t, "sys/dev/block/8:16/sdb1/partition", "1\n")
	h.write(t, "sys/dev/block/8:16/sdb1/dev", "8:17\n")
	h.write(t, "sys/dev/block/8:16/holders/dm-3/dev", "253:3\n")
	u, err := h.UsageOf(node)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Mounts) != 1 || u.Mounts[0].MountPoint != "/boot" || len(u.Holders) != 1 || u.Holders[0] != "/dev/dm-3" {
		t.Errorf("usage: %+v", u)
	}
}

// TestProbeMountedLoopDevice mounts a real ext4 image through a loop device
// when this host allows it: the probe must see the mount from the image
// file and from the loop device.
func TestProbeMountedLoopDevice(t *testing.T) {
	requireTools(t, "losetup", "mount", "umount", "mkfs.ext4", "blkid")
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting needs root")
	}
	img := otherImages["ext4"](t)
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("skipping: no loop device on this host: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", loop, mnt).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })

	p := Prober{Run: command.Exec{}, Host: DefaultHost}
	for _, path := range []string{img, loop} {
		s, err := p.Probe(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Usage.InUse() || len(s.Usage.Mounts) != 1 || s.Usage.Mounts[0].MountPoint != mnt {
			t.Errorf("%s: usage %+v", path, s.Usage)
		}
		if path == loop && !slicesContain(s.Usage.Holders, "exclusive open") {
			t.Errorf("%s: the exclusive open should fail on a mounted device: %+v", path, s.Usage.Holders)
		}
	}
}

func slicesContain(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
