package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// debugfsStats parses `debugfs.ocfs2 -R stats`, whose lines hold one or two
// "Key: value" pairs separated by three spaces.
func debugfsStats(t *testing.T, path string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for _, line := range strings.Split(tool(t, "debugfs.ocfs2", "-R", "stats", path), "\n") {
		for _, part := range regexp.MustCompile(`\s{3,}`).Split(strings.TrimSpace(line), -1) {
			if k, v, ok := strings.Cut(part, ":"); ok {
				fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return fields
}

func TestReadOCFS2MatchesTools(t *testing.T) {
	requireTools(t, "mkfs.ocfs2", "debugfs.ocfs2")
	cases := []struct {
		name  string
		size  int64
		args  []string
		local bool
	}{
		{"o2cb 4 slots", 256 << 20, []string{"-N", "4", "-L", "shared data", "--cluster-stack=o2cb", "--cluster-name=lab1"}, false},
		{"pcmk 4K blocks", 512 << 20, []string{"-N", "2", "-b", "4K", "-C", "8K", "-T", "mail", "--cluster-stack=pcmk", "--cluster-name=pacemaker16chars"}, false},
		{"512-byte blocks", 128 << 20, []string{"-N", "1", "-b", "512", "--cluster-stack=o2cb", "--cluster-name=c"}, false},
		{"2K blocks 32 slots", 256 << 20, []string{"-N", "32", "-b", "2K", "-J", "size=4M", "--cluster-stack=o2cb", "--cluster-name=wide"}, false},
		{"local mount", 128 << 20, []string{"-N", "1", "-M", "local", "-L", "solo"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := sparseImage(t, c.size)
			tool(t, append(append([]string{"mkfs.ocfs2", "-q"}, c.args...), img)...)
			dev, err := Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			sb, err := ReadOCFS2(dev, dev.Size())
			if err != nil {
				t.Fatalf("ReadOCFS2: %v", err)
			}
			want := debugfsStats(t, img)
			if strconv.Itoa(sb.MaxSlots) != want["Max Node Slots"] {
				t.Errorf("slots %d, debugfs.ocfs2 says %s", sb.MaxSlots, want["Max Node Slots"])
			}
			if sb.Label != want["Label"] {
				t.Errorf("label %q, debugfs.ocfs2 says %q", sb.Label, want["Label"])
			}
			if strings.ToUpper(strings.ReplaceAll(sb.UUID, "-", "")) != want["UUID"] {
				t.Errorf("UUID %s, debugfs.ocfs2 says %s", sb.UUID, want["UUID"])
			}
			if bits, _ := strconv.Atoi(want["Block Size Bits"]); sb.BlockSize != 1<<bits {
				t.Errorf("block size %d, debugfs.ocfs2 says %d bits", sb.BlockSize, bits)
			}
			if bits, _ := strconv.Atoi(want["Cluster Size Bits"]); sb.ClusterSize != 1<<bits {
				t.Errorf("cluster size %d, debugfs.ocfs2 says %d bits", sb.ClusterSize, bits)
			}
			if sb.LocalMount != c.local {
				t.Errorf("local mount = %v", sb.LocalMount)
			}
			if !c.local && (sb.ClusterStack != want["Cluster stack"] || sb.ClusterName != want["Cluster name"]) {
				t.Errorf("cluster %s/%s, debugfs.ocfs2 says %s/%s", sb.ClusterStack, sb.ClusterName, want["Cluster stack"], want["Cluster name"])
			}
		})
	}
}

// ocfs2Image builds a minimal image with an OCFS2 superblock for block size bs.
func ocfs2Image(bs int, slots uint16, label, stack, cluster string) []byte {
	le := binary.LittleEndian
	img := make([]byte, 3*bs+4096)
	b := img[2*bs:]
	copy(b, ocfs2Signature)
	le.PutUint64(b[0x50:], 2)
	s := b[ocfs2SuperOffset:]
	le.PutUint32(s[0x20:], ocfs2IncompatInfo)
	bits := 0
	for 1<<bits < bs {
		bits++
	}
	le.PutUint32(s[0x38:], uint32(bits))
	le.PutUint32(s[0x3C:], 12)
	le.PutUint16(s[0x40:], slots)
	copy(s[0x50:], label)
	copy(s[0x90:], []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8})
	copy(s[0xA0:], stack)
	copy(s[0xA8:], cluster)
	return img
}

func TestReadOCFS2Synthetic(t *testing.T) {
	for _, bs := range ocfs2BlockSizes {
		img := ocfs2Image(bs, 8, "vol", "o2cb", "sixteencharsname")
		sb, err := ReadOCFS2(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatalf("bs %d: %v", bs, err)
		}
		want := OCFS2Superblock{BlockSize: bs, ClusterSize: 4096, MaxSlots: 8, Label: "vol",
			UUID: "12345678-9abc-def0-0102-030405060708", ClusterStack: "o2cb", ClusterName: "sixteencharsname"}
		if *sb != want {
			t.Errorf("bs %d: got %+v", bs, *sb)
		}
	}
}

func TestReadOCFS2Classic(t *testing.T) {
	img := ocfs2Image(1024, 2, "", "xxxx", "ignored")
	binary.LittleEndian.PutUint32(img[2048+ocfs2SuperOffset+0x20:], 0) // no cluster info
	sb, err := ReadOCFS2(bytes.NewReader(img), int64(len(img)))
	if err != nil || sb.ClusterStack != "o2cb" || sb.ClusterName != "" || sb.Cluster() != "o2cb" {
		t.Errorf("classic o2cb volume: %+v %v", sb, err)
	}
}

func TestReadOCFS2Invalid(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name   string
		damage func(b []byte)
		want   string
	}{
		{"slots", func(b []byte) { le.PutUint16(b[ocfs2SuperOffset+0x40:], 0) }, "0 node slots"},
		{"block bits", func(b []byte) { le.PutUint32(b[ocfs2SuperOffset+0x38:], 12) }, "block size bits 12"},
		{"cluster bits", func(b []byte) { le.PutUint32(b[ocfs2SuperOffset+0x3C:], 30) }, "cluster size bits 30"},
		{"blkno", func(b []byte) { le.PutUint64(b[0x50:], 9) }, "block 9"},
	}
	for _, c := range cases {
		img := ocfs2Image(2048, 4, "", "o2cb", "x")
		c.damage(img[4096:])
		_, err := ReadOCFS2(bytes.NewReader(img), int64(len(img)))
		var corrupt *CorruptError
		if !errors.As(err, &corrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want CorruptError about %q, got %v", c.name, c.want, err)
		}
	}
	for name, img := range map[string][]byte{"zeros": make([]byte, 64<<10), "short": make([]byte, 100)} {
		if _, err := ReadOCFS2(bytes.NewReader(img), int64(len(img))); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: want ErrNotFound, got %v", name, err)
		}
	}
}
